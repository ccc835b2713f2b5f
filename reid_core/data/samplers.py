"""Samplers for ReID training. Each yields ``(dataset_index, augmentation_seed)`` pairs.

``PKSampler`` lays out an epoch as batches of P identities x K images (P = batch_size / K):
every identity's images are shuffled and cut into groups of K (identities with fewer than K
images are topped up by sampling with replacement), then batches draw P distinct identities
that still have groups left, until fewer than P remain. The DataLoader batches the stream
with ``batch_size`` so each batch is exactly one P x K block. Under DDP each rank takes
every world_size-th block, so an identity's K images stay together on one rank.

Every epoch has the same number of batches (epoch 0's); everything is a function of
(seed, epoch), so a resumed run replays the same batches.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch.distributed as dist
from torch.utils.data import Sampler

from reid_core.errors import SpecError


def _rank_and_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is not None and world_size is not None:
        return rank, world_size
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _EpochSampler(Sampler):
    """Shared plumbing: epoch-seeded plans of whole batches, split across ranks."""

    def __init__(self, batch_size: int, seed: int, rank: int | None, world_size: int | None) -> None:
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        self._rank, self._world = rank, world_size
        self._plan: tuple[int, np.ndarray] | None = None
        self._count: int | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self, rng: np.random.Generator) -> list[np.ndarray]:
        raise NotImplementedError

    def _batch_count(self) -> int:
        """Batches per epoch, the same every epoch: epoch 0's plan decides it. Lightning fixes
        its validation point from the first epoch's length, so an epoch one batch shorter would
        silently skip its validation."""
        if self._count is None:
            self._count = len(self._batches(np.random.default_rng([self.seed, 0])))
        return self._count

    def _epoch_plan(self) -> np.ndarray:
        """(num_batches_for_this_rank, batch_size) dataset indices, cached per epoch."""
        if self._plan is None or self._plan[0] != self.epoch:
            rng = np.random.default_rng([self.seed, self.epoch])
            batches = self._batches(rng)
            count = self._batch_count()
            while len(batches) < count:  # a short epoch is topped up with batches of a fresh plan
                batches += self._batches(rng)
            batches = batches[:count]
            rank, world = _rank_and_world(self._rank, self._world)
            usable = len(batches) // world * world  # equal batch counts keep DDP ranks in step
            mine = batches[rank:usable:world]
            plan = np.stack(mine) if mine else np.empty((0, self.batch_size), dtype=np.int64)
            self._plan = (self.epoch, plan)
        return self._plan[1]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        plan = self._epoch_plan()
        seeds = np.random.default_rng([self.seed, self.epoch, 1]).integers(0, 2**31 - 1, size=plan.shape)
        for index, seed in zip(plan.reshape(-1).tolist(), seeds.reshape(-1).tolist()):
            yield index, seed

    def __len__(self) -> int:
        return int(self._epoch_plan().size)


class PKSampler(_EpochSampler):
    """P identities x K instances per batch; see the module docstring."""

    def __init__(
        self,
        labels: Sequence[int],
        batch_size: int,
        num_instances: int,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        if num_instances < 1 or batch_size % num_instances:
            raise SpecError(
                f"dataset.batch_size: expected a multiple of dataset.num_instances={num_instances}, got {batch_size}"
            )
        super().__init__(batch_size, seed, rank, world_size)
        self.num_instances = num_instances
        self.num_identities = batch_size // num_instances
        by_label: dict[int, list[int]] = {}
        for index, label in enumerate(labels):
            by_label.setdefault(int(label), []).append(index)
        if len(by_label) < self.num_identities:
            raise SpecError(
                f"dataset.batch_size: {batch_size} needs {self.num_identities} identities per batch "
                f"(dataset.num_instances={num_instances}) but the training set has {len(by_label)}"
            )
        self._groups = [np.asarray(v, dtype=np.int64) for _, v in sorted(by_label.items())]

    def _batches(self, rng: np.random.Generator) -> list[np.ndarray]:
        k = self.num_instances
        chunks: list[list[np.ndarray]] = []
        for indices in self._groups:
            if len(indices) < k:
                indices = rng.choice(indices, size=k, replace=True)
            shuffled = rng.permutation(indices)
            chunks.append([shuffled[i : i + k] for i in range(0, len(shuffled) - k + 1, k)])
        remaining = np.array([len(c) for c in chunks])
        batches = []
        while (remaining > 0).sum() >= self.num_identities:
            available = np.flatnonzero(remaining > 0)
            chosen = rng.choice(available, size=self.num_identities, replace=False)
            batches.append(np.concatenate([chunks[i][len(chunks[i]) - remaining[i]] for i in chosen]))
            remaining[chosen] -= 1
        return batches


class RandomBatchSampler(_EpochSampler):
    """Plain shuffled batches (``dataset.sampler: softmax``), incomplete last batch dropped."""

    def __init__(
        self, num_samples: int, batch_size: int, seed: int = 0, rank: int | None = None, world_size: int | None = None
    ) -> None:
        super().__init__(batch_size, seed, rank, world_size)
        if num_samples < batch_size:
            raise SpecError(f"dataset.batch_size: {batch_size} is larger than the {num_samples} training images")
        self.num_samples = num_samples

    def _batches(self, rng: np.random.Generator) -> list[np.ndarray]:
        order = rng.permutation(self.num_samples)
        count = self.num_samples // self.batch_size
        return list(order[: count * self.batch_size].reshape(count, self.batch_size))
