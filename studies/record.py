"""The study record: the one home of what a study and each of its trials hold.

A study record is an Optuna study in an Optuna storage (``studies.storage``), whatever engine ran
it, plus the results dir of the machine reading it (``<results>/study.json`` names the storage and
study; ``<results>/trials/<number>/`` are the trials' folders). Nothing else reads or writes the
study's user attributes: engines write through ``StudyRecord``; the resolver, handoff, CLI, trial
tables and dashboard read ``StudyMeta`` and ``TrialRecord``.

What is written when
--------------------
- At creation, once: the study attributes ``record_format`` (``RECORD_FORMAT``) and ``meta``
  (``StudyMeta``: objectives, budget, base spec, search space, the launch options); never changed.
- A warm start's observations (``add_prior``, before the first trial): COMPLETE trials with a
  ``prior`` attribute (the earlier study and trial) for the sampler; ``trials`` and ``frozen`` leave
  them out, so they are never counted, tabled or handed off.
- When a trial is created: ``enqueue`` (a replayed config, a re-run) writes ``origin``, ``config``
  and ``rerun_of``/``resume_from``; a trial a sampler created gets them at ``start``.
- When a trial starts on a worker: ``start`` (``TrialStart``: folder, host, worker, engine,
  devices, threads) and ``show`` (each searched value under its own key, for Optuna's tools);
  once its process runs: ``pid``/``start_ticks``; each validated epoch:
  ``epoch`` (the metric as an Optuna intermediate value; the checkpoints found so far);
  PBT's exploits: ``lineage``.
- When it ends: ``finish`` (``TrialEnd``: best epoch, checkpoints, CMC curve, the best epoch's
  model's KPIs, failure cause, earlier attempts, timings) and then the state and value(s) (a
  multi-objective study's: ``objective_values``). **A finished trial is frozen**:
  Optuna refuses writes to it, so everything a trial holds is written before its state.
  After the fact only study-level keys change (``studies.study_marks``: checkpoints deleted,
  stopped, budget spent).

Paths (``folder``, ``checkpoints``, ``resume_from``) are relative to the results dir, with the
``host`` that wrote them: a results dir that is moved or mounted elsewhere still resolves, and a
file on another machine's disk is named with its host.

Concurrent writers (workers on several machines, one PostgreSQL storage): a trial's attributes are
written only by the worker running it; a WAITING trial is popped by exactly one worker (Optuna's
``ask``); a trial whose worker stopped sending heartbeats is failed by exactly one other worker
(Optuna's ``fail_stale_trials``), which enqueues its re-run (``rerun_of``). Trial numbers are
Optuna's, unique across workers. Study-level keys are each written by one worker only.
"""

from __future__ import annotations

import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

import optuna
from optuna.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
from optuna.storages import BaseStorage, InMemoryStorage

from studies import storage as storages
from studies.errors import RecordError
from studies.results_dir import marker_of, read_summary, write_marker, write_summary
from studies.selection import SelectionNoise, selection_noise
from studies.study_marks import StudyMarks
from studies.trial_record import (FORMAT_KEY, HOST, META_KEY, PRIOR_KEY, RECORD_FORMAT, StudyMeta, TrialEnd,
                                   TrialRecord, TrialStart, best_epoch, best_of, counted, device_hours, is_prior,
                                   meta_of, objective_values)

TrialState = optuna.trial.TrialState
# our workers record heartbeats themselves (``heartbeat``) around ask/tell instead of Study.optimize
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")


