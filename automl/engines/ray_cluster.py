"""The Ray cluster a study runs on: an existing one (``--ray-address``) or one started here, and the
per-node trial servers that start trials without paying the imports.

Joining fails fast with one line: nothing listening at the address (a TCP probe, seconds), a
cluster that wants a token this machine lacks (Ray's token authentication), anything else Ray
raises — Ray's own retries are bounded and its C++ log lines kept off the console. When Ray is
started here and ``RAY_AUTH_MODE=token`` asks for token authentication without a token, a fresh
token is made for this cluster (its processes inherit it).
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from automl.errors import AutomlError

PROBE_TIMEOUT_S = 3.0
ATTEMPTS_ENV = "RAY_gcs_server_port_wait_time_s"  # how many times Ray retries the cluster's GCS
ATTEMPTS = "5"
TOKEN_ENV = "RAY_AUTH_TOKEN"
AUTH_MODE_ENV = "RAY_AUTH_MODE"
AUTH_HINT = ("set RAY_AUTH_MODE=token and the cluster's token in RAY_AUTH_TOKEN (or ~/.ray/auth_token) on "
             "this machine")


def _probe(address: str) -> None:
    """Something answers at ``host:port``, within seconds."""
    if address == "auto":
        return
    if "://" in address:
        raise AutomlError(f"--ray-address {address}: give the cluster's GCS address host:port (as printed by "
                          "`ray start --head`), not a Ray Client URL")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise AutomlError(f"--ray-address {address}: expected host:port, e.g. 10.0.0.5:6379")
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as err:
        why = err.strerror or type(err).__name__.replace("Error", "").lower() or "no answer"
        raise AutomlError(f"--ray-address {address}: nothing answers there ({why}); start the cluster with "
                          "`ray start --head` or give the address it printed") from None


@contextmanager
def _quiet_stderr() -> Iterator[Path]:
    """Ray's core logs connection attempts to file descriptor 2; keep them out of the console, in a
    temporary file removed afterwards (the cause is read off the exception)."""
    log = Path(tempfile.mkstemp(prefix="automl-ray-", suffix=".log")[1])
    saved = os.dup(2)
    with log.open("wb") as handle:
        os.dup2(handle.fileno(), 2)
        try:
            yield log
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            log.unlink(missing_ok=True)


def _cause(err: Exception) -> str:
    text = f"{err} {err.__cause__ or ''}"
    if "InvalidAuthToken" in text or "AuthenticationError" in type(err).__name__ or \
            "authentication token" in text.lower():
        if _has_token() and os.environ.get(AUTH_MODE_ENV) != "token":
            return ("the cluster uses Ray's token authentication; this machine has a token but RAY_AUTH_MODE is not "
                    "'token': set RAY_AUTH_MODE=token")
        return f"the cluster uses Ray's token authentication and this machine's token is missing or wrong: {AUTH_HINT}"
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return first[:200]


def _has_token() -> bool:
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    return bool(os.environ.get(TOKEN_ENV)) or Path(path).is_file()


@contextmanager
def ray_session(address: str | None, gpus: tuple[str, ...], cpus: int) -> Iterator[None]:
    """Ray initialised for this study (joined or started), shut down afterwards."""
    import ray  # here: the Optuna engine never pays for Ray's import

    if ray.is_initialized():
        yield
        return
    saved = {name: os.environ.get(name) for name in (ATTEMPTS_ENV, "CUDA_VISIBLE_DEVICES", TOKEN_ENV)}
    os.environ.setdefault(ATTEMPTS_ENV, ATTEMPTS)
    try:
        if address:
            _probe(address)
            try:
                with _quiet_stderr():
                    ray.init(address=address, log_to_driver=False, configure_logging=False)
            except Exception as err:  # Ray raises several kinds for a cluster it cannot join
                raise AutomlError(f"--ray-address {address}: cannot join the Ray cluster ({_cause(err)})") from None
        else:
            if os.environ.get(AUTH_MODE_ENV) == "token" and not _has_token():
                os.environ[TOKEN_ENV] = secrets.token_hex(32)  # this cluster's own token; its processes inherit it
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)  # Ray hands out exactly these ids
            with _quiet_stderr():
                ray.init(num_cpus=max(cpus, 1), num_gpus=len(gpus), include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
        yield
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
