"""Real servers for end-to-end tests and benchmarks: a throwaway PostgreSQL cluster, a multi-node
Ray cluster started with ``ray start``, and the ``optuna-dashboard`` web server.

Each is a context manager that binds to loopback where the server allows it, waits a bounded time
for the server to answer, stops exactly the processes it started (by pid) and removes its files.
Nothing here depends on pytest; a missing prerequisite that cannot be installed raises
``ServerUnavailable`` so that a test may skip on it.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

LOOPBACK = "127.0.0.1"
POSTGRES_OS_USER = "reidpg"  # initdb refuses to run as root


class ServerError(RuntimeError):
    """A server was started but did not come up, or failed while running."""


class ServerUnavailable(ServerError):
    """A server's programs are missing and cannot be installed here (not root, no apt-get)."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def session_pids(session: int) -> list[int]:
    """Processes in the session led by ``session`` (a pid started with ``start_new_session``),
    including those that moved to a process group of their own."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[3]) == session:  # fields after "(comm)": state ppid pgrp session
            found.append(int(entry.name))
    return found


def pids_mentioning(text: str) -> list[int]:
    """Processes whose command line contains ``text`` (a unique temp dir of ours)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command_line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command_line:
            found.append(int(entry.name))
    return found


def kill_pids(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def stop_session(process: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 15.0) -> None:
    """Send ``sig`` to ``process`` (started with a session of its own) and give it ``grace``
    seconds to shut its children down, then SIGKILL whatever is left in its session."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    kill_pids(session_pids(process.pid))
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def install_debian_package(package: str) -> None:
    """``apt-get install`` one package; raises ServerUnavailable where we may not (not root),
    ServerError where apt-get fails."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ServerUnavailable(f"{package} is not installed and cannot be installed here (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise ServerError(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")


# --- PostgreSQL ----------------------------------------------------------------------------------------

def find_postgres_bin() -> Path | None:
    """The directory holding initdb, postgres, psql and pg_isready: Debian's newest
    /usr/lib/postgresql/<version>/bin, else wherever ``initdb`` on PATH really lives."""
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                    key=lambda path: [int(part) for part in re.findall(r"\d+", path)])
    if debian:
        return Path(debian[-1]).parent
    on_path = shutil.which("initdb")
    return Path(os.path.realpath(on_path)).parent if on_path else None


def install_postgres() -> Path:
    """The PostgreSQL binaries directory, installing Debian's ``postgresql`` first when missing."""
    found = find_postgres_bin()
    if found is None:
        install_debian_package("postgresql")
        found = find_postgres_bin()
    if found is None:
        raise ServerUnavailable("postgresql was installed but no initdb was found under /usr/lib/postgresql")
    return found


def postgres_os_user() -> pwd.struct_passwd:
    """The account the server runs as: ourselves, or a system user created for it when we are root."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(POSTGRES_OS_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        POSTGRES_OS_USER], check=True, capture_output=True, timeout=60)
        return pwd.getpwnam(POSTGRES_OS_USER)


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    database: str
    pid: int
    data_dir: Path

    @property
    def url(self) -> str:
        return self.url_with()

    def url_with(self, password: str | None = None, database: str | None = None, user: str | None = None,
                 driver: str = "postgresql") -> str:
        """The SQLAlchemy URL of this server with another password, database, user or driver."""
        user, password = user or self.user, self.password if password is None else password
        return (f"{driver}://{quote(user, safe='')}:{quote(password, safe='')}"
                f"@{self.host}:{self.port}/{quote(database or self.database, safe='')}")


@contextlib.contextmanager
def postgres_server(user: str = "reid", password: str | None = None, database: str = "reid",
                    timeout: float = 30.0) -> Iterator[PostgresServer]:
    """A fresh PostgreSQL cluster on 127.0.0.1 (a free port) with one login role ``user`` owning
    ``database``; TCP logins need the role's password (scram-sha-256)."""
    bin_dir = install_postgres()
    account = postgres_os_user()
    password = password or secrets.token_hex(12)
    root = Path(tempfile.mkdtemp(prefix="reidpg-", dir="/tmp"))  # holds the Unix socket: a short path
    data_dir, log_path = root / "data", root / "server.log"
    as_account: dict[str, Any] = {}
    if os.geteuid() == 0:
        os.chown(root, account.pw_uid, account.pw_gid)
        as_account = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(root)}
    server: subprocess.Popen | None = None
    try:
        initdb = subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres", "--no-locale", "-E", "UTF8",
             "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"],
            cwd=root, env=env, capture_output=True, text=True, timeout=120, **as_account)
        if initdb.returncode != 0:
            raise ServerError(f"initdb failed: {initdb.stderr.strip()[-800:]}")
        port = free_port()
        with open(log_path, "wb") as log:
            server = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(data_dir), "-h", LOOPBACK, "-p", str(port), "-k", str(root),
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
                cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, **as_account)
        deadline = time.monotonic() + timeout
        while subprocess.run([str(bin_dir / "pg_isready"), "-q", "-h", LOOPBACK, "-p", str(port), "-t", "1"],
                             env=env, timeout=10).returncode != 0:
            if server.poll() is not None or time.monotonic() > deadline:
                raise ServerError(f"PostgreSQL did not accept connections on {LOOPBACK}:{port} within "
                                  f"{timeout:.0f} s:\n{log_tail(log_path)}")
            time.sleep(0.2)
        # psql interpolates :"name" (identifier) and :'name' (literal) only in scripts, so the SQL goes on stdin
        setup = subprocess.run(
            [str(bin_dir / "psql"), "-X", "-q", "-h", str(root), "-p", str(port), "-U", "postgres", "-d", "postgres",
             "-v", "ON_ERROR_STOP=1", "-v", f"role={user}", "-v", f"secret={password}", "-v", f"db={database}"],
            input='CREATE ROLE :"role" LOGIN PASSWORD :\'secret\';\nCREATE DATABASE :"db" OWNER :"role";\n',
            cwd=root, env=env, capture_output=True, text=True, timeout=60, **as_account)
        if setup.returncode != 0:
            raise ServerError(f"creating role {user} and database {database} failed: {setup.stderr.strip()}")
        yield PostgresServer(host=LOOPBACK, port=port, user=user, password=password, database=database,
                             pid=server.pid, data_dir=data_dir)
    finally:
        if server is not None:
            stop_session(server, signal.SIGINT)  # SIGINT: fast shutdown, open sessions are cut
        shutil.rmtree(root, ignore_errors=True)