class StudyRecord(StudyMarks):
    """A study opened for reading and writing, with the results dir of this machine."""

    def __init__(self, study: optuna.Study, storage: BaseStorage, url: str | None, meta: StudyMeta | None,
                 results_dir: str | Path | None = None) -> None:
        self.study, self.storage, self.url, self.meta = study, storage, url, meta
        self.results_dir = Path(results_dir).resolve() if results_dir is not None else None
        self._study_id = storage.get_study_id_from_name(study.study_name)
        self._trial_ids: dict[int, int] = {}

    # --- opening ---------------------------------------------------------------------------------------

    @classmethod
    def create(cls, url: str | None, name: str, meta: StudyMeta, results_dir: str | Path | None = None,
               sampler: optuna.samplers.BaseSampler | None = None,
               pruner: optuna.pruners.BasePruner | None = None) -> "StudyRecord":
        """A new study (``url`` None: in memory, for tools and tests); exactly one of several launches
        creating the same name at once wins."""
        holder: list[StudyRecord] = []
        storage = InMemoryStorage() if url is None else storages.open_storage(
            url, create=True, heartbeat_s=meta.heartbeat_s, grace_s=meta.grace_s, stale_callback=_stale_rerun(holder))
        try:
            study = optuna.create_study(storage=storage, study_name=name, directions=list(meta.directions),
                                        sampler=sampler, pruner=pruner)
        except DuplicatedStudyError:
            raise RecordError(f"--study {name}: already exists in {storages.mask(url)}; join it with `automl worker`, "
                              "or choose another --study") from None
        study.set_user_attr(META_KEY, meta.to_json())
        study.set_user_attr(FORMAT_KEY, RECORD_FORMAT)
        record = cls(study, storage, url, meta, results_dir)
        holder.append(record)
        if results_dir is not None and url is not None:
            write_marker(results_dir, url, name)
        return record

    @classmethod
    def open(cls, url: str, name: str, results_dir: str | Path | None = None,
             sampler: optuna.samplers.BaseSampler | None = None,
             pruner: optuna.pruners.BasePruner | None = None) -> "StudyRecord":
        """An existing study; an unknown name lists the studies there."""
        storage = storages.open_storage(url)
        study = storages.load_optuna_study(storage, url, name)
        meta = meta_of(study.user_attrs, name)
        if meta is not None and meta.heartbeat_s:
            holder: list[StudyRecord] = []
            storage = storages.open_storage(url, heartbeat_s=meta.heartbeat_s, grace_s=meta.grace_s,
                                            stale_callback=_stale_rerun(holder))
            study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
            record = cls(study, storage, url, meta, results_dir)
            holder.append(record)
            return record
        if sampler is not None or pruner is not None:
            study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
        return cls(study, storage, url, meta, results_dir)

    @classmethod
    def of_results_dir(cls, results_dir: str | Path, **kwargs: Any) -> "StudyRecord":
        """The study ``automl`` recorded in a results dir (its ``study.json``)."""
        url, name = marker_of(results_dir)
        return cls.open(url, name, results_dir, **kwargs)

    # --- what the study is --------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.study.study_name

    @property
    def masked_url(self) -> str:
        return storages.mask(self.url) if self.url else "memory"

    @property
    def made_by_automl(self) -> bool:
        return self.meta is not None

    @property
    def metric(self) -> str:
        """The optimised KPI's name; ``value`` for a plain Optuna study."""
        return self.meta.metric if self.meta else "value"

    @property
    def direction(self) -> str:
        if self.meta:
            return self.meta.direction
        return "maximize" if self.study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else "minimize"

    @property
    def max_epochs(self) -> int | None:
        return self.meta.max_epochs if self.meta else None

    # --- reading trials ---------------------------------------------------------------------------------

    def frozen(self, states: Iterable[TrialState] | None = None,
               priors: bool = False) -> list[optuna.trial.FrozenTrial]:
        """The study's trials as Optuna holds them; a warm start's observations only with ``priors``."""
        trials = self.study.get_trials(deepcopy=False, states=tuple(states) if states is not None else None)
        return trials if priors else [t for t in trials if not is_prior(t)]

    def trials(self, frozen: list[optuna.trial.FrozenTrial] | None = None) -> list[TrialRecord]:
        automl = self.made_by_automl
        return [TrialRecord.of(t, automl) for t in (self.frozen() if frozen is None else frozen)]

    def trial(self, number: int) -> TrialRecord:
        return TrialRecord.of(self.storage.get_trial(self._trial_id(number)), self.made_by_automl)

    def counted(self, trials: list[TrialRecord] | None = None) -> list[TrialRecord]:
        """Finished trials that count towards ``max_trials``."""
        return counted(self.trials() if trials is None else trials)

    def best_trial(self, trials: list[TrialRecord] | None = None) -> TrialRecord | None:
        return best_of(self.trials() if trials is None else trials, self.direction)

    def selection_noise(self, trials: list[TrialRecord] | None = None) -> SelectionNoise | None:
        """How sure the pick of ``best_trial`` is (``studies.selection``)."""
        return selection_noise(self.trials() if trials is None else trials, self.metric, self.direction,
                               self.meta.validation_queries if self.meta else None)

    def best_epoch(self, trial: TrialRecord) -> int | None:
        return trial.best_epoch if trial.best_epoch is not None else best_epoch(trial.epochs, self.direction)

    def device_hours(self, trials: list[TrialRecord] | None = None) -> dict[str, float]:
        return device_hours(self.trials() if trials is None else trials, self.max_epochs)

    def is_finished(self, trials: list[TrialRecord] | None = None) -> bool:
        """Every trial of the budget finished (or the study was stopped)."""
        trials = self.trials() if trials is None else trials
        if self.stopped() is not None or (self.spent() and not any(t.state == "RUNNING" for t in trials)):
            return True
        return self.meta is not None and len(self.counted(trials)) >= self.meta.max_trials

    def is_active(self, trials: list[TrialRecord] | None = None) -> bool:
        """Trials are running and the budget is not spent: a page of it should keep refreshing."""
        trials = self.trials() if trials is None else trials
        return not self.is_finished(trials) and any(t.state == "RUNNING" for t in trials)

    # --- files of trials ---------------------------------------------------------------------------------

    def path(self, relative: str | None, trial: TrialRecord | None = None) -> Path | None:
        """A recorded path on this machine: under this record's results dir (shared by the workers, or
        moved here), else under the results dir of ``trial``'s worker when it ran on this host."""
        if relative is None:
            return None
        bases = [self.results_dir] if self.results_dir is not None else []
        if trial is not None and trial.host == HOST and trial.root:
            bases.append(Path(trial.root))
        found = [base / relative for base in bases if (base / relative).exists()]
        return found[0] if found else (bases[0] / relative if bases else None)

    def locate(self, trial: TrialRecord, relative: str, what: str) -> Path:
        """A recorded file of ``trial`` on this machine, or one line saying where it is."""
        found = self.path(relative, trial)
        if found is not None and found.is_file():
            return found
        if trial.host and trial.host != HOST:
            raise RecordError(f"trial {trial.number}: {what} {relative} was written on host {trial.host} "
                              f"({trial.root or 'its results dir'}) and is not in {self.results_dir}; "
                              "give the workers one shared results dir (docs/AUTOML.md)")
        if trial.number in self.deleted():
            raise RecordError(f"trial {trial.number}: {what} {relative} was deleted by checkpoint retention")
        raise RecordError(f"trial {trial.number}: {what} {found or relative} is missing; was it deleted?")

    def latest_checkpoint(self, trial: TrialRecord) -> str | None:
        """The recorded checkpoint of the trial's last epoch that this machine can read."""
        for epoch in sorted(trial.checkpoints, reverse=True):
            path = self.path(trial.checkpoints[epoch], trial)
            if path is not None and path.is_file():
                return trial.checkpoints[epoch]
        return None

    # --- writing trials --------------------------------------------------------------------------------

    def _trial_id(self, number: int) -> int:
        if number not in self._trial_ids:
            self._trial_ids[number] = self.storage.get_trial_id_from_study_id_trial_number(self._study_id, number)
        return self._trial_ids[number]

    def _set(self, number: int, **values: Any) -> None:
        trial_id = self._trial_id(number)
        for key, value in values.items():
            self.storage.set_trial_user_attr(trial_id, key, value)

    def enqueue(self, params: dict[str, Any], origin: str, config: dict[str, Any], **extra: Any) -> None:
        """A trial that runs ``config`` next (``extra``: ``rerun_of``, ``resume_from``, ...)."""
        attrs = {"origin": origin, "config": config, **{k: v for k, v in extra.items() if v is not None}}
        self.study.enqueue_trial(params, user_attrs=attrs)

    def start(self, number: int, start: TrialStart, config: dict[str, Any] | None = None,
              origin: str | None = None) -> None:
        values = {"folder": start.folder, "host": start.host, "root": str(self.results_dir or ""),
                  "worker": start.worker, "engine": start.engine, "devices": list(start.devices),
                  "threads": start.threads, "ray_node": start.ray_node}
        if config is not None:
            values["config"] = config
        if origin is not None:
            values["origin"] = origin
        self._set(number, **{k: v for k, v in values.items() if v is not None})

    def process(self, number: int, pid: int, start_ticks: int | None) -> None:
        self._set(number, pid=pid, start_ticks=start_ticks)

    def placed(self, number: int, devices: tuple[str, ...], ray_node: str | None = None,
               host: str | None = None) -> None:
        """Where a trial runs, once its engine placed it (Ray picks the node and devices after the start)."""
        extra = {k: v for k, v in (("ray_node", ray_node), ("host", host)) if v}
        self._set(number, devices=list(devices) or ["cpu"], **extra)

    def epoch(self, number: int, epoch: int, value: float, checkpoints: dict[int, str] | None = None,
              trial: optuna.Trial | None = None) -> None:
        """A validated epoch's metric (through ``trial.report`` when the engine holds the trial)."""
        if trial is not None and not (self.meta and self.meta.multi_objective):  # Optuna reports one only
            trial.report(value, epoch)
        else:
            self.storage.set_trial_intermediate_value(self._trial_id(number), epoch, value)
        if checkpoints:
            self._set(number, checkpoints={str(e): p for e, p in sorted(checkpoints.items())})

    def show(self, number: int, shown: dict[str, tuple[Any, optuna.distributions.BaseDistribution]]) -> None:
        """Each searched value under its own key for Optuna's tools, beside the helpers asked; named in
        ``shown`` so that ``TrialRecord.params`` stays what was asked (re-runs replay it)."""
        if not shown:
            return
        self._set(number, shown=sorted(shown))
        trial_id = self._trial_id(number)
        for name, (value, distribution) in shown.items():
            self.storage.set_trial_param(trial_id, name, distribution.to_internal_repr(value), distribution)

    def add_finished(self, trial: TrialRecord,
                     distributions: dict[str, optuna.distributions.BaseDistribution]) -> None:
        """A finished trial made elsewhere (an imported study, a test's fake), whole."""
        frozen = optuna.trial.create_trial(
            state=TrialState[trial.state], value=trial.value if trial.state == "COMPLETE" else None,
            params=trial.params, distributions=distributions, user_attrs=trial.user_attrs(),
            intermediate_values=trial.epochs)
        frozen.datetime_start = trial.datetime_start or frozen.datetime_start
        frozen.datetime_complete = trial.datetime_complete or frozen.datetime_complete
        self.study.add_trial(frozen)

    def add_prior(self, params: dict[str, Any], distributions: dict[str, optuna.distributions.BaseDistribution],
                  values: tuple[float, ...], prior: dict[str, Any], origin: str) -> None:
        """An earlier study's trial as an observation for the sampler (``automl.warm_start``), not a trial."""
        self.study.add_trial(optuna.trial.create_trial(state=TrialState.COMPLETE, values=list(values), params=params,
                                                       distributions=distributions,
                                                       user_attrs={PRIOR_KEY: prior, "origin": origin}))

    def lineage(self, number: int, lineage: list[dict], config: dict[str, Any]) -> None:
        self._set(number, lineage=lineage, config=config)

    def finish(self, number: int, end: TrialEnd) -> bool:
        """Write the outcome, then the state (the trial is frozen afterwards). False when another
        worker failed the trial as stale meanwhile (its re-run is queued; this result is dropped)."""
        try:
            self._set(number, **end.user_attrs())
        except UpdateFinishedTrialError:
            return False
        state = TrialState[end.state]
        values = objective_values(self.meta, end) if state == TrialState.COMPLETE else None
        if state == TrialState.COMPLETE and values is None:
            missing = [m for m in self.meta.metrics[1:] if end.kpis.get(m) is None]
            self._set(number, failure=f"its model reported no {', '.join(missing)}")
            state = TrialState.FAIL
        told = self.study.tell(number, values, state=state, skip_if_finished=True)
        return told.state == state


    def abandon(self, number: int, reason: str) -> bool:
        """Fail a running trial whose worker is known to be gone, as interrupted (its re-run takes its
        place). False when another worker failed it first."""
        try:
            self._set(number, failure=reason, interrupted=True)
            return self.storage.set_trial_state_values(self._trial_id(number), state=TrialState.FAIL)
        except UpdateFinishedTrialError:
            return False

    def discard(self, number: int) -> None:
        """A trial created past the budget by a worker racing others: never run."""
        self._set(number, surplus=True, failure="not run: the budget was already taken by other workers")
        self.study.tell(number, state=TrialState.FAIL)

    def rerun(self, trial: TrialRecord) -> None:
        """Queue the re-run of a stale or interrupted trial, from its last checkpoint this machine reads."""
        origin = trial.origin if trial.origin in ("base spec", "plain training") else f"resume of {trial.number}"
        self.enqueue(trial.params, origin, trial.config, rerun_of=trial.number,
                     resume_from=self.latest_checkpoint(trial))

    # --- liveness ----------------------------------------------------------------------------------------

    @property
    def heartbeats(self) -> bool:
        return bool(self.meta and self.meta.heartbeat_s and self.url)

    def heartbeat(self, numbers: Iterable[int]) -> None:
        """This worker's running trials are alive."""
        if self.heartbeats:
            for number in numbers:
                self.storage.record_heartbeat(self._trial_id(number))

    def fail_stale(self) -> None:
        """Fail the running trials whose heartbeat is older than the grace period (any worker's), and
        those that no worker started (``unclaimed``) as old; each failer queues the re-run."""
        if self.heartbeats:
            optuna.storages.fail_stale_trials(self.study)
            for trial in self.unclaimed(float(self.meta.grace_s or 0)):
                self.fail_unclaimed(trial)

    def unclaimed(self, older_than_s: float) -> list[TrialRecord]:
        """Running trials that no worker ``start``-ed (the worker that created them died in between),
        created more than ``older_than_s`` seconds ago (a live worker starts its trial within moments)."""
        now = datetime.now()  # Optuna stamps datetime_start in local time
        return [t for t in self.trials() if t.state == "RUNNING" and not t.worker and t.datetime_start
                and (now - t.datetime_start).total_seconds() > older_than_s]

    def fail_unclaimed(self, trial: TrialRecord) -> bool:
        """Fail an unclaimed trial as interrupted and queue its re-run (False: another worker did)."""
        abandoned = self.abandon(trial.number, "interrupted: its worker stopped before starting it")
        if abandoned:
            self.rerun(self.trial(trial.number))
        return abandoned

    # --- the handoff's summary ---------------------------------------------------------------------------

    @property
    def summary(self) -> dict[str, Any] | None:
        """``<results>/summary.json`` written by the handoff of this study, when there is one."""
        return read_summary(self.results_dir, self.name) if self.results_dir is not None else None

    def write_summary(self, summary: dict[str, Any]) -> Path:
        assert self.results_dir is not None
        return write_summary(self.results_dir, summary)


def _stale_rerun(holder: list[StudyRecord]) -> Callable[[optuna.Study, optuna.trial.FrozenTrial], None]:
    """Optuna's stale-trial callback: re-run the trial its worker abandoned."""
    return lambda study, trial: holder[0].rerun(TrialRecord.of(trial, lost_if_silent=True)) if holder else None
