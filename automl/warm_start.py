"""Warm start: an earlier study seeds a new one (``automl launch --warm-start SOURCE``).

``SOURCE`` is the earlier study's results dir (its ``study.json``) or ``URL#study``. It must have
optimised the same objectives in the same directions: values measured otherwise would mislead the
sampler. Before the new study's first trial:

- **prior observations** (for the samplers that model results: ``algorithms.LEARNING``): each
  COMPLETE earlier trial whose config this search space can produce and asks with exactly the same
  Optuna parameters and distributions is added to the record as an observation
  (``StudyRecord.add_prior``): the sampler fits it; it is not a trial of this study (no folder, no
  budget, never handed off, left out of every table; its Optuna number comes before this study's
  first trial);
- **replayed configs**: the earlier study's best configs that this space can produce (at most
  ``REPLAYED``, fewer when the budget is small) are enqueued to run first, each trial's ``origin``
  naming the trial and study it comes from;
- the earlier trials that could not be used are counted by reason in one line.

A source with other objectives, or with no trial this space can use, is refused in one line.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.distributions import BaseDistribution

from automl.errors import AutomlError
from search_spaces import SearchSpace, SearchSpaceError
from studies.errors import RecordError
from studies.record import StudyRecord
from studies.storage import mask
from studies.trial_record import TrialRecord

REPLAYED = 3  # the earlier study's best configs run first


@dataclass(frozen=True)
class Prior:
    trial: int  # its number in the earlier study
    params: dict[str, Any]
    distributions: dict[str, BaseDistribution]
    values: tuple[float, ...]


@dataclass(frozen=True)
class WarmStart:
    source: str  # as it may be shown: a resolved path, or the URL without its password and the study
    replayed: tuple[tuple[int, dict[str, Any], dict[str, Any]], ...]  # (earlier trial, config, params), best first
    priors: tuple[Prior, ...]
    skipped: dict[str, int]  # why an earlier trial was not used -> how many
    epochs: tuple[int | None, int | None] = (None, None)  # the earlier study's trials' epochs, this one's
    learns: bool = True  # the algorithm's sampler models observations (else none are given to it)

    def line(self) -> str:
        skipped = "; ".join(f"{n} {why}" for why, n in self.skipped.items())
        then, now = self.epochs
        given = (f"{len(self.priors)} earlier trials given to the sampler as observations" if self.learns else
                 "the algorithm's sampler does not learn from results, so no observations are given to it")
        return (f"warm start from {self.source}: {given}, {len(self.replayed)} of its best configs run first"
                + (f"; skipped: {skipped}" if skipped else "")
                + (f" (its trials trained {then} epochs, these train {now})" if then != now else ""))

    def as_meta(self) -> dict[str, Any]:
        """What the study's meta keeps of it (``StudyMeta.warm_start``)."""
        return {"source": self.source, "observations": len(self.priors), "replayed": [n for n, _, _ in self.replayed]}

    def origin(self, trial: int) -> str:
        return f"warm start: trial {trial} of {self.source}"


def open_source(source: str) -> tuple[StudyRecord, str]:
    """The earlier study, read-only, and the name it may be shown by."""
    try:
        if "://" in source:
            url, hash_mark, name = source.rpartition("#")
            if not hash_mark or not url or not name:
                raise AutomlError(f"--warm-start {mask(source)}: expected a results dir or URL#study")
            return StudyRecord.open(url, name), f"{mask(url)}#{name}"
        path = Path(source).resolve()
        if not (path / "study.json").is_file():
            raise AutomlError(f"--warm-start {source}: not the results dir of a study (no study.json there) "
                              "nor URL#study")
        return StudyRecord.of_results_dir(path), str(path)
    except RecordError as err:
        raise AutomlError(f"--warm-start {mask(source)}: {err}") from None


def asked(space: SearchSpace, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, BaseDistribution]]:
    """The Optuna parameters and distributions this space asks when it is given ``params``
    (``space.trial_params`` of a config)."""
    fixed = optuna.trial.FixedTrial(params)
    space.suggest(fixed)
    return fixed.params, fixed.distributions


