"""Bad input gets a one-line error naming the file and the problem; nothing partial stays."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from epilepsy_suite.errors import InputError
from epilepsy_suite.io import atomic_output, check_same_grid, read_image, read_label_map, write_image


def _image(size=(6, 7, 8), value=1.0) -> sitk.Image:
    image = sitk.Image(size, sitk.sitkFloat32)
    image += value
    return image


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path) -> None:
    with pytest.raises(InputError) as error:
        read_image(tmp_path / "t1.nii.gz", what="T1")
    assert _one_line(error) == f"{tmp_path / 't1.nii.gz'}: T1 file not found"


def test_unreadable_file(tmp_path) -> None:
    path = tmp_path / "garbage.nii.gz"
    path.write_bytes(b"\x00not an image")
    with pytest.raises(InputError) as error:
        read_image(path)
    assert _one_line(error).startswith(f"{path}: cannot read")


def test_four_dimensional_image_where_3d_is_needed(tmp_path) -> None:
    path = tmp_path / "dwi.nii.gz"
    sitk.WriteImage(sitk.Image([5, 5, 5, 3], sitk.sitkFloat32), str(path))
    with pytest.raises(InputError) as error:
        read_image(path, what="FLAIR")
    assert _one_line(error) == f"{path}: FLAIR must be a 3D image but has 4 dimensions (size 5x5x5x3)"


def test_trailing_singleton_fourth_axis_is_accepted(tmp_path) -> None:
    path = tmp_path / "t1.nii.gz"
    sitk.WriteImage(sitk.Image([5, 6, 7, 1], sitk.sitkFloat32), str(path))
    assert read_image(path).GetSize() == (5, 6, 7)


def test_nan_voxels(tmp_path) -> None:
    image = _image()
    image[1, 2, 3] = float("nan")
    path = write_image(image, tmp_path / "nan.nrrd")
    with pytest.raises(InputError, match=r"nan.nrrd: image contains 1 NaN or infinite voxels"):
        read_image(path)


def test_label_map_on_another_grid(tmp_path) -> None:
    image = _image((6, 7, 8))
    labels = sitk.Image((6, 7, 8), sitk.sitkUInt8)
    labels.SetSpacing((1.0, 1.0, 2.0))
    labels.SetOrigin((0.0, 5.0, 0.0))
    path = write_image(labels, tmp_path / "labels.nii.gz")
    with pytest.raises(InputError) as error:
        read_label_map(path, reference=image)
    message = _one_line(error)
    assert message.startswith(f"{path}: grid does not match the image")
    assert "spacing (1, 1, 2) vs (1, 1, 1)" in message and "origin" in message


def test_fractional_label_map(tmp_path) -> None:
    path = write_image(_image(value=0.5), tmp_path / "soft.nii.gz")
    with pytest.raises(InputError, match="soft.nii.gz: label map must hold integer labels"):
        read_label_map(path)


def test_same_grid_passes_silently() -> None:
    check_same_grid(_image(), _image())


def test_failed_write_leaves_nothing(tmp_path) -> None:
    target = tmp_path / "out.nii.gz"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as temporary:
            temporary.write_bytes(b"half a file")
            raise RuntimeError("the job died")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_file(tmp_path) -> None:
    target = write_image(_image(value=3.0), tmp_path / "out.nii.gz")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as temporary:
            temporary.write_bytes(b"partial")
            raise RuntimeError("interrupted")
    assert float(sitk.GetArrayFromImage(read_image(target)).mean()) == 3.0
    assert [path.name for path in tmp_path.iterdir()] == ["out.nii.gz"]


def test_write_image_round_trip_is_exact(tmp_path) -> None:
    image = _image()
    image.SetOrigin((1.5, -2.0, 3.0))
    back = read_image(write_image(image, tmp_path / "x.nrrd"))
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(back), sitk.GetArrayViewFromImage(image))
    assert back.GetOrigin() == image.GetOrigin()


def test_nan_voxels_of_a_nifti_are_counted(tmp_path) -> None:
    """ITK reads NaN and infinity of a NIfTI as 0, so the check used to fire for NRRD only."""
    array = np.ones((5, 6, 7), np.float32)
    array[1, 2, 3], array[2, 2, 2] = np.nan, np.inf
    path = tmp_path / "t1.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    with pytest.raises(InputError, match=r"t1.nii.gz: T1 contains 2 NaN or infinite voxels"):
        read_image(path, what="T1")


def test_a_blank_scan_is_refused(tmp_path) -> None:
    """An all-zero T1 gave 76k "FCD" voxels."""
    path = write_image(_image(value=0.0), tmp_path / "blank.nii.gz")
    with pytest.raises(InputError, match=r"blank.nii.gz: T1 has the same value \(0\) in every voxel"):
        read_image(path, what="T1", varying=True)
    from epilepsy_suite.fcd.preprocessing import prepare_images

    with pytest.raises(InputError, match=r"^T1: has the same value"):
        prepare_images(_image(value=3.0), _image(value=2.0) + _noise())


def _noise() -> sitk.Image:
    image = sitk.GetImageFromArray(np.random.default_rng(0).random((8, 7, 6)).astype(np.float32))
    return image


def test_a_flair_that_lost_its_position_is_refused() -> None:
    """A FLAIR with no overlap with the T1 was resampled to zeros and a mask written."""
    from epilepsy_suite.fcd.preprocessing import match_flair_to_t1

    t1 = _noise()
    flair = _noise()
    flair.SetOrigin((500.0, 0.0, 0.0))
    with pytest.raises(InputError, match=r"^flair.nii.gz: the FLAIR does not overlap the T1 anywhere in space"):
        match_flair_to_t1(t1, flair, "flair.nii.gz")
    flair.SetOrigin((0.5, 0.0, 0.0))
    assert match_flair_to_t1(t1, flair, "flair.nii.gz").GetSize() == t1.GetSize()
    from epilepsy_suite.fcd.preprocessing import prepare_images

    flair.SetOrigin((500.0, 0.0, 0.0))
    for preset in ("suite", "published"):  # also when registering to MNI, before the registration
        with pytest.raises(InputError, match=r"^flair.nii.gz: the FLAIR does not overlap"):
            prepare_images(t1, flair, register_to_mni=True, coregister=False, flair_name="flair.nii.gz", preset=preset)


@pytest.mark.parametrize(
    ("labels", "problem"),
    [
        (
            "freesurfer",
            r"\d+% of the labelled voxels carry labels that Neuromorphometrics or GIF does not have "
            r"\(.*\).*FreeSurfer aparc\+aseg",
        ),
        ("t1", r"100% of the labelled voxels carry labels .*an intensity image"),
        ("zeros", r"the parcellation has no labels \(every voxel is 0\)"),
    ],
)
def test_wrong_parcellations_are_refused(tmp_path, labels, problem) -> None:
    """A FreeSurfer aparc+aseg was read as GIF (its right thalamus, 49, got GIF 49's score); a T1
    or an all-zero volume gave an all-zero map."""
    from epilepsy_suite.data.templates import as_neuromorphometrics

    rng = np.random.default_rng(1)
    shape = (20, 20, 20)
    if labels == "freesurfer":
        array = rng.choice([0, 2, 41, 49, 10, 1028, 2028, 1035], size=shape).astype(np.int16)
    elif labels == "t1":
        array = rng.normal(500, 100, size=shape).clip(1, None).astype(np.int16)  # a T1's grey levels
    else:
        array = np.zeros(shape, np.int16)
    path = tmp_path / "parcellation.nii.gz"
    image = write_image(sitk.GetImageFromArray(array), path)
    with pytest.raises(InputError, match=r"^" + str(path).replace("+", r"\+") + ": " + problem):
        as_neuromorphometrics(read_label_map(image), path)
