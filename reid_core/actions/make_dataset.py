"""``re_identification make_dataset``: the embedded synthetic dataset plus a spec that trains on it.

``DIR/spec_train.yaml`` is a complete train spec (TAO keys) with the dataset paths filled in,
``results_dir`` set to ``DIR/results``, and a recipe that trains sensibly on a CPU for the
preset: the light backbone at 64x32 for ``tiny`` and ``demo``; ResNet-50 at Market-1501's
256x128 for ``large`` (a GPU recipe).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn, Sequence

from reid_core.config import build_spec, dump_spec
from reid_core.errors import SpecError
from reid_core.synthetic import PRESETS, SyntheticDataset, make_dataset

# per preset: overrides on top of TAO's defaults
RECIPES: dict[str, dict] = {
    "tiny": {
        "model": {"backbone": "resnet_lite", "input_height": 64, "input_width": 32},
        "dataset": {"batch_size": 16, "num_instances": 4, "num_workers": 0, "padding": 3, "val_batch_size": 64},
        "train": {"num_epochs": 2, "optim": {"warmup_iters": 1, "lr_steps": [1]}},
    },
    # 64x32 learns as well as the images' 128x64 in half the time (docs/BENCHMARKS.md);
    # the learning rate, erasing and the rest stay TAO's defaults: the study's job is to beat them
    "demo": {
        "model": {"backbone": "resnet_lite", "input_height": 64, "input_width": 32},
        "dataset": {"batch_size": 32, "num_instances": 4, "num_workers": 0, "padding": 3, "val_batch_size": 128},
        "train": {"num_epochs": 8, "optim": {"warmup_iters": 1, "lr_steps": [6]}},
    },
    "large": {
        "model": {"backbone": "resnet_50", "input_height": 256, "input_width": 128},
        "dataset": {"batch_size": 64, "num_instances": 4, "num_workers": 8},
        "train": {"num_epochs": 120, "optim": {"warmup_iters": 10, "lr_steps": [40, 70]}},
    },
}


def training_spec(dataset: SyntheticDataset) -> dict:
    """The plain train spec for a generated dataset (validated before it is returned)."""
    recipe = RECIPES[dataset.preset]
    model = recipe["model"]
    layer = {
        "results_dir": str((dataset.root / "results").resolve()),
        "wandb": {"enable": False},
        "model": model,
        "dataset": recipe["dataset"] | {
            "train_dataset_dir": str(dataset.train_dir.resolve()),
            "query_dataset_dir": str(dataset.query_dir.resolve()),
            "test_dataset_dir": str(dataset.gallery_dir.resolve()),
            "num_classes": dataset.num_train_ids,
        },
        "train": recipe["train"] | {"checkpoint_interval": 1, "validation_interval": 1},
    }
    return layer


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise SpecError(f"{self.prog}: {message}")


def main(argv: Sequence[str]) -> int:
    parser = _OneLineParser(prog="re_identification make_dataset",
                            description="Write the synthetic Market-1501-layout dataset and a train spec for it.")
    parser.add_argument("--output", required=True, help="folder to create")
    parser.add_argument("--preset", default="demo", help=f"one of {', '.join(PRESETS)} (default demo)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(list(argv))
    dataset = make_dataset(args.output, preset=args.preset, seed=args.seed)
    layer = training_spec(dataset)
    spec = build_spec([layer], "train")
    path = Path(args.output) / "spec_train.yaml"
    dump_spec(spec, path, "train")
    print(f"Wrote the '{dataset.preset}' synthetic dataset (seed {dataset.seed}) to {dataset.root}: "
          f"{dataset.num_train_ids} training identities / {dataset.num_train_images} images, "
          f"{dataset.num_query_images} query, {dataset.num_gallery_images} gallery "
          f"({dataset.num_distractors} distractors, {dataset.num_junk} junk)")
    print(f"Train it with: re_identification train -e {path}")
    return 0
