"""Send requests to an app built with given settings, in a process of its own (an app made in the
test process would rebind the session's shared extensions), and print what they answered.

    python tests/service/rate_limit_probe.py SETTINGS_JSON PLAN_JSON

SETTINGS_JSON: create_app's test_config. PLAN_JSON: {"migrate": bool, "orgs": [names to create],
"keys": {name: an existing key}, "requests": [[name or null, path, times], ...]}. Prints one JSON
object: {"keys": {name: key}, "answers": [[name, path, status, Retry-After, error or null], ...]}.
"""

from __future__ import annotations

import json
import sys


def main(settings: dict, plan: dict) -> dict:
    from hcl_server import create_app

    app = create_app({"TESTING": True, **settings})
    if plan.get("migrate"):
        from flask_migrate import upgrade

        with app.app_context():
            upgrade()
    keys = dict(plan.get("keys") or {})
    runner = app.test_cli_runner()
    for name in plan.get("orgs") or []:
        output = runner.invoke(args=["orgs", "create", name]).output
        keys[name] = json.loads(output.strip().splitlines()[-1])["api_key"]
    client = app.test_client()
    answers = []
    for name, path, times in plan["requests"]:
        headers = {"X-API-Key": keys.get(name, name)} if name else {}
        for _ in range(times):
            r = client.get(path, headers=headers)
            error = (r.get_json(silent=True) or {}).get("error")
            answers.append([name, path, r.status_code, r.headers.get("Retry-After"), error])
    return {"keys": keys, "answers": answers}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]), json.loads(sys.argv[2]))))
