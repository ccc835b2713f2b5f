"""A search space the data can run: before the first trial, the study narrows what its training set
cannot fill, and holds at their base values the parameters the spec leaves no room to search.

- P x K batches (``dataset.batch_size`` = P x ``dataset.num_instances``) need P identities with at
  least K images each (P >= 2, the triplet loss needs two identities). An option K that too few
  identities reach for the smallest batch is left out; the batch is searched up to what every
  remaining K can fill (K x the identities with K images, the smallest over the K left). Plain
  batches (``dataset.sampler: softmax``) need as many training images as the batch.
- A searched parameter whose range holds no value given the spec (LR milestones below a one-epoch
  ``train.num_epochs``) is held at the spec's own value and the rest is searched.

Each narrowing is one line saying what and why; a space the data cannot run at all is one line and
exit 2 before any trial. The result is kept in the study's options (``hyperparameters``,
``narrowed``), so resumes and other workers compile the same space without scanning again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from automl.errors import AutomlError
from reid_core.training_set import TrainingSet
from schemas import spec as specs
from search_spaces import ChoiceParam, IntParam, NoRoomError, SearchSpace

BATCH, INSTANCES = "dataset.batch_size", "dataset.num_instances"
MIN_IDENTITIES = 2  # per batch: a triplet needs a negative


@dataclass
class Fit:
    ranges: dict[str, dict[str, Any]] = field(default_factory=dict)  # compile_schema's custom_param_ranges
    notes: list[str] = field(default_factory=list)


def _smallest_batch(low: int, k: int) -> int:
    return max(math.ceil(low / k), MIN_IDENTITIES) * k


def fit_to_data(space: SearchSpace, base_spec: dict[str, Any], data: TrainingSet) -> Fit:
    """The ranges of ``space`` the training set can fill, and why they were narrowed."""
    fit = Fit()
    params = {p.key: p for p in space.params}
    batch, instances = params.get(BATCH), params.get(INSTANCES)
    fixed_batch = specs.get(base_spec, BATCH)
    if not data.pk_batches:
        images = sum(data.identity_images)
        if isinstance(batch, IntParam) and batch.high > images:
            if batch.low > images:
                raise AutomlError(f"{BATCH}: the training set has {images} images, fewer than the smallest batch "
                                  f"{batch.low}")
            fit.ranges[BATCH] = {"valid_max": images}
            fit.notes.append(f"{BATCH}: searched up to {images}, the training set's images")
        return fit
    options = list(instances.options) if isinstance(instances, ChoiceParam) else [specs.get(base_spec, INSTANCES)]
    low = batch.low if isinstance(batch, IntParam) else fixed_batch
    high = batch.high if isinstance(batch, IntParam) else fixed_batch
    reach = {k: data.identities_with(k) for k in options}
    kept = [k for k in options if reach[k] * k >= _smallest_batch(low, k)]
    while True:  # the batch's cap may leave a K no multiple of itself: drop it and cap again
        cap = min([high] + [reach[k] * k for k in kept])
        usable = [k for k in kept if _smallest_batch(low, k) <= cap // k * k]
        if usable == kept:
            break
        kept = usable
    counts = f"{len(data.identity_images)} training identities after the validation split, " \
             f"{max(data.identity_images, default=0)} images for the most"
    if not kept:
        raise AutomlError(f"{BATCH}: the training set cannot fill a batch of P identities x K images for any "
                          f"{INSTANCES} in {options} with a batch of at least {low} ({counts})")
    dropped = [k for k in options if k not in kept]
    if dropped and isinstance(instances, ChoiceParam):
        fit.ranges[INSTANCES] = {"valid_options": kept}
        fit.notes.append(f"{INSTANCES}: {', '.join(map(str, dropped))} left out: too few identities have that many "
                         f"images ({', '.join(f'{reach[k]} with {k}+' for k in dropped)}; {counts})")
    if isinstance(batch, IntParam) and cap < high:
        fit.ranges[BATCH] = {"valid_max": cap}
        fit.notes.append(f"{BATCH}: searched up to {cap}, what P x K batches with K in {kept} can fill "
                         f"(identities with K+ images: {', '.join(f'{reach[k]} for {k}' for k in kept)})")
    return fit


def hold_unsearchable(compile_space: Callable[[tuple[str, ...]], SearchSpace], searched: tuple[str, ...],
                      say: Callable[[str], None]) -> tuple[SearchSpace, tuple[str, ...]]:
    """The space of ``searched`` keys, less those the spec leaves no room for (each said in one line)."""
    keys = tuple(searched)
    while True:
        try:
            return compile_space(keys), keys
        except NoRoomError as err:
            if err.key not in keys or len(keys) == 1:
                raise
            keys = tuple(k for k in keys if k != err.key)
            say(f"{err.key}: held at the spec's value, no room to search it ({err})")
