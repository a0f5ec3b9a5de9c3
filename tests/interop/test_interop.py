"""The six input kinds give the medsr.Image result (1e-6), in their own kind and convention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

import medsr
from medsr.errors import GeometryError, InvalidImageError
from medsr.image import Image
from medsr.sitk_bridge import to_sitk

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


def _oblique(shape=(12, 10, 6), spacing=(0.8, 0.9, 3.0)) -> Image:
    rng = np.random.default_rng(0)
    rot = Rotation.from_euler("xyz", [10, 20, -15], degrees=True).as_matrix()
    data = rng.random((1, *shape)).astype(np.float32) * 100
    return Image(data, spacing=spacing, origin=(5.0, -7.0, 11.0), direction=rot)


def _as_kind(kind: str, img: Image):
    """``img`` as ``kind``, and the keyword arguments an array needs."""
    ras = img.to_ras_affine()
    data = torch.from_numpy(img.data.copy())
    if kind == "numpy":
        return img.data[0].copy(), {"input_affine": img.affine}
    if kind == "torch":
        return data, {"input_affine": img.affine}
    if kind == "sitk":
        return to_sitk(img), {}
    if kind == "nibabel":
        nib = pytest.importorskip("nibabel")
        return nib.Nifti1Image(img.data[0].copy(), ras), {}
    if kind == "torchio":
        tio = pytest.importorskip("torchio")
        return tio.ScalarImage(tensor=data, affine=ras), {}
    monai_data = pytest.importorskip("monai.data")
    return monai_data.MetaTensor(data, affine=torch.as_tensor(ras)), {}


KINDS = ["numpy", "torch", "sitk", "nibabel", "torchio", "monai"]
TYPES = {
    "numpy": "ndarray",
    "torch": "Tensor",
    "sitk": "Image",
    "nibabel": "Nifti1Image",
    "torchio": "ScalarImage",
    "monai": "MetaTensor",
}


def _back(kind: str, out, like: Image) -> Image:
    if kind in ("numpy", "torch"):
        return medsr.to_image(out, affine=like.affine)
    return medsr.to_image(out)


def _same(got: Image, want: Image, kind: str) -> None:
    assert got.shape == want.shape
    np.testing.assert_allclose(got.data, want.data, atol=1e-6, rtol=0)
    tol = 1e-6 if kind != "nibabel" else 1e-5  # NIfTI keeps the affine in float32
    np.testing.assert_allclose(got.affine, want.affine, atol=tol)


@pytest.mark.parametrize("kind", KINDS)
def test_upsample_and_degrade_return_the_kind_given(kind: str) -> None:
    img = _oblique()
    data, kw = _as_kind(kind, img)
    up = medsr.upsample(data, factors=(1, 1, 3), **kw)
    assert type(up).__name__ == TYPES[kind]
    want = medsr.upsample(img, factors=(1, 1, 3))
    _same(_back(kind, up, want), want, kind)
    down = medsr.degrade(data, (1, 1, 2), **kw)
    want = medsr.degrade(img, (1, 1, 2))
    _same(_back(kind, down, want), want, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_enhance_returns_image_and_uncertainty_of_the_kind_given(kind: str) -> None:
    img = _oblique((16, 16, 5), (1.0, 1.0, 3.0))
    data, kw = _as_kind(kind, img)
    opts = dict(steps=2, tta=False, threads=1, net={"blocks": 1, "channels": 8})
    res = medsr.enhance(data, **opts, **kw)
    want = medsr.enhance(img, **opts)
    assert type(res.image).__name__ == TYPES[kind] and type(res.uncertainty).__name__ == TYPES[kind]
    _same(_back(kind, res.image, want.image), want.image, kind)
    _same(_back(kind, res.uncertainty, want.uncertainty), want.uncertainty, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_predict_returns_the_kind_given(kind: str) -> None:
    from medsr.models.bundle import load_model
    from medsr.models.zoo import resolve_model

    img = _oblique((24, 20, 3), (0.7, 0.7, 2.5))
    bundle = load_model(resolve_model("ct-inplane-x2"))
    data, kw = _as_kind(kind, img)
    out = medsr.predict(data, "ct-inplane-x2" if kind == "numpy" else bundle, **kw)  # a name works too
    assert type(out).__name__ == TYPES[kind]
    want = medsr.predict(img, bundle)
    _same(_back(kind, out, want), want, kind)


def test_ras_affine_matches_nibabel_on_an_oblique_scan(tmp_path) -> None:
    nib = pytest.importorskip("nibabel")
    img = _oblique()
    path = tmp_path / "oblique.nii.gz"
    medsr.write(img, path)
    nii = nib.load(path)
    np.testing.assert_allclose(nii.affine, img.to_ras_affine(), atol=1e-4)
    back = Image.from_ras_affine(np.asarray(nii.dataobj)[None], nii.affine)
    read = medsr.read(path)
    np.testing.assert_allclose(back.affine, read.affine, atol=1e-4)
    corner = np.array([3.0, 4.0, 5.0, 1.0])
    np.testing.assert_allclose((nii.affine @ corner)[:3] * [-1, -1, 1], read.grid.index_to_world(corner[:3]), atol=1e-4)


def test_arrays_take_spacing_and_2d_layouts() -> None:
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    up = medsr.upsample(arr, factors=(2, 2), method="nearest", input_spacing=(0.5, 0.5))
    assert up.shape == (6, 8) and up.dtype == np.float32
    assert up[0, 0] == 0 and up[5, 7] == 11
    img = medsr.to_image(np.zeros((3, 4, 5, 1), np.float32), spacing=(2, 3))
    assert img.channels == 3 and img.spacing.tolist() == [2.0, 3.0, 1.0]


def test_sitk_2d_comes_back_2d() -> None:
    import SimpleITK as sitk

    s = sitk.GetImageFromArray(np.random.default_rng(1).random((6, 8)).astype(np.float32))
    s.SetSpacing((0.5, 0.25))
    s.SetOrigin((3.0, 4.0))
    out = medsr.upsample(s, factors=(2, 2))
    assert out.GetDimension() == 2 and out.GetSize() == (16, 12)
    assert out.GetSpacing() == (0.25, 0.125)


def test_subject_carries_label_maps_without_mixing() -> None:
    tio = pytest.importorskip("torchio")
    img = _oblique()
    ras = img.to_ras_affine()
    labels = (img.data > 50).astype(np.int16) * 7
    subject = tio.Subject(
        t1=tio.ScalarImage(tensor=torch.from_numpy(img.data.copy()), affine=ras),
        seg=tio.LabelMap(tensor=torch.from_numpy(labels), affine=ras),
        age=42,
    )
    out = medsr.upsample(subject, factors=(1, 1, 3))
    assert out["age"] == 42
    assert out.t1.shape == out.seg.shape == (1, 12, 10, 18)
    np.testing.assert_allclose(out.seg.affine, out.t1.affine)
    assert out.seg.data.dtype == torch.int16
    assert set(torch.unique(out.seg.data).tolist()) <= {0, 7}


def test_bad_inputs_get_clear_errors() -> None:
    with pytest.raises(InvalidImageError, match="cannot use a builtins.list"):
        medsr.upsample([1, 2, 3], factors=(1, 1, 2))
    with pytest.raises(InvalidImageError, match="for arrays only"):
        medsr.upsample(to_sitk(_oblique()), factors=(1, 1, 2), input_spacing=(1, 1, 1))
    sheared = np.eye(4)
    sheared[0, 1] = 0.5
    with pytest.raises(GeometryError, match="sheared"):
        medsr.to_image(np.zeros((2, 2, 2)), affine=sheared)
    with pytest.raises(GeometryError, match="disagrees"):
        medsr.to_image(np.zeros((2, 2, 2)), spacing=(1, 1, 2), affine=np.eye(4))
    with pytest.raises(InvalidImageError, match="2, 3 or 4 axes"):
        medsr.to_image(np.zeros(5))
    with pytest.raises(InvalidImageError, match="real numbers"):
        medsr.to_image(np.zeros((2, 2, 2), np.complex64))