def _prior(space: SearchSpace, frozen: optuna.trial.FrozenTrial, trial: TrialRecord,
           params: dict[str, Any]) -> Prior | str:
    """The earlier trial (``params``: its config as this space asks it) as an observation for this
    space, or why it cannot be one."""
    params, distributions = asked(space, params)
    if set(trial.params) != set(params):
        return "asked other parameters"
    if any(frozen.distributions[name] != distributions[name] for name in params):
        return "asked with other distributions (ranges, steps, options)"
    return Prior(trial.number, dict(trial.params), {n: frozen.distributions[n] for n in params}, tuple(frozen.values))


def plan(source: str, space: SearchSpace, metrics: tuple[str, ...], directions: tuple[str, ...],
         room: int, base_config: dict[str, Any] | None, max_epochs: int | None = None,
         learns: bool = True) -> WarmStart:
    """What the earlier study gives this one (``room``: how many configs may be replayed; ``learns``:
    the sampler models observations, so the earlier trials are given to it)."""
    earlier, shown = open_source(source)
    if earlier.meta is None:
        raise AutomlError(f"--warm-start {shown}: not a study automl recorded (its trials hold no configs)")
    if tuple(earlier.meta.metrics) != tuple(metrics) or tuple(earlier.meta.directions) != tuple(directions):
        then = ", ".join(f"{m} {d}" for m, d in zip(earlier.meta.metrics, earlier.meta.directions))
        now = ", ".join(f"{m} {d}" for m, d in zip(metrics, directions))
        raise AutomlError(f"--warm-start {shown}: it optimised {then}, this study {now}; its values would mislead "
                          "the sampler")
    frozen = {t.number: t for t in earlier.frozen()}
    trials = earlier.trials(list(frozen.values()))
    skipped: Counter[str] = Counter()
    priors: list[Prior] = []
    fitting: list[tuple[TrialRecord, dict[str, Any]]] = []
    for trial in trials:
        if trial.state != "COMPLETE" or trial.value is None:
            skipped[f"{trial.state.lower()} (no final value)"] += 1
            continue
        try:
            params = space.trial_params(trial.config)  # refuses a config this space cannot produce
            found = _prior(space, frozen[trial.number], trial, params) if learns else None
        except SearchSpaceError:
            skipped["outside this search space"] += 1
            continue
        except (KeyError, ValueError, TypeError):
            skipped["not replayable in this search space"] += 1
            continue
        fitting.append((trial, params))
        if isinstance(found, Prior):
            priors.append(found)
        elif found is not None:
            skipped[found] += 1
    if not fitting:
        reasons = "; ".join(f"{n} {why}" for why, n in skipped.items()) or "it has no trials"
        raise AutomlError(f"--warm-start {shown}: none of its {len(trials)} trials fits this search space ({reasons})")
    sign = -1.0 if directions[0] == "maximize" else 1.0
    replayed: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    seen = [base_config] if base_config is not None else []
    for trial, params in sorted(fitting, key=lambda pair: (sign * pair[0].value, pair[0].number)):
        if len(replayed) >= min(REPLAYED, room):
            break
        if trial.config not in seen:
            seen.append(trial.config)
            replayed.append((trial.number, trial.config, params))
    return WarmStart(shown, tuple(replayed), tuple(priors), dict(skipped), (earlier.meta.max_epochs, max_epochs),
                     learns)


def seed_record(warm: WarmStart, record: StudyRecord, say: Callable[[str], None]) -> None:
    """Add the observations and enqueue the replayed configs (before the base spec's trial)."""
    for prior in warm.priors:
        record.add_prior(prior.params, prior.distributions, prior.values,
                         {"source": warm.source, "trial": prior.trial}, warm.origin(prior.trial))
    for number, config, params in warm.replayed:
        record.enqueue(params, warm.origin(number), config)
    say(warm.line())
