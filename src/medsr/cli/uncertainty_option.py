"""The expected-error options shared by ``enhance`` and ``predict``: the interval half-width,
the unsure mask, the threshold, and the one-line trust summary printed after each image."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from medsr.batch import companion

INTERVAL_LEVELS = (0.5, 0.8, 0.9, 0.95)


def add_uncertainty_flags(group: Any, *, optional_map: bool) -> None:
    """``--uncertainty`` (predict only: the map costs 2 runs), ``--uncertainty-interval``,
    ``--flag-unsure``, ``--unsure-threshold``."""
    if optional_map:
        group.add_argument(
            "--uncertainty",
            action="store_true",
            help="also write OUT_uncertainty: the expected |error| per voxel (the bundle on the image and "
            "its 180° rotation, calibrated on its validation crops; the output becomes their mean; about "
            "3× the time)",
        )
    group.add_argument(
        "--uncertainty-interval",
        type=float,
        choices=INTERVAL_LEVELS,
        default=None,
        metavar="LEVEL",
        help=f"also write OUT_interval<LEVEL> (half-width of that calibrated interval; one of {INTERVAL_LEVELS})",
    )
    group.add_argument(
        "--flag-unsure",
        action="store_true",
        help="also write OUT_unsure: a mask of the foreground voxels whose expected error exceeds the threshold",
    )
    group.add_argument(
        "--unsure-threshold",
        type=float,
        default=None,
        metavar="VALUE",
        help="expected |error| (image units) above which a voxel is unsure (default: 20 HU for CT, "
        "else 5%% of the intensity window)",
    )


def wants_map(args: argparse.Namespace) -> bool:
    """Whether this run computes the expected-error map (predict: any of the options asks for it)."""
    return bool(
        getattr(args, "uncertainty", True)
        or getattr(args, "uncertainty_interval", None)
        or getattr(args, "flag_unsure", False)
    )


def float_map(output: Path, tag: str) -> Path:
    """The companion of ``output`` for a map in image units: PNG, TIFF and JPEG hold integers
    only, so the map of a photograph or radiograph is a 2D NRRD beside it (spacing kept).

    Example:
        >>> float_map(Path("sr.png"), "uncertainty").name, float_map(Path("sr.nii.gz"), "uncertainty").name
        ('sr_uncertainty.nrrd', 'sr_uncertainty.nii.gz')
    """
    path = companion(output, tag)
    if path.suffix.lower() in (".png", ".tif", ".tiff", ".jpg", ".jpeg"):
        return path.with_suffix(".nrrd")
    return path


def extra_maps(output: Path, args: argparse.Namespace) -> list[tuple[str, Path]]:
    """``(kind, path)`` of the optional maps: the interval half-width and the unsure mask."""
    out = []
    if getattr(args, "uncertainty_interval", None):
        out.append(("interval", float_map(output, f"interval{round(100 * args.uncertainty_interval)}")))
    if getattr(args, "flag_unsure", False):
        out.append(("unsure", companion(output, "unsure")))
    return out


def map_outputs(output: Path, args: argparse.Namespace) -> list[tuple[Path, bool]]:
    """Every ``(path, is_folder)`` of the maps (and their sidecars) one image writes."""
    from medsr.io.sidecar import sidecar_path

    if not wants_map(args):
        return []
    paths = [float_map(output, "uncertainty")] + [p for _, p in extra_maps(output, args)]
    return [q for p in paths for q in ((p, False), (sidecar_path(p), False))]


def _map_image(kind: str, result: Any, level: float | None, threshold: float) -> Any:
    import numpy as np

    from medsr.trust import unsure_mask

    if kind == "uncertainty":
        return result.uncertainty
    if kind == "interval":
        return result.interval(level)
    worst = result.uncertainty.data.max(axis=0)
    flagged = unsure_mask(worst, result.foreground, threshold)
    return result.uncertainty.with_data(flagged[None].astype(np.uint8))


def write_maps(result: Any, output: Path, args: argparse.Namespace, side: dict, base: Any, stage: Any) -> None:
    """Write the map and the optional ones into ``stage``; name them in the image's ``side``car
    (``side["uncertainty"]["files"]``: kind → path).

    ``base(**fields)`` makes each map's own sidecar."""
    from medsr.io import write

    level = getattr(args, "uncertainty_interval", None)
    unc = side.setdefault("uncertainty", {})
    threshold = float(unc["trust"]["threshold"])
    maps = [("uncertainty", float_map(output, "uncertainty")), *extra_maps(output, args)]
    for kind, path in maps:
        write(
            _map_image(kind, result, level, threshold),
            path,
            dtype="uint8" if kind == "unsure" else "float32",
            overwrite=args.overwrite,
            stage=stage,
            sidecar=base(**{f"{kind}_of": str(output)}),
        )
        unc.setdefault("files", {})[kind] = str(path)


def trust_line(unc: dict) -> str:
    """One line for the screen: the trust summary and the calibration's held-out coverage."""
    t = unc.get("trust") or {}
    if not t:
        return "trust: no uncertainty summary"
    units = t.get("units") or ""
    cov = ((unc.get("calibration") or {}).get("model") or {}).get("coverage_90")
    how = f"; 90% interval covered {cov:.0%} of held-out voxels" if cov is not None else "; map uncalibrated"
    return (
        f"trust: {t['unsure_fraction']:.1%} of the foreground expected to be off by more than "
        f"{t['threshold']:.4g} {units} (median expected error {t['median_expected_error']:.3g} {units}){how}"
    )