# --- Ray -------------------------------------------------------------------------------------------------

# Run in a subprocess so that the caller never holds a Ray connection of its own.
ALIVE_NODES_SCRIPT = """
import json, sys, time
import ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
want, deadline = int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
while True:
    alive = [node for node in ray.nodes() if node["Alive"]]
    if len(alive) >= want or time.monotonic() > deadline:
        break
    time.sleep(0.3)
print(json.dumps([{"node_id": node["NodeID"], "resources": node["Resources"]} for node in alive]))
"""


@dataclass
class RayNode:
    label: str  # a custom resource of 1 unit that only this node has: ``resources={label: 0.01}`` pins to it
    pid: int  # the ``ray start --block`` process, leader of its own session
    node_id: str = ""


@dataclass
class RayCluster:
    address: str
    nodes: list[RayNode]
    token: str
    home: Path  # an isolated HOME holding .ray/auth_token
    temp_dir: Path
    env: dict[str, str] = field(default_factory=dict)  # what a client process needs on top of its own

    @property
    def pids(self) -> list[int]:
        return [node.pid for node in self.nodes]

    @property
    def node_ids(self) -> list[str]:
        return [node.node_id for node in self.nodes]

    def client_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) plus what it takes to join this cluster."""
        return {**(os.environ if base is None else base), **self.env}


def ray_executable() -> str:
    beside_python = Path(sys.executable).parent / "ray"
    return str(beside_python) if beside_python.exists() else (shutil.which("ray") or "ray")


def alive_ray_nodes(address: str, env: dict[str, str], want: int, timeout: float) -> list[dict]:
    """The alive nodes as ``{"node_id", "resources"}``, waiting up to ``timeout`` for ``want`` of them."""
    try:
        done = subprocess.run([sys.executable, "-c", ALIVE_NODES_SCRIPT, address, str(want), str(timeout)],
                              env=env, capture_output=True, text=True, timeout=timeout + 60)
    except subprocess.TimeoutExpired:
        raise ServerError(f"no answer from the Ray cluster at {address} within {timeout + 60:.0f} s") from None
    if done.returncode != 0:
        raise ServerError(f"asking the Ray cluster at {address} for its nodes failed:\n{done.stderr[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def ray_cluster(num_nodes: int = 2, cpus_per_node: int = 1, object_store_mb: int = 200,
                timeout: float = 90.0) -> Iterator[RayCluster]:
    """``num_nodes`` Ray nodes on this machine, each a ``ray start --block`` process: the head with
    its GCS on a free port, the others joined to it. Node ``i`` has the custom resource ``node_i``
    (1 unit). Ray's servers listen on every interface and advertise the machine's routable IP
    whatever ``--node-ip-address`` says, so token authentication is on, with a fresh token that
    the yielded ``env`` carries (a client needs both RAY_AUTH_MODE=token and the token)."""
    root = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))  # Unix socket paths under it must stay short
    home = root / "home"
    (home / ".ray").mkdir(parents=True)
    token = secrets.token_hex(32)
    (home / ".ray" / "auth_token").write_text(token)
    client = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, "HOME": str(home),
              "RAY_USAGE_STATS_ENABLED": "0"}
    env = {**os.environ, **client}
    port = free_port()
    address = f"{LOOPBACK}:{port}"
    processes: list[subprocess.Popen] = []
    nodes: list[RayNode] = []
    try:
        for index in range(num_nodes):
            label = f"node_{index}"
            command = [ray_executable(), "start", "--block", "--temp-dir", str(root / f"n{index}"),
                       "--num-cpus", str(cpus_per_node), "--num-gpus", "0",
                       "--resources", json.dumps({label: 1}), "--object-store-memory", str(object_store_mb << 20),
                       "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats"]
            command += (["--head", "--port", str(port), "--include-dashboard", "false"] if index == 0
                        else ["--address", address])
            with open(root / f"n{index}.log", "wb") as log:
                processes.append(subprocess.Popen(command, env=env, cwd=root, stdin=subprocess.DEVNULL, stdout=log,
                                                  stderr=subprocess.STDOUT, start_new_session=True))
            nodes.append(RayNode(label=label, pid=processes[-1].pid))
            if index == 0:
                wait_for_port(LOOPBACK, port, processes[0], timeout, root / "n0.log")
        alive = alive_ray_nodes(address, env, num_nodes, timeout)
        for node in nodes:
            node.node_id = next((found["node_id"] for found in alive if node.label in found["resources"]), "")
        missing = [node.label for node in nodes if not node.node_id]
        if missing:
            logs = "\n".join(log_tail(root / f"n{index}.log", 8) for index in range(num_nodes))
            raise ServerError(f"Ray nodes {missing} did not join {address} within {timeout:.0f} s:\n{logs}")
        yield RayCluster(address=address, nodes=nodes, token=token, home=home, temp_dir=root, env=client)
    finally:
        for process in reversed(processes):  # workers first, so none of them reports a lost head
            stop_session(process, signal.SIGTERM)
        kill_pids(pids_mentioning(f"{root}/"))  # anything of ours that left its session
        shutil.rmtree(root, ignore_errors=True)


def wait_for_port(host: str, port: int, process: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        if process.poll() is not None or time.monotonic() > deadline:
            raise ServerError(f"nothing listened on {host}:{port} within {timeout:.0f} s:\n{log_tail(log)}")
        time.sleep(0.2)


# --- optuna-dashboard ----------------------------------------------------------------------------------

@dataclass
class Dashboard:
    base_url: str
    pid: int


def optuna_dashboard_executable() -> str:
    beside_python = Path(sys.executable).parent / "optuna-dashboard"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("optuna-dashboard")
    if not found:
        raise ServerUnavailable("optuna-dashboard is not installed (pip install optuna-dashboard)")
    return found


def get_json(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.load(answer)


@contextlib.contextmanager
def optuna_dashboard(storage_url: str, timeout: float = 30.0) -> Iterator[Dashboard]:
    """The ``optuna-dashboard`` command serving ``storage_url`` on 127.0.0.1 (a free port)."""
    port = free_port()
    base_url = f"http://{LOOPBACK}:{port}"
    log_dir = Path(tempfile.mkdtemp(prefix="optuna-dashboard-"))
    with open(log_dir / "server.log", "wb") as log:
        process = subprocess.Popen(
            [optuna_dashboard_executable(), storage_url, "--host", LOOPBACK, "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                get_json(f"{base_url}/api/studies", timeout=2)
                break
            except (urllib.error.URLError, OSError, ValueError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise ServerError(f"optuna-dashboard did not answer on {base_url} within {timeout:.0f} s:\n"
                                      f"{log_tail(log_dir / 'server.log')}") from None
                time.sleep(0.2)
        yield Dashboard(base_url=base_url, pid=process.pid)
    finally:
        stop_session(process, signal.SIGTERM, grace=10)
        shutil.rmtree(log_dir, ignore_errors=True)


def dashboard_studies(base_url: str) -> dict[str, int]:
    """Study name -> the dashboard's study id, from ``GET /api/studies``."""
    listing = get_json(f"{base_url}/api/studies")
    return {study["study_name"]: study["study_id"] for study in listing["study_summaries"]}


def dashboard_trials(base_url: str, study_name: str) -> list[dict]:
    """Each trial of ``study_name`` as the dashboard shows it: ``{"number", "state", "values",
    "params"}`` where ``params`` maps a name to its displayed value (a string, e.g. ``"0.01"``).
    The dashboard caches a study's trials for 2 s (10 s past 500 trials)."""
    studies = dashboard_studies(base_url)
    if study_name not in studies:
        raise KeyError(f"the dashboard at {base_url} has no study {study_name!r} (it has {sorted(studies)})")
    detail = get_json(f"{base_url}/api/studies/{studies[study_name]}")
    return [{"number": trial["number"], "state": trial["state"], "values": trial.get("values"),
             "params": {param["name"]: param["param_external_value"] for param in trial["params"]}}
            for trial in detail["trials"]]
