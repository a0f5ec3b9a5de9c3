"""2.5D bundles: trained on slabs, applied slice by slice with their neighbours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medsr.engine.slab import stack_neighbours
from medsr.image import Image, ImageMeta

torch = pytest.importorskip("torch")


def test_stack_neighbours_is_slice_major_with_repeated_edges() -> None:
    data = np.stack([np.full((2, 3, 4), 10 * c) + np.arange(4) for c in range(2)]).astype(np.float32)
    out = stack_neighbours(Image(data), 1, 2)
    assert out.channels == 6
    z = out.data[:, 0, 0, :]
    assert z[0].tolist() == [0, 0, 1, 2] and z[1].tolist() == [10, 10, 11, 12]  # slice -1: channels 0, 1
    assert z[2].tolist() == [0, 1, 2, 3] and z[5].tolist() == [11, 12, 13, 13]  # centre, then slice +1


def test_2_5d_bundle_trains_and_predicts_a_volume(tmp_path: Path) -> None:
    import medsr
    from medsr.io import write
    from medsr.models.bundle import load_model
    from medsr.train import config_from_dict, train

    rng = np.random.default_rng(0)
    vol = (100 * rng.random((1, 32, 32, 6))).astype(np.float32)
    (tmp_path / "hr").mkdir()
    write(Image(vol, spacing=(0.5, 0.5, 2.0), meta=ImageMeta(modality="MR")), tmp_path / "hr" / "v.nii.gz")
    cfg = config_from_dict(
        {
            "data": {"train": str(tmp_path / "hr"), "val": str(tmp_path / "hr")},
            "degradation": {"factors": [2, 2, 1]},
            "patches": {"mode": "2.5d", "size": [16, 16], "batch_size": 2, "neighbours": 1},
            "model": {"arch": "fast", "kwargs": {"width": 4, "depth": 1}},
            "optim": {"steps": 2, "warmup_steps": 1},
            "run": {"threads": 1, "device": "cpu", "val_crops": 1, "val_crop_size": [16, 16]},
        }
    )
    result = train(cfg, tmp_path / "run")
    bundle = load_model(result.bundle)
    meta = bundle.meta
    assert meta.channels == 3 and (meta.neighbours, meta.slice_axis, meta.image_channels) == (1, 2, 1)
    lr = Image(vol[:, ::2, ::2], spacing=(1.0, 1.0, 2.0), meta=ImageMeta(modality="MR"))
    sr = medsr.predict(lr, bundle, device="cpu")  # the documented Python call, as in docs/training.md
    assert sr.channels == 1 and sr.shape == (32, 32, 6)
    # the centre plane of each slab is what comes out: compare with the slab of slice 3 by hand
    x = torch.from_numpy(np.stack([lr.data[0, :, :, z] for z in (2, 3, 4)])[None])
    norm = bundle.meta.normalization
    scale = norm["hi"][0] - norm["lo"][0]
    with torch.no_grad():
        y = bundle.model((x - norm["lo"][0]) / scale)[0, 1].numpy() * scale + norm["lo"][0]
    inner = (slice(8, -8), slice(8, -8))  # the engine pads borders by reflection, the raw model by replication
    np.testing.assert_allclose(sr.data[0][inner + (3,)], y[inner], rtol=1e-4, atol=1e-2)
