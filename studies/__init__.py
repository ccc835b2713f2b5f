"""Studies that are read and recorded: the study record, trials as DataFrames, plotly figures, the dashboard.

    record = StudyRecord.of_results_dir("results")          # or StudyRecord.open(url, name)
    for trial in record.trials(): ...                          # TrialRecord: config, epochs, checkpoints, ...
    list_studies("sqlite:///results/study.db")              # what a storage holds
    frame = trials_frame("sqlite:///results/study.db", "reid-automl")
    export_trials(frame, csv="trials.csv", parquet="trials.parquet")
    write_dashboard(StudyRecord.of_results_dir("results"), "results/dashboard.html")

Works for studies made by either automl engine and for plain Optuna studies. See docs/DASHBOARD.md
and, for the record's contract, ``studies.record``. Names are imported when first used: a running
study's controller imports only the record and ``studies.live``.
"""

from importlib import import_module

_HOMES = {
    "DASHBOARD_NAME": "live", "render_dashboard": "dashboard", "write_dashboard": "dashboard",
    "refresh_dashboard": "live", "RecordError": "errors",
    "StudyRecord": "record", "list_studies": "storage", "RECORD_FORMAT": "trial_record",
    "StudyInfo": "trial_record", "StudyMeta": "trial_record", "TrialEnd": "trial_record", "TrialRecord": "trial_record",
    "TrialStart": "trial_record", "best_epoch": "trial_record",
    "export_trials": "trials", "frame_of": "trials", "trials_frame": "trials",
}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(f"studies.{_HOMES[name]}"), name)
    raise AttributeError(name)


__all__ = sorted(_HOMES)
