"""Label maps onto a finer grid without mixing labels: per-label shape-based interpolation
(Raya and Udupa, IEEE TMI 1990; Herman et al., IEEE CG&A 1992).

Between two acquired slices every label present in either is interpolated through its signed
distance (in mm, negative inside) and each voxel goes to the label that is deepest inside there;
where no label is inside it is background (0). An object that is absent from the next slice
shrinks onto its own core (the points deepest inside it) instead of vanishing at once.
Consequences, each tested:

* only values of the input appear, and a voxel carries one label;
* acquired positions (output slices at an LR slice centre, e.g. every 5th at ×5) equal the input
  exactly;
* a label's work is confined to its bounding box, so 100+ labels cost little more than one.

Through-plane only: axes the output refines within a slice are resampled nearest-neighbour.
ITK's ``MorphologicalContourInterpolator`` (Zukić et al., Insight Journal 2016) was evaluated
first (docs/comparison.md): it fills unlabelled slices of a sparse annotation on the same grid,
needs the whole ``itk`` package and an HR canvas, and treats a slice with no label as missing.

Example:
    >>> import numpy as np
    >>> from medsr.image import Image
    >>> from medsr.geometry import upsample_grid
    >>> seg = np.zeros((1, 9, 9, 2), np.float32); seg[0, 2:7, 2:7, 0] = 3; seg[0, 4, 4, 1] = 3
    >>> lab = Image(seg, spacing=(1, 1, 5))
    >>> up = upsample_labels(lab, upsample_grid(lab.grid, factors=(1, 1, 5)))
    >>> sorted(np.unique(up.data).tolist()), [int((up.data[0, :, :, k] == 3).sum()) for k in (2, 4, 6, 7)]
    ([0.0, 3.0], [25, 9, 1, 1])
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from medsr.classical.slices import inplane_grid, interpolate_slices, slice_positions
from medsr.errors import InvalidImageError
from medsr.geometry import Grid, same_grid
from medsr.image import Image

#: Most distinct labels accepted (DICOM-SEG segment numbers are 16-bit).
MAX_LABELS = 65535


def check_labels(seg: Image) -> np.ndarray:
    """The distinct labels of ``seg``; refuses what is not a label map."""
    path = seg.meta.source_path
    if seg.channels != 1:
        raise InvalidImageError(path, f"a label map has one channel, got {seg.channels}", "pass a single label image")
    data = seg.data
    if not np.all(np.isfinite(data)) or not np.array_equal(data, np.round(data)):
        raise InvalidImageError(
            path,
            f"labels must be whole numbers, but this image holds non-integer values "
            f"(stored as {seg.meta.source_dtype})",
            "pass an integer label map (a segmentation), not an intensity image",
        )
    values = np.unique(data)
    if values.min() < 0 or values.size > MAX_LABELS + 1:
        raise InvalidImageError(
            path,
            f"labels must be 0..{MAX_LABELS}, got {values.size} values from {values.min():g} to {values.max():g}",
            "pass a label map with non-negative labels (0 is background)",
        )
    return values


def _signed_distance(mask: np.ndarray, sampling: tuple[float, float]) -> np.ndarray:
    from scipy import ndimage

    inside = ndimage.distance_transform_edt(mask, sampling=sampling)
    outside = ndimage.distance_transform_edt(~mask, sampling=sampling)
    return (outside - inside).astype(np.float32)


def _core_distance(d_other: np.ndarray, sampling: tuple[float, float]) -> np.ndarray:
    """For a slice without the label: distance to the other slice's core (its deepest points)."""
    from scipy import ndimage

    core = d_other <= d_other.min() + 1e-6
    return ndimage.distance_transform_edt(~core, sampling=sampling).astype(np.float32)


class _LabelPairs:
    def __init__(self, sampling: tuple[float, float]) -> None:
        self.sampling = sampling

    def _distances(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not a.any():  # only b holds the label here (the caller's box is non-empty)
            db = _signed_distance(b, self.sampling)
            return _core_distance(db, self.sampling), db
        da = _signed_distance(a, self.sampling)
        return da, (_signed_distance(b, self.sampling) if b.any() else _core_distance(da, self.sampling))

    def __call__(self, a: np.ndarray, b: np.ndarray, ts: np.ndarray) -> list[np.ndarray]:
        out = [np.zeros(a.shape, np.float32) for _ in ts]
        depth = [np.zeros(a.shape, np.float32) for _ in ts]  # best (most negative) distance so far
        for label in np.setdiff1d(np.union1d(np.unique(a), np.unique(b)), [0]):
            both = (a == label) | (b == label)
            rows, cols = np.flatnonzero(both.any(1)), np.flatnonzero(both.any(0))
            box = (slice(max(rows[0] - 1, 0), rows[-1] + 2), slice(max(cols[0] - 1, 0), cols[-1] + 2))
            da, db = self._distances(a[box] == label, b[box] == label)
            for k, t in enumerate(ts):
                d = (1.0 - t) * da + t * db
                win = d < depth[k][box]
                out[k][box][win] = label
                depth[k][box][win] = d[win]
        return out


def upsample_labels(seg: Image, grid: Grid, progress: Callable[[int, int], None] | None = None) -> Image:
    """The label map ``seg`` (1, X, Y, Z) on ``grid`` (same direction and field of view, finer);
    float32 holding the input's labels, ``meta.source_dtype`` kept for writing."""
    check_labels(seg)
    from medsr.baselines import resample_to_grid
    from medsr.budget import check_fits

    check_fits(
        12 * int(np.prod(grid.shape)),
        f"label upsampling onto the {'×'.join(map(str, grid.shape))} grid",
        seg.meta.source_path,
        "choose smaller factors or crop the label map",
    )

    factors = np.asarray(seg.spacing) / np.asarray(grid.spacing)
    axis = int(np.argmax(factors)) if not seg.is_2d else 0
    inter = inplane_grid(seg.grid, grid, axis)
    base = seg if same_grid(inter, seg.grid) else resample_to_grid(seg, inter, "nearest")
    if grid.shape[axis] == base.shape[axis] and np.isclose(grid.spacing[axis], base.spacing[axis]):
        data = base.data[0]
    else:
        sampling = tuple(float(s) for i, s in enumerate(grid.spacing) if i != axis)
        pairs = _LabelPairs((sampling[0], sampling[1]))
        data = interpolate_slices(base.data[0], axis, slice_positions(base.grid, grid, axis), pairs, progress)
    out = seg.with_data(data[None].astype(np.float32), grid=grid)
    out.meta.history.append({"op": "upsample_labels", "method": "shape-based (per label)", "axis": axis})
    return out
