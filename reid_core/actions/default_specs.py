"""``re_identification default_specs results_dir=DIR``: the default spec of every action."""

from __future__ import annotations

from pathlib import Path

from reid_core.config import ACTIONS, ExperimentConfig, dump_spec, spec_to_dict


def default_spec(action: str) -> dict:
    """The defaults an ``action`` reads, as plain containers (mandatory values shown as ``???``)."""
    return spec_to_dict(ExperimentConfig(), action)


def run_default_specs(results_dir: str) -> list[Path]:
    folder = Path(results_dir).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for action in ACTIONS:
        path = folder / f"spec_template_{action}.yaml"
        dump_spec(default_spec(action), path)
        written.append(path)
    print("Wrote " + ", ".join(str(p) for p in written))
    return written
