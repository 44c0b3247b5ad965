"""Writes that cannot lie and process edges (issue 17, kinds 1, 2 and 7).

Real child processes of ``python -m epilepsy_suite``: a file-size limit stands for a full disk
(ITK's writers ignore the error; the check before publishing does not), SIGTERM and SIGINT are
real signals, a closed pipe is a real pipe.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from epilepsy_suite.cli import main
from epilepsy_suite.errors import InputError
from epilepsy_suite.io import atomic_output, read_image, write_image
from epilepsy_suite.io.atomic import OutputError, publication, remove_stale_partials
from epilepsy_suite.io.integrity import check_complete

CORE = Path(__file__).resolve().parents[2] / "Core"


def _probability(path: Path, size: int = 24) -> Path:
    array = np.zeros((size, size, size), np.float32)
    array[6:16, 6:16, 6:16] = 0.9
    return write_image(sitk.GetImageFromArray(array), path)


def _child(arguments: list[str], limit_bytes: int | None = None, **options) -> subprocess.Popen:
    """``python -m epilepsy_suite ARGUMENTS`` in a child; with ``limit_bytes``, files it writes
    cannot grow past that size (as on a full disk; SIGXFSZ ignored so the write fails instead)."""
    prelude = ""
    if limit_bytes is not None:
        prelude = (
            "import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes})); "
        )
    code = prelude + f"import sys; from epilepsy_suite.cli import main; sys.exit(main({arguments!r}))"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(CORE), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
        **options,
    )  # fmt: skip


def _files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs POSIX file-size limits")
@pytest.mark.parametrize("name", ["mask.nii.gz", "mask.nrrd", "mask.mha"])
def test_full_disk_publishes_nothing(tmp_path, name) -> None:
    """`fcd postprocess` on a full disk printed "wrote" and left a 0-byte mask (NIfTI: ITK says
    nothing; NRRD and MetaImage: ITK raised, which was a traceback)."""
    source = _probability(tmp_path / "probability.nii.gz")
    out = tmp_path / "out"
    out.mkdir()
    child = _child(["fcd", "postprocess", str(source), "--out", str(out / name)], limit_bytes=120)
    stdout, stderr = child.communicate(timeout=300)
    assert child.returncode == 2, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and name in lines[0] and "nothing was published" in lines[0]
    assert "Traceback" not in stderr and "wrote" not in stdout
    assert _files(out) == []


def test_a_truncated_file_is_caught_written_and_read(tmp_path) -> None:
    path = _probability(tmp_path / "image.nii.gz")
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) * 2 // 3])
    with pytest.raises(InputError, match="image.nii.gz: the compressed file is truncated"):
        read_image(path)
    raw = write_image(sitk.ReadImage(str(_probability(tmp_path / "again.nii.gz"))), tmp_path / "raw.nii", False)
    raw.write_bytes(raw.read_bytes()[:-100])
    with pytest.raises(InputError, match=r"raw.nii: the image is truncated: \d+ of \d+ bytes"):
        check_complete(raw)
    empty = tmp_path / "out.nii.gz"
    with pytest.raises(OutputError, match="out.nii.gz: writing failed, nothing was published: the file is empty"):
        with atomic_output(empty):
            pass  # a writer that wrote nothing and said nothing
    assert _files(tmp_path) == ["again.nii.gz", "image.nii.gz", "raw.nii"]


def test_outputs_of_one_command_are_published_together(tmp_path) -> None:
    first, second = tmp_path / "mask.nii.gz", tmp_path / "probability.nii.gz"
    with pytest.raises(RuntimeError), publication([first, second]):
        _probability(first)
        assert not first.exists(), "published before the command finished"
        raise RuntimeError("the second output failed")
    assert _files(tmp_path) == []
    with publication([first, second]):
        _probability(first)
        _probability(second)
    assert _files(tmp_path) == ["mask.nii.gz", "probability.nii.gz"]


def test_outputs_are_checked_before_any_work(tmp_path, capsys) -> None:
    """`fcd predict --probability` was written, then the mask's folder refused; outputs equal to an
    input replaced it; unknown extensions were written anyway."""
    t1 = _probability(tmp_path / "t1.nii.gz")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    before = t1.read_bytes()
    cases = [
        (["fcd", "predict", str(t1), str(t1), "--model", str(t1), "--probability", str(tmp_path / "p.nii.gz"),
          "--out", str(blocker / "mask.nii.gz")], "file, not a folder"),
        (["fcd", "postprocess", str(t1), "--out", str(t1)], "also an input"),
        (["fcd", "postprocess", str(t1), "--out", str(tmp_path / "mask.txt")], "must end in .nii.gz"),
        (["fcd", "postprocess", str(t1), "--out", str(tmp_path)], "is a folder"),
        (["cavity", "simulate", str(t1), str(t1), str(tmp_path / "a.nii.gz"), str(tmp_path / "a.nii.gz")],
         "same path"),
    ]  # fmt: skip
    for arguments, problem in cases:
        assert main(arguments) == 2, arguments
        error = capsys.readouterr().err.strip()
        assert error.count("\n") == 0 and problem in error, error
    assert _files(tmp_path) == ["file", "t1.nii.gz"]
    assert t1.read_bytes() == before


def test_stale_partials_of_dead_processes_are_removed(tmp_path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".mask.{dead.stdout.strip()}-x1.partial.nii.gz"
    ours = tmp_path / f".mask.{os.getpid()}-x2.partial.nii.gz"
    other_target = tmp_path / f".other.{dead.stdout.strip()}-x3.partial.nii.gz"
    for path in (stale, ours, other_target):
        path.write_bytes(b"half")
    assert remove_stale_partials(tmp_path / "mask.nii.gz") == [stale]
    assert sorted(_files(tmp_path)) == sorted([ours.name, other_target.name])


@pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="POSIX signals")
def test_sigterm_is_handled_like_ctrl_c(tmp_path) -> None:
    out = tmp_path / "videos"
    child = _child(["video", "synthesize", str(out), "--count", "40", "--quiet"])
    deadline = time.monotonic() + 120
    while not (out.exists() and any(out.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGTERM)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 143, stderr
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1] == "terminated"
    # the folder the command created goes too when nothing was finished in it
    assert not out.exists() or not [name for name in _files(out) if ".partial" in name]


def test_ctrl_c_while_starting_and_a_closed_pipe(semio2brain_folder) -> None:
    terms = [sys.executable, "-m", "epilepsy_suite", "semiology", "terms", "--database", str(semio2brain_folder)]
    child = subprocess.Popen(
        terms, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "PYTHONPATH": str(CORE)},
    )  # fmt: skip
    time.sleep(0.3)  # still importing
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 130 and "Traceback" not in stderr, stderr

    reader, writer = os.pipe()
    os.close(reader)  # like `| head` that has already exited
    with os.fdopen(writer, "w") as closed:
        child = subprocess.run(
            terms, stdout=closed, stderr=subprocess.PIPE,
            text=True, env={**os.environ, "PYTHONPATH": str(CORE)}, timeout=300,
        )  # fmt: skip
    assert "Traceback" not in child.stderr, child.stderr
    assert child.returncode == 141

    closed = subprocess.run(  # the shell's `>&-`: no stdout at all
        ["sh", "-c", " ".join(f"'{part}'" for part in terms) + " >&-"], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(CORE)}, timeout=300,
    )  # fmt: skip
    assert "Traceback" not in closed.stderr, closed.stderr


def test_an_unknown_option_is_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main(["semiology", "query", "--semiology", "Head Version:left", "--limit", "-1"])
    assert exit_status.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "unrecognized arguments: --limit -1" in error, error


def test_an_unknown_demo_step_is_refused_before_anything_is_written(tmp_path, capsys) -> None:
    """`demo --only Bogus` wrote pictures before it rejected the name."""
    out = tmp_path / "demo"
    assert main(["demo", "--only", "Bogus", "--out", str(out), "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: --only: unknown demo step(s) Bogus; choose from") and "\n" not in error
    assert not out.exists() or _files(out) == []


@pytest.mark.parametrize(
    "command",
    [
        ["fcd", "train", "--synthetic", "3", "--synthetic-spacing", "4", "--patch-size", "64", "--feature-size", "8",
         "--epochs", "1"],
        ["cavity", "train", "--template-mm", "8", "--whole-images", "--epochs", "1", "--iterations", "1",
         "--batch-size", "1", "--first-channels", "4"],
    ],
    ids=["fcd train", "cavity train"],
)  # fmt: skip
def test_a_damaged_last_checkpoint_is_named_by_the_train_commands(tmp_path, capsys, command) -> None:
    """A damaged OUT/last.pt gave a raw torch traceback in the train commands (issue 17, kind 6);
    video train resumes through the same `fit` (Testing/core/test_fitting.py)."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt").write_bytes(b"PK\x03\x04 half a zip")
    assert main([*command, "--out", str(out), "--quiet", "--device", "cpu"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {out / 'last.pt'}: ") and "\n" not in error, error
    assert _files(out) == ["last.pt"]
