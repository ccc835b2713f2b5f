"""Opening the Optuna storage of a study record, by SQLAlchemy URL, without leaking its password.

SQLite (the default, ``RESULTS/study.db``) is opened with a long busy timeout, in write-ahead-log
mode with ``synchronous=NORMAL``: readers never block the writer and a commit costs no fsync (a
killed process loses nothing committed). The file must be on a local disk (WAL needs shared
memory). PostgreSQL (``postgresql://``, psycopg 3: ``pip install 'reid-automl[postgres]'``) is what
several machines share; a connection attempt is bounded so a wrong host fails in seconds.

A URL may carry a password. It is never printed nor written to a file: messages show
``mask(url)`` (SQLAlchemy's ``hide_password`` rendering), files keep ``without_password(url)``,
and the password comes back from ``AUTOML_STORAGE`` (the same URL with its password) or from the
driver's own sources (``PGPASSWORD``, ``~/.pgpass``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import optuna
from optuna.storages import RDBStorage
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from studies.errors import RecordError
from studies.trial_record import FORMAT_KEY, META_KEY, StudyInfo, is_prior

SQLITE_TIMEOUT_S = 60
CONNECT_TIMEOUT_S = 10
STORAGE_ENV = "AUTOML_STORAGE"
# per-trial heartbeats are how workers tell a dead worker's trials (studies.record); Optuna marks them experimental
warnings.filterwarnings("ignore", message=".*heartbeat_interval.*", category=optuna.exceptions.ExperimentalWarning)


def _url(url: str) -> URL:
    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        raise RecordError(f"--storage {_masked_text(url)}: cannot open the study record (not a SQLAlchemy URL, "
                          "e.g. sqlite:///study.db or postgresql://user@host/db)") from None


def _masked_text(url: str) -> str:
    """A URL that does not even parse, with anything between ``:`` and ``@`` hidden."""
    head, at, tail = url.rpartition("@")
    if not at or "://" not in head:
        return url
    scheme, _, credentials = head.partition("://")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{tail}" if ":" in credentials else url


SECRET_QUERY_KEYS = ("password", "passwd", "sslpassword")  # a password may come as ?password=... too


def _secret_keys(parsed: URL) -> list[str]:
    return [k for k in parsed.query if k.lower() in SECRET_QUERY_KEYS]


def _secrets(url: str) -> list[str]:
    """The passwords a URL holds, in its credentials or its query."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return []
    values = [parsed.password]
    for key in _secret_keys(parsed):  # a query value is a string, or a tuple when the key repeats
        given = parsed.query[key]
        values += [given] if isinstance(given, str) else list(given)
    return [str(v) for v in values if v]


def mask(url: str) -> str:
    """The URL as it may be shown: its passwords replaced by ``***``."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return _masked_text(url)
    hidden = _secret_keys(parsed)
    if hidden:
        parsed = parsed.update_query_dict({k: "***" for k in hidden})
    return parsed.render_as_string(hide_password=True).replace("%2A%2A%2A", "***")


def without_password(url: str) -> str:
    """The URL as it may be written to a file."""
    parsed = _url(url)
    hidden = _secret_keys(parsed)
    if parsed.password is None and not hidden:
        return url
    bare = URL.create(parsed.drivername, parsed.username, None, parsed.host, parsed.port, parsed.database,
                      parsed.query).difference_update_query(hidden)
    return bare.render_as_string(hide_password=False)


def with_password(url: str) -> str:
    """A password-less URL (from a file) with the password of ``AUTOML_STORAGE`` when that names the
    same database; else unchanged (the driver may find the password itself)."""
    given = os.environ.get(STORAGE_ENV)
    if not given or not url or url.startswith("sqlite"):
        return url
    try:
        same = without_password(given) == without_password(url)
    except RecordError:
        return url
    return given if same else url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other URLs and in-memory databases)."""
    if not is_sqlite(url):
        return None
    database = _url(url).database
    return Path(database) if database and database != ":memory:" else None


def _pragmas(connection, record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def open_storage(url: str, create: bool = False, heartbeat_s: int | None = None, grace_s: int | None = None,
                 stale_callback=None) -> RDBStorage:
    """The Optuna storage at ``url``. Without ``create``, a SQLite file that does not exist is an
    error (reading never creates a database). ``heartbeat_s``/``grace_s``/``stale_callback``: Optuna's
    per-trial heartbeats (see ``studies.record``)."""
    parsed = _url(url)
    kwargs: dict = {}
    path = sqlite_path(url)
    if is_sqlite(url):
        if path is not None:
            if not create and not path.is_file():
                raise RecordError(f"--storage {mask(url)}: no such database file ({path})")
            path.parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    elif parsed.get_backend_name() == "postgresql":
        kwargs = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
    try:
        storage = RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=heartbeat_s, grace_period=grace_s,
                             heartbeat_stale_trial_callback=stale_callback)
    except Exception as err:  # SQLAlchemy and driver errors of every kind: a URL we cannot open
        raise RecordError(f"--storage {mask(url)}: cannot open the study record ({_cause(err, url)})") from None
    if path is not None:
        event.listen(storage.engine, "connect", _pragmas)
        storage.engine.dispose()  # connections opened before the listener get reopened with it
    return storage


def _cause(err: Exception, url: str) -> str:
    """The first line of a driver error, without the URL's password."""
    text = str(err).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    if isinstance(err, ModuleNotFoundError) or "No module named" in first:
        name = getattr(err, "name", None) or first.rsplit(" ", 1)[-1].strip("'\"")
        first = f"its driver {name} is not installed; for PostgreSQL: pip install 'reid-automl[postgres]'"
    for secret in _secrets(url):
        first = first.replace(secret, "***")
    return first[:200]


def study_names(storage: RDBStorage) -> list[str]:
    return [s.study_name for s in storage.get_all_studies()]


def load_optuna_study(storage: RDBStorage, url: str, name: str, **kwargs) -> optuna.Study:
    """``optuna.load_study`` that names the studies there when ``name`` is not one of them."""
    names = study_names(storage)
    if name not in names:
        listed = ", ".join(names) if names else "none"
        raise RecordError(f"--study {name}: no such study in {mask(url)} (studies there: {listed})")
    return optuna.load_study(study_name=name, storage=storage, **kwargs)


def list_studies(url: str) -> list[StudyInfo]:
    """The studies in a storage (SQLAlchemy URL), in creation order."""
    storage = open_storage(url)
    found = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=True):
        best = summary.best_trial.values[0] if summary.best_trial is not None and summary.best_trial.values else None
        maximize = summary.directions[0] == optuna.study.StudyDirection.MAXIMIZE
        count = summary.n_trials
        if ((summary.user_attrs.get(META_KEY) or {}).get("warm_start") or {}).get("observations"):
            study_id = storage.get_study_id_from_name(summary.study_name)
            own = [t for t in storage.get_all_trials(study_id, deepcopy=False) if not is_prior(t)]
            values = [t.values[0] for t in own if t.state == optuna.trial.TrialState.COMPLETE and t.values]
            count, best = len(own), ((max if maximize else min)(values) if values else None)
        found.append(StudyInfo(summary.study_name, count, "maximize" if maximize else "minimize", best,
                               summary.datetime_start, "automl" if FORMAT_KEY in summary.user_attrs or
                               "options" in summary.user_attrs else "optuna"))
    return found
