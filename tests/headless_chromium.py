"""Open a page in real headless Chromium and report what a user would see: console errors, the
page's own checks (a JavaScript expression) and a PNG screenshot.

Talks the DevTools protocol over ``--remote-debugging-pipe`` (JSON messages ended by NUL on file
descriptors 3 and 4), so it needs nothing beyond the standard library and the browser.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking")
NAMES = ("chromium", "chromium-browser")


def find_chromium() -> str | None:
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def install_chromium() -> str | None:
    """Debian's ``chromium`` through apt when it is missing and we may install (root)."""
    if find_chromium() or os.geteuid() != 0 or not shutil.which("apt-get"):
        return find_chromium()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        if subprocess.run(command, env=env, capture_output=True, timeout=900).returncode != 0:
            return None
    return find_chromium()


@dataclass
class Visit:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checks: Any = None
    screenshot: bytes = b""


class BrowserError(RuntimeError):
    pass


class Chromium:
    def __init__(self, binary: str, width: int = 1400, height: int = 1000) -> None:
        self.width, self.height = width, height
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        to_child, self._write = os.pipe()
        self._read, from_child = os.pipe()

        def plumb() -> None:  # the browser reads commands on fd 3 and answers on fd 4
            low, high = os.dup(to_child), os.dup(from_child)  # above 4, so the first dup2 clobbers neither
            os.dup2(low, 3)
            os.dup2(high, 4)

        self.process = subprocess.Popen(
            [binary, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
             "--no-first-run", "--no-default-browser-check", f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=plumb, close_fds=False)  # Python's own descriptors are not inheritable; 3 and 4 are
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._id = 0
        self.events: list[dict] = []
        self._targets: dict[str, str] = {}  # session -> target

    # --- protocol ------------------------------------------------------------------------------------

    def _next(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError("timed out waiting for the browser")
            ready, _, _ = select.select([self._read], [], [], remaining)
            if ready:
                chunk = os.read(self._read, 1 << 20)
                if not chunk:
                    raise BrowserError(f"the browser closed its pipe (exit {self.process.poll()})")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._next(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method:
                    self.events.remove(event)
                    return event
            self.events.append(self._next(deadline))

    # --- one page --------------------------------------------------------------------------------------

    def visit(self, url: str, ready: str, checks: str, timeout: float = 60, full_page: bool = False,
              max_height: int = 8000) -> Visit:
        """Load ``url``, wait until the expression ``ready`` is true, evaluate ``checks`` (JSON text),
        take a screenshot (of the whole page with ``full_page``) and close the page."""
        page = self.open(url, ready, timeout, max_height if full_page else self.height)
        return self.leave(page, checks, full_page, max_height, timeout)

    def open(self, url: str, ready: str, timeout: float = 60, height: int | None = None) -> str:
        """Load ``url`` in a new page and wait until ``ready`` is true; returns the page's session."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self._targets[session] = target
        for method in ("Page.enable", "Runtime.enable", "Log.enable"):
            self.call(method, session=session)
        self._viewport(height or self.height, session)  # laid out once, at the size it is shot
        self.call("Page.navigate", {"url": url}, session)
        self.wait_for("Page.loadEventFired", timeout)
        self.wait_until(session, ready, timeout)
        return session

    def wait_until(self, session: str, expression: str, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.evaluate(session, expression):
                    return True
            except BrowserError:  # the page is being replaced (a reload)
                pass
            time.sleep(0.1)
        return False

    def leave(self, session: str, checks: str, full_page: bool = False, max_height: int = 8000,
              timeout: float = 60) -> Visit:
        """Evaluate ``checks``, take the screenshot, collect console errors and close the page."""
        visit = Visit(checks=json.loads(self.evaluate(session, checks) or "null"))
        shot: dict[str, Any] = {"format": "png"}
        if full_page:
            height = self.evaluate(session, "Math.ceil(document.body.getBoundingClientRect().bottom) + 16")
            shot["clip"] = {"x": 0, "y": 0, "width": self.width, "height": min(height, max_height), "scale": 1}
        visit.screenshot = base64.b64decode(self.call("Page.captureScreenshot", shot, session, timeout)["data"])
        for event in self.events:
            method, data = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = data["exceptionDetails"]
                visit.errors.append((details.get("exception") or {}).get("description") or details.get("text", ""))
            elif method == "Runtime.consoleAPICalled" and data.get("type") in ("error", "assert", "warning"):
                text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in data.get("args", []))
                (visit.warnings if data["type"] == "warning" else visit.errors).append(text)
            elif method == "Log.entryAdded" and data["entry"]["level"] in ("error", "warning"):
                entry = data["entry"]
                (visit.errors if entry["level"] == "error" else visit.warnings).append(
                    f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}")
        self.events.clear()
        self.call("Target.closeTarget", {"targetId": self._targets.pop(session)})
        return visit

    def _viewport(self, height: int, session: str) -> None:
        self.call("Emulation.setDeviceMetricsOverride", {"width": self.width, "height": height,
                                                         "deviceScaleFactor": 1, "mobile": False}, session)

    def evaluate(self, session: str, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:60]}...: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (BrowserError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._write)
        os.close(self._read)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
