"""What a web session may open: names under --data and its own uploads, nothing else."""

from __future__ import annotations

import os
import stat

import pytest

from EpilepsySuiteWeb.app import is_loopback
from EpilepsySuiteWeb.files import AccessError, DataFolder


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "data"
    (root / "sub-01").mkdir(parents=True)
    (root / "sub-01" / "t1.nii.gz").write_bytes(b"inside")
    (tmp_path / "secret.nii.gz").write_bytes(b"outside")
    (root / "link_out.nii.gz").symlink_to(tmp_path / "secret.nii.gz")
    (root / "link_in.nii.gz").symlink_to(root / "sub-01" / "t1.nii.gz")
    (root / "dir_out").symlink_to(tmp_path, target_is_directory=True)
    folder = DataFolder(root, max_upload_mb=0.001)
    yield folder
    folder.close()


def test_a_file_under_data_resolves(data) -> None:
    assert data.resolve("sub-01/t1.nii.gz").read_bytes() == b"inside"
    assert data.resolve("link_in.nii.gz").read_bytes() == b"inside"  # a link that stays inside is fine


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../secret.nii.gz", "'..' is not allowed"),
        ("sub-01/../../secret.nii.gz", "'..' is not allowed"),
        ("/etc/passwd", "absolute paths are not allowed"),
        ("link_out.nii.gz", "outside the data folder"),
        ("dir_out/secret.nii.gz", "outside the data folder"),
        ("C:/Windows/win.ini", "not a valid file name"),
        ("sub-01\\..\\..\\secret.nii.gz", "not a valid file name"),
        ("t1.nii.gz\x00.png", "not a valid file name"),
        ("sub-01/missing.nii.gz", "no such file"),
        ("sub-01", "no such file"),
        ("", "no file was chosen"),
    ],
)
def test_names_outside_data_are_refused(data, name, reason) -> None:
    with pytest.raises(AccessError) as refused:
        data.resolve(name)
    assert reason in str(refused.value)


def test_listing_offers_only_what_resolves(data) -> None:
    names = data.listing((".nii.gz",))
    assert names == ["link_in.nii.gz", "sub-01/t1.nii.gz"]
    for name in names:
        data.resolve(name)


def test_uploads_are_private_to_their_session(data, tmp_path) -> None:
    name = data.save_upload("../../evil name.nii.gz", b"12345")
    assert name == "uploads/evil_name.nii.gz"
    assert data.resolve(name).read_bytes() == b"12345"
    assert stat.S_IMODE(os.stat(data.uploads).st_mode) == 0o700
    assert name in data.listing((".nii.gz",))
    other = DataFolder(tmp_path / "data")
    try:
        assert name not in other.listing((".nii.gz",))
        with pytest.raises(AccessError, match="no such file"):
            other.resolve(name)
    finally:
        other.close()
    uploads = data.uploads
    data.close()
    assert not uploads.exists(), "a session's uploads outlive it"


def test_uploads_over_the_limit_are_refused(data) -> None:
    with pytest.raises(AccessError, match="over the server's limit of 0.001 MB"):
        data.save_upload("big.nii.gz", b"x" * 2000)
    assert data.listing((".nii.gz",)) == ["link_in.nii.gz", "sub-01/t1.nii.gz"]


def test_missing_data_folder_is_named(tmp_path) -> None:
    with pytest.raises(Exception, match="does not exist"):
        DataFolder(tmp_path / "nope")


def test_without_data_only_uploads_open() -> None:
    folder = DataFolder(None)
    try:
        with pytest.raises(AccessError, match="without --data"):
            folder.resolve("t1.nii.gz")
    finally:
        folder.close()


@pytest.mark.parametrize(
    ("host", "loopback"), [("127.0.0.1", True), ("localhost", True), ("::1", True), ("0.0.0.0", False),
                           ("192.168.1.5", False), ("example.org", False)]
)  # fmt: skip
def test_loopback_hosts(host, loopback) -> None:
    assert is_loopback(host) is loopback


def test_serve_warns_off_loopback_and_names_a_missing_data_folder(tmp_path) -> None:
    import subprocess
    import sys
    from pathlib import Path

    completed = subprocess.run(
        [sys.executable, "-m", "epilepsy_suite", "serve", "--host", "0.0.0.0", "--data", str(tmp_path / "nope")],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode != 0
    assert "serving on 0.0.0.0" in completed.stderr and "reverse proxy" in completed.stderr
    assert "nope" in completed.stderr and "does not exist" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_very_long_upload_name_is_shortened_keeping_its_suffix(data) -> None:
    name = data.save_upload("x" * 300 + ".nii.gz", b"123")
    assert name.startswith("uploads/") and name.endswith(".nii.gz") and len(name) <= len("uploads/") + 120
    assert data.resolve(name).read_bytes() == b"123"


@pytest.mark.parametrize(
    ("arguments", "option", "words"),
    [(["--host", "not.a.host"], "--host", "not an address"), (["--port", "{taken}"], "--port", "cannot listen")],
)
def test_serve_refuses_an_address_it_cannot_listen_on_in_one_line(tmp_path, arguments, option, words) -> None:
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        completed = subprocess.run(
            [sys.executable, "-m", "epilepsy_suite", "serve", *(a.replace("{taken}", port) for a in arguments)],
            cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert completed.returncode == 2, completed.stderr
    assert option in completed.stderr and words in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_t1_given_as_parcellation_is_named_an_intensity_image() -> None:
    import numpy as np
    from epilepsy_suite.data.labels import check_parcellation
    from epilepsy_suite.errors import InputError

    t1 = np.random.default_rng(0).normal(100, 20, (8, 8, 8)).astype(np.float32)
    with pytest.raises(InputError, match="postop_t1.nii.gz.*intensity image"):
        check_parcellation(t1, range(1, 300), "postop_t1.nii.gz")
