"""Checkpoint files: names, safe loading, and what a checkpoint of ours must hold.

A checkpoint is the dict Lightning writes (state_dict, optimizer and scheduler states, loop
progress) plus our keys: ``reid_format``, ``reid_spec`` (the resolved spec as plain
containers), ``reid_num_classes``, ``reid_metrics`` and ``reid_rng``. Every value is a tensor
or a plain Python value, so it loads with ``torch.load(path, weights_only=True)``; nothing is
ever loaded with pickle, so a checkpoint carrying code is refused before the code can run.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reid_core.errors import CheckpointError

if TYPE_CHECKING:
    import torch

FORMAT = "reid-automl/1"
LATEST_NAME = "reid_model_latest.pth"
CHECKPOINT_PATTERN = re.compile(r"^model_epoch_(\d{3,})_step_(\d{5,})\.pth$")
MODEL_PREFIX = "model."


def checkpoint_name(epoch: int, step: int) -> str:
    return f"model_epoch_{epoch:03d}_step_{step:05d}.pth"


def parse_checkpoint_name(name: str) -> tuple[int, int] | None:
    """``(epoch, step)`` of a ``model_epoch_XXX_step_XXXXX.pth`` name, else None."""
    match = CHECKPOINT_PATTERN.match(name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def read_weights(path: str | Path, key: str) -> dict[str, Any]:
    """A file of tensors and plain values, loaded with ``weights_only=True``; CheckpointError otherwise."""
    import torch  # here, not at the top: readers of checkpoint names (automl's record) need no torch

    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{key}: checkpoint not found: {path}")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"{key}: refused {path}: it holds pickled Python objects that weights_only loading does not run ({first[:160]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, UnicodeDecodeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{key}: {path} is not a readable PyTorch checkpoint ({first[:160]})") from None
    if not isinstance(loaded, dict):
        raise CheckpointError(f"{key}: {path} holds a {type(loaded).__name__}, not a state dict")
    return loaded


def read_checkpoint(path: str | Path, key: str) -> dict[str, Any]:
    """A checkpoint written by our trainer (refuses foreign or damaged files with one line)."""
    checkpoint = read_weights(path, key)
    if checkpoint.get("reid_format") != FORMAT or not isinstance(checkpoint.get("state_dict"), dict):
        raise CheckpointError(f"{key}: {path} is not a re_identification checkpoint of this trainer")
    for needed in ("reid_spec", "reid_num_classes"):
        if needed not in checkpoint:
            raise CheckpointError(f"{key}: {path} lacks '{needed}'; the file is damaged")
    return checkpoint


def model_state_dict(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The ReidBaseline parameters inside a checkpoint's Lightning state_dict."""
    state = checkpoint["state_dict"]
    return {k[len(MODEL_PREFIX):]: v for k, v in state.items() if k.startswith(MODEL_PREFIX)}


def update_latest_link(folder: Path, target: Path) -> None:
    """Point ``reid_model_latest.pth`` at ``target`` (a relative symlink, replaced atomically)."""
    link = folder / LATEST_NAME
    staging = folder / f".{LATEST_NAME}.tmp"
    if staging.is_symlink() or staging.exists():
        staging.unlink()
    staging.symlink_to(target.name)
    staging.replace(link)
