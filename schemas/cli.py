"""The generation command of a skill: regenerate its schemas and references, or check them.

A model binds its own config tree to it (this project: ``python -m reid_core.skill [--check]``).
Without ``--check`` it writes every file that differs and names it. With ``--check`` it writes
nothing, names every stale or missing file and exits 1 (0 when all are current). Metadata that
contradicts itself is refused with one line naming the field (exit 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from schemas.generator import Skill, stale_files, write
from schemas.reader import SchemaError


def main(skill: Skill, default_root: Path, argv: list[str] | None = None, prog: str = "python -m schemas") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Regenerate a skill's schemas and references.")
    parser.add_argument("--check", action="store_true", help="only report files that differ; exit 1 if any")
    parser.add_argument("--root", type=Path, default=default_root, help=f"skill dir (default: {default_root})")
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = stale_files(skill, args.root)
            for relative in stale:
                print(f"stale: {relative}")
            return 1 if stale else 0
        for relative in write(skill, args.root):
            print(f"wrote {relative}")
    except SchemaError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    return 0
