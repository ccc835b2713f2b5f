"""Opening the study record (one Optuna storage per study set, by SQLAlchemy URL).

SQLite is opened with a long busy timeout so parallel trial threads and a dashboard reading the
file wait for the lock instead of failing, in write-ahead-log mode with ``synchronous=NORMAL``:
readers never block the writer, and a commit costs no fsync (a killed process loses nothing
committed; only a power cut may lose the last commits, never the file's consistency). That
keeps a suggestion, a dozen small writes, under 0.2 s (docs/BENCHMARKS.md). The file must be on
a local disk (WAL needs shared memory); PostgreSQL/MySQL URLs work as Optuna supports them.
"""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.storages import RDBStorage

from automl.errors import AutomlError
from automl.options import read_marker

SQLITE_TIMEOUT_S = 60


def open_storage(url: str) -> RDBStorage:
    kwargs = {}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    try:
        storage = RDBStorage(url, engine_kwargs=kwargs)
        if url.startswith("sqlite") and ":memory:" not in url:
            _tune_sqlite(storage)
        return storage
    except Exception as err:  # SQLAlchemy/driver errors of every kind: a URL we cannot open
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise AutomlError(f"--storage {url}: cannot open the study record ({first[:200]})") from None


def _pragmas(connection, record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _tune_sqlite(storage: RDBStorage) -> None:
    from sqlalchemy import event

    event.listen(storage.engine, "connect", _pragmas)
    storage.engine.dispose()  # connections opened before the listener get reopened with it


def study_names(storage: RDBStorage) -> list[str]:
    return [s.study_name for s in storage.get_all_studies()]


def load_study(storage_url: str, name: str) -> optuna.Study:
    storage = open_storage(storage_url)
    names = study_names(storage)
    if name not in names:
        listed = ", ".join(names) if names else "none"
        raise AutomlError(f"--study {name}: no such study in {storage_url} (studies there: {listed})")
    return optuna.load_study(study_name=name, storage=storage)


def study_of_results_dir(results_dir: str | Path) -> tuple[str, str]:
    """(storage URL, study name) recorded in a results dir by ``automl launch``."""
    marker = read_marker(results_dir)
    if marker is None:
        raise AutomlError(f"--results-dir {results_dir}: holds no study (no study.json); launch one first")
    return marker["storage"], marker["study"]
