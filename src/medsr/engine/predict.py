"""Apply a model bundle to an Image: normalise, tile, run, stitch, denormalise, place on the grid.

The output lies on :func:`medsr.geometry.upsample_grid` of the input grid with the per-axis
factors of the bundle (field of view preserved): LR voxel ``j`` becomes HR voxels
``j·f … j·f + f - 1``, centred on it, which is exactly where a per-axis pixel shuffle puts its
sub-pixels. 2D images run a 2D architecture on the XY plane; volumes with a 2D architecture run
it slice by slice (the thick axis in-plane for through-plane models, see
:mod:`medsr.engine.layout`); 3D architectures run on 3D tiles. The tiling halo defaults to the
model's receptive-field radius, which makes the result independent of the tile size.

Example:
    >>> sr = predict(medsr.read("t1_thick.nii.gz"), "t1_z4.safetensors", tile=96)  # doctest: +SKIP
    >>> sr.spacing                                                                 # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from medsr.engine.device import check_dtype, resolve_device, set_threads
from medsr.engine.layout import Layout, plan_layout, to_batch
from medsr.engine.runner import run_tiled
from medsr.errors import BundleError, ConfigError, InvalidImageError
from medsr.geometry import upsample_grid
from medsr.image import Image

log = logging.getLogger(__name__)
BACKENDS = ("torch", "onnx", "onnx-int8")


def predict(
    image: Image,
    bundle: Any,
    *,
    device: str = "auto",
    tile: int | None = None,
    overlap: int | None = None,
    dtype: str = "float32",
    backend: str = "torch",
    mask: np.ndarray | str | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    halo: int | None = None,
    blend: str = "gaussian",
    axes: Sequence[int] | None = None,
    threads: int | None = None,
) -> Image:
    """Super-resolve ``image`` with a bundle (a :class:`~medsr.models.bundle.Bundle` or a path).

    2.5D bundles (``meta.neighbours > 0``) go through :func:`medsr.engine.slab.predict_slab`;
    bundles saved by ``enhance --save-model`` through :func:`medsr.selfsup.enhance.enhance` with
    ``steps=0`` (:mod:`medsr.selfsup.cohort`; tiling options do not apply).

    Args:
        image: input ``(C, X, Y, Z)``; C must equal the bundle's (image) channels.
        bundle: loaded bundle, path to a ``.safetensors`` bundle, or a bundle name
            (:func:`medsr.models.zoo.resolve_model`).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        tile: LR core edge (voxels) on the architecture's axes; default the descriptor's.
        overlap: LR voxels shared by neighbouring tiles; default 0 with an exact halo, else tile/8.
        dtype: ``"float32"`` or ``"bfloat16"`` (torch autocast; falls back to float32, logged,
            where bf16 is not native).
        backend: ``"torch"``, ``"onnx"`` (onnxruntime, float32) or ``"onnx-int8"`` (static int8,
            calibrated on 8 tiles of this image).
        mask: LR boolean ``(X, Y, Z)`` or ``"auto"`` (:func:`medsr.mask.foreground_mask`); tiles
            without foreground are nearest-neighbour upsampled instead of run.
        out_dir: folder for a memory-mapped output (outputs larger than RAM).
        progress: ``progress(done, total)`` after each tile.
        halo: LR context per side; default the model's receptive-field radius (exact).
        blend: ``"gaussian"``, ``"hann"`` or ``"none"`` for overlaps.
        axes: image axes fed to the architecture's axes (see :func:`plan_layout`).
        threads: intra-op threads (torch and onnxruntime).

    Returns:
        A new Image on ``upsample_grid(image.grid, factors)`` in the input's units, with the
        operation appended to ``meta.history``.
    """
    b = _load(bundle)
    if "enhance_plan" in b.meta.extra:  # cohort mode: a network saved by enhance --save-model
        from medsr.selfsup.enhance import enhance

        return enhance(image, init=b.path, steps=0, device=device, threads=threads).image
    options: dict[str, Any] = dict(
        device=device,
        tile=tile,
        overlap=overlap,
        dtype=dtype,
        backend=backend,
        mask=mask,
        out_dir=out_dir,
        progress=progress,
        halo=halo,
        blend=blend,
        axes=axes,
        threads=threads,
    )
    if b.meta.neighbours > 0:
        from medsr.engine.slab import predict_slab

        return predict_slab(image, b, _predict, **options)
    return _predict(image, b, **options)


def _predict(
    image: Image,
    b: Any,
    *,
    device: str,
    tile: int | None,
    overlap: int | None,
    dtype: str,
    backend: str,
    mask: np.ndarray | str | None,
    out_dir: str | os.PathLike[str] | None,
    progress: Callable[[int, int], None] | None,
    halo: int | None,
    blend: str,
    axes: Sequence[int] | None,
    threads: int | None,
) -> Image:
    """The engine on one bundle's own channels (see :func:`predict`)."""
    desc, meta = b.descriptor, b.meta
    if desc.input_grid != "lr":
        raise BundleError(
            b.path,
            f"architecture {desc.name!r} expects input already on the output grid",
            "use medsr.enhance, or a bundle of an LR-grid architecture",
        )
    if image.channels != meta.channels:
        raise BundleError(
            b.path,
            f"bundle expects {meta.channels} channel(s), the image has {image.channels}",
            "convert the image to grey or RGB as the bundle expects",
        )
    if backend not in BACKENDS:
        raise ConfigError(None, f"unknown backend {backend!r}", f"use one of {', '.join(BACKENDS)}")
    image.check_finite()
    _warn_domain(image, meta, b.path or meta.name or "the bundle")
    layout = plan_layout(image.shape, image.spacing, image.is_2d, desc.spatial_dims, meta.factors, axes)
    norm = _normalizer(image, meta.normalization)
    data = norm.forward(image.data).astype(np.float32, copy=False) if norm else image.data.astype(np.float32)
    model_halo = int(getattr(b.model, "halo", desc.halo))
    h = model_halo if halo is None else int(halo)
    t = int(tile or desc.default_tile)
    ov = int(overlap) if overlap is not None else (0 if h >= model_halo else max(1, t // 8))
    tiles, halos, overlaps = _per_axis(layout, image.shape, t, h, ov)
    lr_mask = _mask(image, mask)
    n_threads = set_threads(threads)
    dev = resolve_device(device)
    dt = check_dtype(dtype, dev)
    fn = _block_fn(b, layout, backend, dev, dt, exact=h >= model_halo, data=data, threads=n_threads)
    out = run_tiled(
        fn,
        data,
        layout.scale,
        tile=tiles,
        overlap=overlaps,
        halo=halos,
        blend=blend,
        mask=lr_mask,
        out=out_dir,
        progress=progress,
        size_multiple=desc.size_multiple,
    )
    if norm is not None:
        norm.inverse_(out)
    grid = upsample_grid(image.grid, factors=layout.scale)
    thick = image.meta.slice_thickness if layout.scale[2] == 1 else float(grid.spacing[2])
    result = image.with_data(out, grid=grid, slice_thickness=thick)
    result.meta.history.append(
        {
            "op": "predict",
            "arch": meta.arch,
            "bundle": b.path,
            "bundle_name": meta.name,
            "factors": list(layout.scale),
            "arch_axes": list(layout.arch_axes),
            "tile": t,
            "halo": h,
            "overlap": ov,
            "blend": blend,
            "backend": backend,
            "dtype": dt,
            "device": str(dev),
            "normalization": norm.to_dict() if norm is not None else None,
            "masked": lr_mask is not None,
            "intended_use": meta.intended_use,
        }
    )
    return result


def _load(bundle: Any) -> Any:
    from medsr.models.bundle import Bundle, load_model
    from medsr.models.zoo import resolve_model

    return bundle if isinstance(bundle, Bundle) else load_model(resolve_model(bundle))


def _per_axis(layout: Layout, shape: Sequence[int], t: int, h: int, ov: int) -> tuple[list[int], list[int], list[int]]:
    tiles, halos, overlaps = [t, t, t], [h, h, h], [ov, ov, ov]
    if layout.batch_axis is not None:
        s = layout.batch_axis
        plane = int(np.prod([min(t, shape[a]) for a in layout.arch_axes]))
        tiles[s] = max(1, min(int(shape[s]), (t * t) // max(1, plane)))
        halos[s], overlaps[s] = 0, 0
    return tiles, halos, overlaps


def _block_fn(
    b: Any, layout: Layout, backend: str, dev: Any, dtype: str, *, exact: bool, data: np.ndarray, threads: int
) -> Callable[[np.ndarray], np.ndarray]:
    if backend == "torch":
        from medsr.engine.torch_backend import TorchBlockFn, prepare_model

        model = prepare_model(b.model, device=dev, zero_padding=exact)
        return TorchBlockFn(model, layout=layout, device=dev, dtype=dtype)
    if dtype != "float32":
        raise ConfigError(None, f"backend {backend!r} runs float32 only, not {dtype}", "use --dtype float32")
    from medsr.engine.onnx_backend import OnnxBlockFn
    from medsr.engine.onnx_export import onnx_bytes

    onnx_model = onnx_bytes(b, zero_padding=exact)
    if backend == "onnx-int8":
        onnx_model = _int8(onnx_model, data, layout)
    return OnnxBlockFn(onnx_model, layout=layout, threads=threads)


def _int8(onnx_model: bytes, data: np.ndarray, layout: Layout) -> bytes:
    import tempfile
    from pathlib import Path

    from medsr.engine.quantize import calibration_tiles, quantize_onnx

    crop = [1, 1, 1] if layout.batch_axis is not None else [64, 64, 64]
    for a in layout.arch_axes:
        crop[a] = 64 if layout.batch_axis is not None else 32
    calib = [to_batch(c, layout) for c in calibration_tiles(data, crop, n=8)]
    with tempfile.TemporaryDirectory(prefix="medsr-int8-") as tmp:
        dst = Path(tmp) / "int8.onnx"
        quantize_onnx(onnx_model, dst, calib)
        return dst.read_bytes()


def _normalizer(image: Image, record: dict[str, Any]) -> Any:
    """The bundle's normaliser; percentile windows are re-fitted on this image."""
    if not record:
        log.info("bundle records no normalisation; the image is used as it is")
        return None
    from medsr.intensity import Normalizer

    norm = Normalizer.from_dict(record)
    if norm.mode == "percentile":
        pct = norm.params.get("percentiles", (0.5, 99.5))
        return Normalizer.fit(image, "percentile", percentiles=pct)
    return norm


def _mask(image: Image, mask: np.ndarray | str | None) -> np.ndarray | None:
    if mask is None:
        return None
    if isinstance(mask, str):
        if mask != "auto":
            raise ConfigError(None, f"mask {mask!r} is not understood", "pass an array or 'auto'")
        from medsr.mask import foreground_mask

        return foreground_mask(image)
    m = np.asarray(mask, dtype=bool)
    if m.shape != tuple(image.shape):
        raise InvalidImageError(
            image.meta.source_path,
            f"mask shape {m.shape} differs from the image {image.shape}",
            "give a mask on the input grid",
        )
    return m


def _warn_domain(image: Image, meta: Any, path: str | None) -> None:
    if meta.modality and image.meta.modality not in meta.modality:
        log.warning(
            "bundle %s was trained on %s, the image is %s: results may be unreliable",
            path,
            "/".join(meta.modality),
            image.meta.modality,
        )
    if meta.spacing_range_mm:
        axes = 2 if image.is_2d else 3
        for a in range(axes):
            lo, hi = meta.spacing_range_mm[a]
            s = float(image.spacing[a])
            if not lo - 1e-6 <= s <= hi + 1e-6:
                log.warning(
                    "input spacing %.4g mm along axis %s lies outside the bundle's range %.4g-%.4g mm",
                    s,
                    "XYZ"[a],
                    lo,
                    hi,
                )
