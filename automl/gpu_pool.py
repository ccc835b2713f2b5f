"""``GpuPool``: which devices a trial may use; no two running trials ever share a GPU.

With GPUs, each trial leases ``per_trial`` ids and runs with ``CUDA_VISIBLE_DEVICES`` set to
them. Without (``--gpus none``), trials run on the CPU and the cores this process may use are
divided between the parallel trials (their thread counts).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from automl.errors import AutomlError


def available_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def visible_gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # no torch or a broken driver: no usable GPU
        return 0


@dataclass(frozen=True)
class Lease:
    devices: tuple[str, ...]  # GPU ids; empty on the CPU
    threads: int

    @property
    def env(self) -> dict[str, str]:
        """Environment of the trial process."""
        env = {"OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
        env["CUDA_VISIBLE_DEVICES"] = ",".join(self.devices)  # empty: no GPU at all
        return env


class GpuPool:
    def __init__(self, gpus: tuple[str, ...], per_trial: int, parallel: int) -> None:
        if per_trial < 1:
            raise AutomlError(f"--gpus-per-trial {per_trial}: must be at least 1")
        if parallel < 1:
            raise AutomlError(f"--parallel {parallel}: must be at least 1")
        self.gpus, self.per_trial, self.parallel = tuple(gpus), per_trial, parallel
        if self.gpus:
            if len(set(self.gpus)) != len(self.gpus):
                raise AutomlError(f"--gpus {','.join(self.gpus)}: an id is listed twice")
            slots = len(self.gpus) // per_trial
            if parallel > slots:
                raise AutomlError(f"--parallel {parallel}: only {slots} trial(s) fit on {len(self.gpus)} GPU(s) with "
                                  f"--gpus-per-trial {per_trial}")
        elif parallel > available_cpus():
            raise AutomlError(f"--parallel {parallel}: only {available_cpus()} CPU core(s) here for trials without GPUs")
        self._free = list(self.gpus)
        self._lock = threading.Condition()
        self.threads = max(1, available_cpus() // parallel)

    def acquire(self) -> Lease:
        """Block until a trial's devices are free; the CPU path never blocks (slots are counted by
        the engine's ``parallel``)."""
        if not self.gpus:
            return Lease((), self.threads)
        with self._lock:
            while len(self._free) < self.per_trial:
                self._lock.wait()
            lease, self._free = self._free[: self.per_trial], self._free[self.per_trial:]
            return Lease(tuple(lease), self.threads)

    def release(self, lease: Lease) -> None:
        if lease.devices:
            with self._lock:
                self._free.extend(lease.devices)
                self._lock.notify_all()


def resolve_gpus(requested: str | None) -> tuple[str, ...]:
    """``--gpus``: ``None`` auto-detects, ``none`` is the CPU, ``0,1`` lists ids (checked against the
    machine when it has GPUs; on a machine without any, the ids only keep trials apart)."""
    visible = visible_gpu_count()
    if requested is None:
        return tuple(str(i) for i in range(visible))
    if requested.strip().lower() in ("none", "cpu", ""):
        return ()
    ids = tuple(part.strip() for part in requested.split(",") if part.strip())
    if not all(i.isdigit() for i in ids):
        raise AutomlError(f"--gpus {requested}: expected comma-separated GPU ids (e.g. 0,1) or 'none'")
    missing = [i for i in ids if visible and int(i) >= visible]
    if missing:
        raise AutomlError(f"--gpus {requested}: GPU {missing[0]} does not exist ({visible} visible: 0..{visible - 1})")
    return ids
