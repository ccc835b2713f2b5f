"""Studies that are read: trials as DataFrames, plotly figures, the dashboard.

    list_studies("sqlite:///results/study.db")              # what a storage holds
    frame = trials_frame("sqlite:///results/study.db", "reid-automl")
    export_trials(frame, csv="trials.csv", parquet="trials.parquet")
    write_dashboard(record_of_results_dir("results"), "results/dashboard.html")

Works for studies made by either automl engine and for plain Optuna studies. See docs/DASHBOARD.md.
Names are imported when first used: a running study's controller imports only ``studies.live``.
"""

from importlib import import_module

_HOMES = {
    "DASHBOARD_NAME": "live", "render_dashboard": "dashboard", "write_dashboard": "dashboard",
    "refresh_dashboard": "live",
    "StudyInfo": "record", "StudyRecord": "record", "list_studies": "record", "open_record": "record",
    "record_of_results_dir": "record", "record_of_study": "record",
    "export_trials": "trials", "frame_of": "trials", "trials_frame": "trials",
}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(f"studies.{_HOMES[name]}"), name)
    raise AttributeError(name)


__all__ = sorted(_HOMES)
