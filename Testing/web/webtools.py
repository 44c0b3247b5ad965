"""Page helpers of the browser tests (shared by the tests and benchmarks/web_latency.py)."""

from __future__ import annotations

import io
import time

import numpy as np


def pixels(locator) -> np.ndarray:
    """RGB array of what the browser shows of ``locator``."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB")).astype(np.int16)


def view_pictures(page) -> tuple[np.ndarray, np.ndarray]:
    """(slice view, 3D view) pixels of the default 'Axial + 3D' layout: the left and right halves."""
    picture = pixels(page.get_by_test_id("views"))
    half = picture.shape[1] // 2
    return picture[:, 8 : half - 8], picture[:, half + 8 : -8]


def is_not_blank(picture: np.ndarray) -> bool:
    grey = picture.mean(axis=2)
    return float(grey.std()) > 8.0 and float((np.abs(grey - np.median(grey)) > 20).mean()) > 0.02


def pick(page, testid: str, text: str) -> None:
    """Choose ``text`` in the Vuetify select ``testid`` as a user does (open, click the item)."""
    page.get_by_test_id(testid).click()
    page.locator(".v-overlay-container .v-list-item", has_text=text).first.click()
    page.wait_for_timeout(300)


def wait_for_job(page, name: str, timeout_s: float = 240.0) -> str:
    """Wait for the job ``name`` to end; returns the job area's text."""
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = page.get_by_test_id("job").inner_text()
        if name in text and ("done" in text or "cancelled" in text):
            return text
        if page.get_by_test_id("job-error").count():
            raise AssertionError(f"{name} failed: {page.get_by_test_id('job-error').inner_text()}")
        page.wait_for_timeout(250)
    raise TimeoutError(f"{name} did not finish in {timeout_s:.0f} s: {text!r}")


def wait_until_changed(page, before: np.ndarray, locate, timeout_s: float = 20.0, threshold: float = 2.0) -> np.ndarray:
    """Pixels of ``locate()`` once they differ from ``before`` (mean absolute difference)."""
    deadline = time.monotonic() + timeout_s
    after = before
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)
        after = locate()
        if after.shape == before.shape and float(np.abs(after - before).mean()) > threshold:
            return after
    return after


def set_state(page, name: str, value) -> None:
    """Set one shared-state variable as a page script would (what a crafted request can do)."""
    page.evaluate("([name, value]) => window.trame.state.set(name, value)", [name, value])


def wait_for_views(page, timeout_s: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """(slice, 3D) pixels once both views show something (the first frames have arrived)."""
    deadline = time.monotonic() + timeout_s
    pictures = view_pictures(page)
    while time.monotonic() < deadline:
        if all(is_not_blank(picture) for picture in pictures):
            return pictures
        page.wait_for_timeout(100)
        pictures = view_pictures(page)
    return pictures


def slice_view(page) -> np.ndarray:
    return view_pictures(page)[0]


def open_panel(page, key: str) -> None:
    page.get_by_test_id(f"tab-{key}").click()
    page.get_by_test_id(f"panel-{key}").wait_for()
    page.wait_for_timeout(500)


def table_rows(page, testid: str) -> list[list[str]]:
    rows = page.get_by_test_id(testid).locator("tbody tr")
    return [row.locator("td").all_inner_texts() for row in rows.all()]


def run_panel(page, key: str, choices: dict[str, str], button: str, job: str, timeout_s: float = 240.0) -> None:
    """Open panel ``key``, pick each ``{select testid: item}``, press ``button``, wait for ``job``."""
    open_panel(page, key)
    for testid, item in choices.items():
        pick(page, testid, item)
    page.get_by_test_id(button).click()
    wait_for_job(page, job, timeout_s=timeout_s)
