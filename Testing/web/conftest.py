"""Fixtures of the browser tests: the real server (``python -m epilepsy_suite serve``) on
127.0.0.1, a --data folder of synthetic files, and Debian's chromium driven by Playwright.

Without a browser the tests skip with one line saying so (``.ci/run`` installs chromium).
Set ``EPILEPSY_SUITE_SCREENSHOTS=DIR`` to keep the panels' screenshots (the README's pictures).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
VIEWPORT = {"width": 1400, "height": 850}


def chromium_path() -> str | None:
    configured = os.environ.get("EPILEPSY_SUITE_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout_s: float = 180.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer in {timeout_s:.0f} s")


class Server:
    def __init__(self, data: Path, database: Path | None, log: Path, extra: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        command = [sys.executable, "-m", "epilepsy_suite", "serve", "--data", str(data), "--port", str(self.port),
                   "--device", "cpu", *extra]  # fmt: skip
        if database is not None:
            command += ["--semiology-database", str(database)]
        self.log = log
        self._log_file = open(log, "wb")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        started = time.monotonic()
        self.process = subprocess.Popen(command, cwd=REPOSITORY, stdout=self._log_file, stderr=subprocess.STDOUT,
                                        env=env)  # fmt: skip
        try:
            wait_for_http(self.url, self.process)
        except Exception:
            self.stop()
            raise RuntimeError(f"server did not start:\n{log.read_text(errors='replace')[-3000:]}") from None
        self.start_s = time.monotonic() - started

    def processes(self) -> list[tuple[int, str, int]]:
        """(pid, command line, resident kB) of the server and of each process it started."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = dict(line.split(":", 1) for line in (entry / "status").read_text().splitlines() if ":" in line)
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if int(entry.name) == self.process.pid or int(fields["PPid"]) == self.process.pid:
                found.append((int(entry.name), command, int(fields.get("VmRSS", "0 kB").split()[0])))
        return found

    def children(self) -> list[str]:
        """Command lines of the server's job processes (multiprocessing children, tracker excluded)."""
        return [
            command
            for pid, command, _ in self.processes()
            if pid != self.process.pid and "spawn_main" in command and "resource_tracker" not in command
        ]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log_file.close()


@pytest.fixture(scope="session")
def browser_executable() -> str:
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.skip("browser tests: Playwright is not installed (pip install playwright)")
    path = chromium_path()
    if path is None:
        pytest.skip("browser tests: no chromium found (apt-get install chromium, or set EPILEPSY_SUITE_CHROMIUM)")
    return path


@pytest.fixture(scope="session")
def web_data(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    sys.path.insert(0, str(Path(__file__).parent))
    from sample_data import write_sample_data

    folder = tmp_path_factory.mktemp("web-data")
    return folder, write_sample_data(folder)


@pytest.fixture(scope="session")
def server(browser_executable, web_data, semio2brain_folder, tmp_path_factory):
    folder, _ = web_data
    running = Server(folder, semio2brain_folder, tmp_path_factory.mktemp("server") / "server.log")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser(browser_executable):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=browser_executable, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport=VIEWPORT)
    opened = context.new_page()
    opened.goto(server.url)
    opened.get_by_test_id("tab-sem").wait_for(timeout=60_000)
    yield opened
    context.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    configured = os.environ.get("EPILEPSY_SUITE_SCREENSHOTS")
    folder = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
