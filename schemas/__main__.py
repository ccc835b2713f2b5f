"""``python -m schemas [--check] [--root DIR]``: regenerate this model's schemas and references.

Without ``--check`` it writes every file that differs and names it. With ``--check`` it writes
nothing, names every stale or missing file and exits 1 (0 when all are current). Metadata that
contradicts itself is refused with one line naming the field (exit 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from schemas.generator import stale_files, write
from schemas.reader import SchemaError

DEFAULT_ROOT = Path(__file__).resolve().parent.parent  # the project root is the skill dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that differ; exit 1 if any")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="skill dir (default: the project root)")
    args = parser.parse_args(argv)
    from reid_core.skill import SKILL

    try:
        if args.check:
            stale = stale_files(SKILL, args.root)
            for relative in stale:
                print(f"stale: {relative}")
            return 1 if stale else 0
        for relative in write(SKILL, args.root):
            print(f"wrote {relative}")
    except SchemaError as err:
        print(f"python -m schemas: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
