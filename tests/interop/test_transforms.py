"""TorchIO and MONAI pipelines with a medsr transform keep world coordinates to 1e-4 mm."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import medsr
from medsr.image import Image

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning")


@pytest.fixture
def oblique_file(tmp_path):
    rng = np.random.default_rng(3)
    rot = Rotation.from_euler("zyx", [25, -10, 5], degrees=True).as_matrix()
    img = Image(
        rng.random((1, 14, 12, 5)).astype(np.float32) * 500, spacing=(0.7, 0.8, 3.2), origin=(-40, 12, 7), direction=rot
    )
    path = tmp_path / "oblique.nii.gz"
    medsr.write(img, path)
    return path


def _corners(image: Image) -> np.ndarray:
    return image.grid.fov_corners()


def _direct(path) -> Image:
    return medsr.upsample(medsr.read(path), factors=(1, 1, 4))


def test_monai_load_medsr_save_round_trip(oblique_file, tmp_path) -> None:
    transforms = pytest.importorskip("monai.transforms")
    from medsr.integrations.monai import Medsr, Medsrd

    pipe = transforms.Compose(
        [transforms.LoadImage(image_only=True), transforms.EnsureChannelFirst(), Medsr("upsample", factors=(1, 1, 4))]
    )
    out = pipe(str(oblique_file))
    assert tuple(out.shape) == (1, 14, 12, 20)
    saver = transforms.SaveImage(output_dir=str(tmp_path / "monai"), output_postfix="sr", separate_folder=False)
    saver(out)
    written = medsr.read(next((tmp_path / "monai").glob("*sr.nii.gz")))
    want = _direct(oblique_file)
    np.testing.assert_allclose(_corners(written), _corners(want), atol=1e-4)
    np.testing.assert_allclose(written.data, want.data, atol=1e-3)
    d = Medsrd("image", "upsample", label_keys="label", factors=(1, 1, 4))(
        {"image": transforms.LoadImage(image_only=True)(str(oblique_file)), "label": out.new_zeros((1, 14, 12, 5))}
    )
    assert tuple(d["image"].shape) == (14, 12, 20)  # no channel in, none out
    assert tuple(d["label"].shape) == (1, 14, 12, 20)
    np.testing.assert_allclose(np.asarray(d["label"].affine), np.asarray(d["image"].affine), atol=1e-9)


def test_torchio_compose_round_trip(oblique_file, tmp_path) -> None:
    tio = pytest.importorskip("torchio")
    from medsr.integrations.torchio import MedsrTransform

    subject = tio.Subject(t1=tio.ScalarImage(oblique_file))
    pipe = tio.Compose([MedsrTransform("upsample", factors=(1, 1, 4))])
    out = pipe(subject)
    path = tmp_path / "tio_sr.nii.gz"
    out.t1.save(path)
    written = medsr.read(path)
    want = _direct(oblique_file)
    np.testing.assert_allclose(_corners(written), _corners(want), atol=1e-4)
    np.testing.assert_allclose(written.data, want.data, atol=1e-3)
    assert [t[0] for t in out.applied_transforms] == ["MedsrTransform"]


def test_transform_verbs_are_checked() -> None:
    from medsr.errors import ConfigError
    from medsr.verbs import image_verb

    with pytest.raises(ConfigError, match="unknown verb"):
        image_verb("sharpen")
    with pytest.raises(ConfigError, match="bundle="):
        image_verb("predict")
