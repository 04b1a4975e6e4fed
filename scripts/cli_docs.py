"""Rewrite the `--help` blocks of docs/cli.md from the parser: python scripts/cli_docs.py [--check]

Each `## <command>` section's first code block is that command's `--help` at 80 columns; the
prose around the blocks is kept. With --check, exit 1 when the page is out of date (a unit test
runs this check).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "cli.md"


@functools.cache
def _commands() -> dict:
    os.environ["COLUMNS"] = "80"  # argparse wraps to the terminal width
    sys.path.insert(0, str(ROOT))
    from ml_pipeline.cli import build_parser

    parser = build_parser()
    return next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices


def help_text(command: str) -> str:
    return _commands()[command].format_help().rstrip("\n")


def render(page: str) -> str:
    out, command, in_block = [], None, False
    for line in page.splitlines():
        if line.startswith("## "):
            command = line[3:].strip()
        if line == "```" and command and not in_block:  # the section's first block opens
            out += [line, help_text(command)]
            in_block = True
            continue
        if in_block:
            if line == "```":
                out.append(line)
                in_block, command = False, None
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def main() -> int:
    page = PAGE.read_text()
    new = render(page)
    if "--check" in sys.argv:
        if new != page:
            print(f"{PAGE} is out of date: run python scripts/cli_docs.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
