#!/usr/bin/env python3
"""How quickly the web app answers, seen from a real browser (Debian chromium, Playwright).

Starts ``python -m epilepsy_suite serve`` on 127.0.0.1 with a synthetic --data folder, opens the
page and measures, as the median of ``--repeats`` tries:

- server start: command to the first HTTP answer (the session's scene and meshes included);
- page open to first frame: navigation to both views showing a picture;
- semiology query to updated views: a term's button click to the first new 3D frame;
- slice scroll to frame: one mouse-wheel notch over the slice view to its next frame;
- 3D rotate to frame: a mouse drag in the 3D view to its next frame;
- server memory: resident set of the server process (and its job processes) after all that.

A frame is counted when the view's picture (an ``<img>`` trame-rca replaces per frame) changes
its source: a MutationObserver stamps each change with the page's clock. The peer is the same
app with trame-slicer's rendering defaults (8x multisampling, full-resolution meshes), measured
in the same run; ``--no-peer`` skips it.

    python benchmarks/web_latency.py [--repeats 5] [--no-peer]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPOSITORY / "Testing" / "web"), str(REPOSITORY / "Testing")]

from conftest import Server, chromium_path  # noqa: E402
from sample_data import write_sample_data  # noqa: E402
from webtools import wait_for_views  # noqa: E402

GOALS = {"first_frame_s": 5.0, "slice_s": 0.5, "query_s": 2.0, "rotate_s": 2.0, "memory_gb": 1.5}
WATCH_FRAMES = """() => {
  window.frameTimes = [[], []];
  const images = Array.from(document.querySelectorAll('[data-testid=views] img'));
  images.forEach((image, index) => new MutationObserver(() => window.frameTimes[index].push(performance.now()))
    .observe(image, {attributes: true, attributeFilter: ['src']}));
  return images.length;
}"""


def next_frame(page, view: int, since: float, timeout_s: float = 60.0) -> float:
    """Seconds from ``since`` (page clock, ms) to the first frame of ``view`` after it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stamps = page.evaluate(f"window.frameTimes[{view}].filter(t => t > {since})")
        if stamps:
            return (min(stamps) - since) / 1000.0
        page.wait_for_timeout(20)
    raise TimeoutError(f"view {view}: no new frame in {timeout_s:.0f} s")


def settle(page, quiet_ms: int = 600) -> None:
    last = -1
    while True:
        page.wait_for_timeout(quiet_ms)
        count = page.evaluate("window.frameTimes[0].length + window.frameTimes[1].length")
        if count == last:
            return
        last = count


def memory_gb(server: Server) -> float:
    return sum(resident_kb for _, _, resident_kb in server.processes()) / 1024 / 1024


def measure(browser, data: Path, database: Path | None, repeats: int, extra: tuple[str, ...], log: Path) -> dict:
    server = Server(data, database, log, extra)
    figures: dict[str, float] = {"start_s": server.start_s}
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 850})
        page = context.new_page()
        started = time.monotonic()
        page.goto(server.url)
        page.get_by_test_id("tab-sem").wait_for(timeout=60_000)
        wait_for_views(page)
        figures["first_frame_s"] = time.monotonic() - started
        if page.evaluate(WATCH_FRAMES) != 2:
            raise RuntimeError("expected a slice view and a 3D view")
        settle(page)
        box = page.get_by_test_id("views").bounding_box()
        slice_centre = (box["x"] + box["width"] / 4, box["y"] + box["height"] / 2)
        three_d_centre = (box["x"] + 3 * box["width"] / 4, box["y"] + box["height"] / 2)
        query, scroll, rotate = [], [], []
        terms = ["term-Head Version-right", "term-Head Version-left"]
        for attempt in range(repeats):
            settle(page)
            since = page.evaluate("performance.now()")
            page.get_by_test_id(terms[attempt % 2]).click()
            query.append(next_frame(page, 1, since))
            settle(page)
            page.mouse.move(*slice_centre)
            since = page.evaluate("performance.now()")
            page.mouse.wheel(0, 120 if attempt % 2 else -120)
            scroll.append(next_frame(page, 0, since))
            settle(page)
            page.mouse.move(*three_d_centre)
            page.mouse.down()
            since = page.evaluate("performance.now()")
            page.mouse.move(three_d_centre[0] + 60, three_d_centre[1], steps=4)
            page.mouse.up()
            rotate.append(next_frame(page, 1, since))
        settle(page)
        figures.update(
            query_s=statistics.median(query),
            slice_s=statistics.median(scroll),
            rotate_s=statistics.median(rotate),
            memory_gb=memory_gb(server),
        )
        context.close()
    finally:
        server.stop()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-peer", action="store_true", help="skip trame-slicer's default rendering settings")
    parser.add_argument("--semiology-database", type=Path,
                        default=REPOSITORY.parent / "shared" / "data" / "semio2brain")  # fmt: skip
    arguments = parser.parse_args()
    executable = chromium_path()
    if executable is None:
        print("no chromium found (apt-get install chromium, or set EPILEPSY_SUITE_CHROMIUM)")
        return 1
    from playwright.sync_api import sync_playwright

    database = arguments.semiology_database if arguments.semiology_database.is_dir() else None
    runs = {"suite": ()}
    if not arguments.no_peer:
        runs["trame-slicer defaults"] = ("--anti-aliasing", "8", "--mesh-decimation", "0")
    results = {}
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        data = Path(folder) / "data"
        write_sample_data(data)
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        for name, extra in runs.items():
            results[name] = measure(
                browser, data, database, arguments.repeats, extra, Path(folder) / f"{len(results)}.log"
            )
        browser.close()
    rows = [
        ("server start", "start_s", "s", None),
        ("page open to first frame", "first_frame_s", "s", GOALS["first_frame_s"]),
        ("semiology query to updated 3D view", "query_s", "s", GOALS["query_s"]),
        ("slice scroll to frame", "slice_s", "s", GOALS["slice_s"]),
        ("3D rotate to frame", "rotate_s", "s", GOALS["rotate_s"]),
        ("server memory (RSS)", "memory_gb", "GB", GOALS["memory_gb"]),
    ]
    peer = results.get("trame-slicer defaults")
    print(f"{'measure':38s} {'suite':>9s} {'goal':>7s} {'peer':>9s} {'peer/suite':>10s}")
    for label, key, unit, goal in rows:
        value = results["suite"][key]
        goal_text = f"<= {goal:g}" if goal is not None else ""
        peer_text = f"{peer[key]:.2f} {unit}" if peer else ""
        ratio = f"{peer[key] / value:.2f}x" if peer and value > 0 else ""
        print(f"{label:38s} {value:7.2f} {unit:>2s} {goal_text:>7s} {peer_text:>9s} {ratio:>10s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
