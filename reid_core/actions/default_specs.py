"""``re_identification default_specs results_dir=DIR``: the default spec of every action.

The files are the ones ``python -m reid_core.skill`` writes to ``references/`` (each action schema's
top-level ``default``).
"""

from __future__ import annotations

from pathlib import Path

from reid_core.skill import SKILL
from schemas.generator import generate


def run_default_specs(results_dir: str) -> list[Path]:
    folder = Path(results_dir).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for relative, text in generate(SKILL).items():
        if relative.startswith("references/spec_template_"):
            path = folder / Path(relative).name
            path.write_text(text)
            written.append(path)
    print("Wrote " + ", ".join(str(p) for p in written))
    return written
