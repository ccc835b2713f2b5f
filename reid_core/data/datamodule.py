"""Datasets, loaders and the LightningDataModule of a training run.

``load_training_data`` resolves the spec's folders/archives, scans them, relabels training
identities (the class count comes from the data), and picks the validation query/gallery:
identities carved out of training when ``dataset.val_split > 0``, else the given query/test
sets as TAO does.
"""

from __future__ import annotations

import os

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler

from reid_core.config import ExperimentConfig
from reid_core.data.market1501 import ImageRecord
from reid_core.data.samplers import PKSampler, RandomBatchSampler
from reid_core.data.training_data import TrainingData
from reid_core.data.transforms import ReidTransform, decode_image


class ReidImageDataset(Dataset):
    """Items are ``(image, label, pid, camid, index)``; an index may carry its augmentation seed."""

    def __init__(self, records: list[ImageRecord], transform: ReidTransform) -> None:
        self.records = records
        self.transform = transform

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, item: int | tuple[int, int]):
        index, seed = item if isinstance(item, tuple) else (item, 0)
        record = self.records[index]
        image = self.transform(decode_image(record.path), seed)
        return image, record.label, record.pid, record.camid, index


class ShardSampler(Sampler):
    """Evaluation indices split across DDP ranks (rank r takes r, r+W, ...), padded to equal length."""

    def __init__(self, num_samples: int) -> None:
        self.num_samples = num_samples

    def _indices(self) -> list[int]:
        rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_available() and dist.is_initialized() else (0, 1)
        mine = list(range(rank, self.num_samples, world))
        per_rank = -(-self.num_samples // world)
        return mine + mine[-1:] * (per_rank - len(mine))

    def __iter__(self):
        return iter(self._indices())

    def __len__(self) -> int:
        return len(self._indices())


def usable_workers(requested: int) -> int:
    """Never more loader processes than CPUs this process may use."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(requested, available)


def eval_transform(spec: ExperimentConfig) -> ReidTransform:
    return ReidTransform(spec.model.input_height, spec.model.input_width,
                         tuple(spec.dataset.pixel_mean), tuple(spec.dataset.pixel_std))


def train_transform(spec: ExperimentConfig) -> ReidTransform:
    data = spec.dataset
    return ReidTransform(spec.model.input_height, spec.model.input_width, tuple(data.pixel_mean),
                         tuple(data.pixel_std), train=True, flip_prob=data.prob, padding=data.padding,
                         erase_prob=data.re_prob)


def evaluation_loader(spec: ExperimentConfig, records: list[ImageRecord], batch_size: int,
                      sharded: bool = False) -> DataLoader:
    workers = usable_workers(spec.dataset.num_workers)
    dataset = ReidImageDataset(records, eval_transform(spec))
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                      sampler=ShardSampler(len(records)) if sharded else None,
                      pin_memory=torch.cuda.is_available())


class ReidDataModule(pl.LightningDataModule):
    def __init__(self, spec: ExperimentConfig, data: TrainingData) -> None:
        super().__init__()
        self.spec = spec
        self.data = data
        self.sampler = self._make_sampler()

    def _make_sampler(self) -> Sampler:
        data, seed = self.spec.dataset, max(self.spec.train.seed, 0)
        if data.sampler == "softmax":
            return RandomBatchSampler(len(self.data.train), data.batch_size, seed)
        return PKSampler([r.label for r in self.data.train], data.batch_size, data.num_instances, seed)

    def train_dataloader(self) -> DataLoader:
        workers = usable_workers(self.spec.dataset.num_workers)
        dataset = ReidImageDataset(self.data.train, train_transform(self.spec))
        return DataLoader(dataset, batch_size=self.spec.dataset.batch_size, sampler=self.sampler,
                          drop_last=True, num_workers=workers, persistent_workers=workers > 0,
                          pin_memory=torch.cuda.is_available())

    def val_dataloader(self) -> DataLoader:
        records = self.data.query + self.data.gallery
        return evaluation_loader(self.spec, records, self.spec.dataset.val_batch_size, sharded=True)
