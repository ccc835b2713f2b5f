"""``automl dashboard --serve``: the dashboard over HTTP, read-only, and nothing else.

GET and HEAD of ``/`` or ``/<name>`` answer the page; every other path is 404 and every other
method 405. The page is rendered again only when the study changed (``fingerprint``), and its
ETag is that fingerprint: the page polls it with HEAD and reloads itself when it changes.
"""

from __future__ import annotations

import errno
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit

from studies.dashboard import fingerprint, render_dashboard
from studies.errors import RecordError
from studies.live import DASHBOARD_NAME
from studies.record import StudyRecord

log = logging.getLogger(__name__)


class DashboardPages:
    """The current page of a study, rendered again only when the study changed."""

    def __init__(self, record: Callable[[], StudyRecord]) -> None:
        self.record = record
        self._lock = threading.Lock()
        self._stamp, self._page = "", b""

    def current(self) -> tuple[str, bytes]:
        with self._lock:
            record = self.record()
            frozen = record.frozen()
            stamp = fingerprint(record, record.trials(frozen))
            if stamp != self._stamp:
                self._page = render_dashboard(record, live=True, frozen=frozen).encode()
                self._stamp = stamp
            return self._stamp, self._page


class _Handler(BaseHTTPRequestHandler):
    server: "DashboardServer"
    server_version = "reid-automl-dashboard"

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def _refuse(self) -> None:
        self._plain(405, "read-only: GET or HEAD only\n", {"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_TRACE = do_CONNECT = _refuse

    def _plain(self, code: int, text: str, headers: dict[str, str] | None = None, with_body: bool = True) -> None:
        body = text.encode()
        self.send_response(code)
        for name, value in {"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(body)),
                            **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def _answer(self, with_body: bool) -> None:
        if urlsplit(self.path).path not in ("/", f"/{self.server.name}"):
            self._plain(404, f"not found: this server serves the dashboard only, at / and /{self.server.name}\n",
                        with_body=with_body)
            return
        try:
            stamp, page = self.server.pages.current()
        except Exception as err:  # the storage went away, ...: say so, keep serving
            log.warning("dashboard not rendered: %s: %s", type(err).__name__, str(err).splitlines()[0] if str(err) else "")
            self._plain(500, f"the dashboard could not be rendered: {type(err).__name__}\n", with_body=with_body)
            return
        self.send_response(200)
        for name, value in (("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page))),
                            ("ETag", f'"{stamp}"'), ("Cache-Control", "no-store"),
                            ("X-Content-Type-Options", "nosniff")):
            self.send_header(name, value)
        self.end_headers()
        if with_body:
            self.wfile.write(page)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        log.debug("%s " + format, self.address_string(), *args)


class DashboardServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, pages: DashboardPages, host: str = "127.0.0.1", port: int = 8050,
                 name: str = DASHBOARD_NAME) -> None:
        self.pages, self.name = pages, name
        try:
            super().__init__((host, port), _Handler)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise RecordError(f"--port {port}: already in use on {host}; choose another --port") from None
            raise RecordError(f"--host {host}: cannot listen on port {port} ({err.strerror or err})") from None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


def serve_dashboard(record: Callable[[], StudyRecord], host: str = "127.0.0.1", port: int = 8050,
                    name: str = DASHBOARD_NAME, say: Callable[[str], None] = print) -> None:
    """Serve until interrupted (Ctrl-C)."""
    with DashboardServer(DashboardPages(record), host, port, name) as server:
        say(f"serving the dashboard at {server.url} (read-only; Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            say("stopped")
