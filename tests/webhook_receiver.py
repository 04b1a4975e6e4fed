"""A webhook receiver for tests: an HTTP server on a loopback port, in the test's process, that
verifies each event's signature the way the README tells integrators to."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def verify(secret: str, header: str, body: bytes, tolerance_s: int = 300) -> bool:
    """The README's verification: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">, t within tolerance."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST and answers the statuses in ``answers``
    in turn (200 after them); ``hold`` makes the first request wait until it is set."""

    def __init__(self, secret: str, answers=(), hold: threading.Event | None = None):
        self.secret, self.answers, self.hold = secret, list(answers), hold
        self.received: list[dict] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.arrived:
                    n = len(receiver.received)
                    receiver.received.append(
                        {
                            "at": time.monotonic(),
                            "headers": self.headers,
                            "body": body,
                            "event": json.loads(body),
                            "valid": verify(receiver.secret, self.headers.get("X-HCL-Signature", ""), body),
                        }
                    )
                    receiver.arrived.notify_all()
                if n == 0 and receiver.hold is not None:
                    receiver.hold.wait(10)
                status = receiver.answers[n] if n < len(receiver.answers) else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/hcl"

    def wait_for(self, count: int, timeout: float = 60.0, job_id: str | None = None) -> list[dict]:
        """The first ``count`` requests (of ``job_id``'s events, if given), waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout

        def mine() -> list[dict]:
            return [r for r in self.received if job_id is None or r["event"]["data"]["id"] == job_id]

        with self.arrived:
            while len(mine()) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(mine())} of {count} webhook requests after {timeout} s")
                self.arrived.wait(left)
            return mine()[:count]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
