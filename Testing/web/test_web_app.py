"""The web app in a real browser (Debian chromium via Playwright) against the real server.

Per panel: the page loads, the main action runs on embedded or synthetic data, the views are
not blank, a table click moves the slice views, cancel stops a running job. Also: the
Semiology panel gives the CLI's answer, files outside --data are refused, uploads work.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from webtools import (
    is_not_blank,
    open_panel,
    pick,
    pixels,
    set_state,
    slice_view,
    table_rows,
    view_pictures,
    wait_for_job,
    wait_for_views,
    wait_until_changed,
)

pytestmark = pytest.mark.browser
REPOSITORY = Path(__file__).resolve().parents[2]

SEMIOLOGY = ("Head Version", "right")


def run_semiology(page) -> None:
    open_panel(page, "sem")
    set_state(page, "sem_selected", {})
    pick(page, "sem-dominant", "left")
    term, side = SEMIOLOGY
    page.get_by_test_id("sem-filter").locator("input").fill("head vers")
    page.get_by_test_id("sem-suggestions").wait_for()
    page.get_by_test_id(f"term-{term}-{side}").click()
    page.get_by_test_id("sem-results-row-0").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)


def cancel_when_running(page, server, button: str, name: str) -> None:
    page.get_by_test_id(button).click()
    page.get_by_test_id("cancel").wait_for(timeout=30_000)
    deadline = time.monotonic() + 60
    while not server.children() and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert server.children(), "no job process appeared"
    page.get_by_test_id("cancel").click()
    text = wait_for_job(page, name, timeout_s=30)
    assert "cancelled" in text
    deadline = time.monotonic() + 10
    while server.children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.children() == [], "the cancelled job's process is still running"
    assert page.get_by_test_id(button).is_enabled()


# ------------------------------------------------------------------------------------ semiology


def test_semiology_page_loads_queries_and_renders(page, server, screenshots) -> None:
    slice_before, three_d_before = wait_for_views(page)
    assert is_not_blank(slice_before) and is_not_blank(three_d_before), "the embedded brain is not on display"
    run_semiology(page)
    status = page.get_by_test_id("sem-status").inner_text()
    assert "structures with data" in status
    slice_after, three_d_after = view_pictures(page)
    assert is_not_blank(slice_after) and is_not_blank(three_d_after)
    assert np.abs(three_d_after - three_d_before).mean() > 2, "the query did not recolour the 3D view"
    bar = page.get_by_test_id("sem-colour-bar")
    assert bar.count() == 1 and pixels(bar).std() > 10
    page.screenshot(path=str(screenshots / "web_semiology.png"))


def test_semiology_gives_the_cli_answer(page, tmp_path, semio2brain_folder) -> None:
    run_semiology(page)
    shown = table_rows(page, "sem-results")
    out = tmp_path / "query.csv"
    term, side = SEMIOLOGY
    subprocess.run(
        [sys.executable, "-m", "epilepsy_suite", "semiology", "query", "--semiology", f"{term}:{side}",
         "--dominant", "left", "--database", str(semio2brain_folder), "--out", str(out), "--quiet"],
        cwd=REPOSITORY, check=True, timeout=300,
    )  # fmt: skip
    with out.open() as handle:
        expected = {row["name"].replace("-", "_").lower(): float(row["score"]) for row in csv.DictReader(handle)}

    def key(name: str) -> str:
        return name.replace("-", "_").replace(" ", "_").lower()

    top_cli = sorted(expected.values(), reverse=True)[:10]
    top_web = [float(row[3]) for row in shown[:10]]
    np.testing.assert_allclose(top_web, top_cli, rtol=5e-4)
    for name, _, _, score in shown[:10]:  # the top structures by name (same atlas names)
        assert key(name) in expected, f"{name} is not in the CLI's answer"
        assert float(score) == pytest.approx(expected[key(name)], rel=5e-4), name
    # Every score on display is one of the CLI's (the parcellation names a few GIF structures otherwise).
    cli_scores = np.array(sorted(expected.values()))
    for name, _, _, score in shown:
        assert np.min(np.abs(cli_scores - float(score)) / cli_scores) < 5e-4, name


def test_semiology_row_click_moves_the_slice_view(page) -> None:
    run_semiology(page)
    rows = table_rows(page, "sem-results")
    far = next(i for i, row in enumerate(rows) if "right" in row[1].lower() or "Right" in row[0])
    before = slice_view(page)
    page.get_by_test_id(f"sem-results-row-{far}").click()
    after = wait_until_changed(page, before, lambda: slice_view(page))
    assert np.abs(after - before).mean() > 2, "clicking a structure did not move the slice view"


# ------------------------------------------------------------------------------------ FCD


def choose_fcd_inputs(page, names) -> None:
    open_panel(page, "fcd")
    pick(page, "fcd-t1", names["t1"])
    pick(page, "fcd-flair", names["flair"])
    pick(page, "fcd-model", names["fcd_model"])


def test_fcd_review(page, web_data, screenshots) -> None:
    _, names = web_data
    choose_fcd_inputs(page, names)
    page.wait_for_timeout(1500)
    before = slice_view(page)
    assert is_not_blank(before), "the T1 is not on display"
    page.get_by_test_id("fcd-run").click()
    wait_for_job(page, "FCD segmentation")
    page.get_by_test_id("fcd-clusters-row-0").wait_for()
    assert "candidate cluster" in page.get_by_test_id("fcd-status").inner_text()
    overlay = wait_until_changed(page, before, lambda: slice_view(page))
    assert is_not_blank(overlay) and np.abs(overlay - before).mean() > 2, "no probability overlay"
    assert is_not_blank(view_pictures(page)[1]), "the 3D view shows no cluster"
    page.screenshot(path=str(screenshots / "web_fcd_test_model.png"))
    set_state(page, "fcd_window", [0.9, 1.0])
    narrowed = wait_until_changed(page, overlay, lambda: slice_view(page))
    assert np.abs(narrowed - overlay).mean() > 1, "the probability window did not change the overlay"
    # Scroll the slice view away (mouse wheel over it), then a cluster row brings it back.
    scroll_slice_view(page, 25)
    scrolled = slice_view(page)
    page.get_by_test_id("fcd-clusters-row-0").click()
    back = wait_until_changed(page, scrolled, lambda: slice_view(page))
    assert np.abs(back - scrolled).mean() > 2, "clicking a cluster did not move the slice view"


def scroll_slice_view(page, notches: int) -> None:
    box = page.get_by_test_id("views").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 4, box["y"] + box["height"] / 2)
    for _ in range(notches):
        page.mouse.wheel(0, 120)
        page.wait_for_timeout(30)
    page.wait_for_timeout(1500)


def test_fcd_cancel_stops_the_job(page, server, web_data) -> None:
    _, names = web_data
    choose_fcd_inputs(page, names)
    cancel_when_running(page, server, "fcd-run", "FCD segmentation")


# ------------------------------------------------------------------------------------ cavity


def choose_cavity_inputs(page, names, tta: int = 0) -> None:
    open_panel(page, "cav")
    pick(page, "cav-postop", names["postop"])
    pick(page, "cav-parc", names["parcellation"])
    pick(page, "cav-model", names["cavity_model"])
    set_state(page, "cav_tta", tta)


def test_cavity_segmentation(page, web_data, screenshots) -> None:
    _, names = web_data
    choose_cavity_inputs(page, names, tta=2)
    page.wait_for_timeout(1500)
    before = slice_view(page)
    assert is_not_blank(before), "the postoperative T1 is not on display"
    page.get_by_test_id("cav-run").click()
    wait_for_job(page, "Cavity segmentation")
    page.get_by_test_id("cav-results-row-0").wait_for()
    results = {row[0]: row[1] for row in table_rows(page, "cav-results")}
    assert float(results["cavity volume"]) > 0 and "image uncertainty (CQV)" in results
    assert table_rows(page, "cav-structures"), "no resected structures listed"
    shown = wait_until_changed(page, before, lambda: slice_view(page))
    assert np.abs(shown - before).mean() > 2, "no cavity overlay"
    set_state(page, "cav_overlay", "uncertainty")
    uncertainty = wait_until_changed(page, shown, lambda: slice_view(page))
    assert np.abs(uncertainty - shown).mean() > 1, "the uncertainty map is not shown"
    page.screenshot(path=str(screenshots / "web_cavity_test_model.png"))
    before_click = slice_view(page)
    last = len(table_rows(page, "cav-structures")) - 1
    page.get_by_test_id(f"cav-structures-row-{last}").click()
    moved = wait_until_changed(page, before_click, lambda: slice_view(page))
    assert np.abs(moved - before_click).mean() > 1, "a structure row click did not move the slice view"


def test_cavity_cancel_stops_the_job(page, server, web_data) -> None:
    _, names = web_data
    choose_cavity_inputs(page, names, tta=20)
    cancel_when_running(page, server, "cav-run", "Cavity segmentation")


# ------------------------------------------------------------------------------------ video


def test_seizure_video(page, web_data, screenshots) -> None:
    _, names = web_data
    open_panel(page, "vid")
    pick(page, "vid-video", names["video"])
    page.get_by_test_id("vid-open").click()
    wait_for_job(page, "Preparing the recording")
    player = page.get_by_test_id("vid-player")
    player.wait_for()
    page.wait_for_function("document.querySelector('[data-testid=vid-player]').readyState >= 2", timeout=30_000)
    assert page.evaluate("document.querySelector('[data-testid=vid-player]').duration") == pytest.approx(10, abs=0.5)
    assert is_not_blank(pixels(player)), "the recording shows no picture"
    pick(page, "vid-model", names["video_model"])
    page.get_by_test_id("vid-run").click()
    wait_for_job(page, "Seizure classification")
    verdict = page.get_by_test_id("vid-verdict").inner_text()
    assert "TCS" in verdict
    page.get_by_test_id("vid-segments-row-0").wait_for()
    chart = page.get_by_test_id("vid-chart")
    assert is_not_blank(pixels(chart))

    def marker_left() -> float:
        style = page.get_by_test_id("vid-marker").get_attribute("style")
        return float(style.split("left:")[1].split("%")[0])

    page.evaluate("document.querySelector('[data-testid=vid-player]').currentTime = 6.0")
    page.wait_for_function("document.querySelector('[data-testid=vid-player]').currentTime >= 5.9")
    page.wait_for_timeout(500)
    t1 = float(page.evaluate("window.trame.state.get('vid_t1')"))
    assert marker_left() == pytest.approx(100 * 6.0 / t1, abs=1.0)
    page.evaluate("document.querySelector('[data-testid=vid-player]').play()")
    start = marker_left()
    page.wait_for_timeout(1500)
    assert marker_left() > start, "the time marker does not follow playback"
    page.evaluate("document.querySelector('[data-testid=vid-player]').pause()")
    page.get_by_test_id("vid-segments-row-0").click()
    page.wait_for_timeout(300)
    segment_start = float(table_rows(page, "vid-segments")[0][1])
    assert page.evaluate("document.querySelector('[data-testid=vid-player]').currentTime") == pytest.approx(
        segment_start, abs=0.1
    )
    page.screenshot(path=str(screenshots / "web_video_test_model.png"))


def test_video_cancel_stops_the_job(page, server, web_data) -> None:
    _, names = web_data
    open_panel(page, "vid")
    pick(page, "vid-video", names["video"])
    pick(page, "vid-model", names["video_model"])
    cancel_when_running(page, server, "vid-run", "Seizure classification")


# ------------------------------------------------------------------------------------ files


@pytest.mark.parametrize("name", ["../outside.nii.gz", "/etc/passwd", "escape.nii.gz", "fcd/../../outside.nii.gz"])
def test_files_outside_data_are_refused(page, web_data, name, tmp_path_factory) -> None:
    folder, names = web_data
    outside = folder.parent / "outside.nii.gz"
    outside.write_bytes((folder / names["t1"]).read_bytes())
    link = folder / "escape.nii.gz"
    if not link.exists():
        link.symlink_to(outside)
    open_panel(page, "fcd")
    set_state(page, "fcd_flair", names["flair"])
    set_state(page, "fcd_model", names["fcd_model"])
    set_state(page, "fcd_t1", name)
    page.get_by_test_id("fcd-run").click()
    error = page.get_by_test_id("fcd-error")
    error.wait_for(timeout=10_000)
    assert name in error.inner_text() and any(
        phrase in error.inner_text() for phrase in ("not allowed", "outside the data folder")
    )
    assert "escape.nii.gz" not in page.evaluate("window.trame.state.get('data_images')")


def test_static_routes_do_not_leave_their_folder(server) -> None:
    for path in ("/media-x/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/../etc/passwd"):
        try:
            with urllib.request.urlopen(server.url.rstrip("/") + path, timeout=5) as response:
                assert b"root:" not in response.read(), path
        except urllib.error.HTTPError as error:
            assert error.code in (403, 404), path


def test_upload_goes_to_the_session_and_is_listed(page, web_data, tmp_path) -> None:
    folder, names = web_data
    upload = tmp_path / "my_t1.nii.gz"
    upload.write_bytes((folder / names["t1"]).read_bytes())
    page.get_by_test_id("upload").locator("input[type=file]").set_input_files(str(upload))
    page.wait_for_function("window.trame.state.get('data_images').includes('uploads/my_t1.nii.gz')", timeout=30_000)
    assert not (folder / "uploads").exists(), "the upload went into --data"
    big = tmp_path / "big_model.pt"  # over wslink's 4 MB message size: sent in chunks
    big.write_bytes(np.random.default_rng(0).bytes(6_000_000))
    page.get_by_test_id("upload").locator("input[type=file]").set_input_files(str(big))
    page.wait_for_function("window.trame.state.get('data_models').includes('uploads/big_model.pt')", timeout=60_000)


def test_bad_settings_and_wrong_files_give_one_line_and_no_stale_result(page, web_data) -> None:
    _, names = web_data
    choose_cavity_inputs(page, names)
    set_state(page, "cav_tta", "abc")
    page.get_by_test_id("cav-run").click()
    error = page.get_by_test_id("cav-error")
    error.wait_for(timeout=10_000)
    assert "TTA iterations" in error.inner_text() and "whole number" in error.inner_text()
    set_state(page, "cav_tta", 0)
    set_state(page, "cav_parcellation", names["postop"])  # a T1 where the parcellation belongs
    page.get_by_test_id("cav-run").click()
    page.wait_for_function(
        "document.querySelector('[data-testid=cav-error]')?.innerText.includes('postop_t1')", timeout=30_000
    )
    # A run that fails leaves nothing of the previous run on display.
    choose_fcd_inputs(page, names)
    page.get_by_test_id("fcd-run").click()
    wait_for_job(page, "FCD segmentation")
    page.get_by_test_id("fcd-clusters-row-0").wait_for()
    set_state(page, "fcd_model", names["cavity_model"])
    page.get_by_test_id("fcd-run").click()
    page.get_by_test_id("job-error").wait_for(timeout=120_000)
    assert "not an MS-DSA-Net checkpoint" in page.get_by_test_id("job-error").inner_text()
    assert page.get_by_test_id("fcd-clusters").count() == 0, "the previous run's clusters are still shown"
    assert "Running" not in page.get_by_test_id("fcd-status").inner_text()
