"""What links a derived DICOM series to its source: references, derivation codes, equipment.

Each output slice gets (PS3.3 C.7.6.1, C.12.2, C.12.4):

* ``SourceImageSequence``: the source instances within one source slice spacing of it (at
  least the nearest), each with purpose (121322, DCM, "Source image for image processing
  operation");
* ``DerivationCodeSequence``: (113085, DCM, "Spatial resampling");
* ``ReferencedSeriesSequence`` (Common Instance Reference): the source series and all its
  instances;
* ``ContributingEquipmentSequence``: medsr and its version as (109103, DCM, "Modifying
  Equipment").

``method_label`` names what made the image (verb, method, bundle or slice profile) for the
SeriesDescription and DerivationDescription.

Example:
    >>> code_item("113085", "DCM", "Spatial resampling").CodeMeaning
    'Spatial resampling'
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np

from medsr.image import Image

SOURCE_PURPOSE = ("121322", "DCM", "Source image for image processing operation")
SPATIAL_RESAMPLING = ("113085", "DCM", "Spatial resampling")
MODIFYING_EQUIPMENT = ("109103", "DCM", "Modifying Equipment")


def code_item(value: str, scheme: str, meaning: str) -> Any:
    """One item of a code sequence."""
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _instance(uid: str, sop_class: str, purpose: bool) -> Any:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = sop_class, uid
    if purpose:
        item.PurposeOfReferenceCodeSequence = [code_item(*SOURCE_PURPOSE)]
    return item


def _sources(image: Image) -> list[list[Any]]:
    return [s for s in image.meta.header.get("source_instances") or [] if len(s) >= 2 and s[0] and s[1]]


def add_series_references(ds: Any, image: Image, description: str) -> None:
    """Set the references and codes shared by every slice of the derived series."""
    from pydicom.dataset import Dataset

    from medsr import __version__

    ds.DerivationCodeSequence = [code_item(*SPATIAL_RESAMPLING)]
    sources = _sources(image)
    series_uid = image.meta.header.get("series_instance_uid")
    if sources and series_uid:
        series = Dataset()
        series.SeriesInstanceUID = series_uid
        series.ReferencedInstanceSequence = [_instance(s[0], s[1], purpose=False) for s in sources]
        ds.ReferencedSeriesSequence = [series]
    equipment = Dataset()
    equipment.PurposeOfReferenceCodeSequence = [code_item(*MODIFYING_EQUIPMENT)]
    equipment.Manufacturer = "medsr developers"
    equipment.ManufacturerModelName = "medsr"
    equipment.SoftwareVersions = __version__
    equipment.ContributionDateTime = _dt.datetime.now().strftime("%Y%m%d%H%M%S")
    equipment.ContributionDescription = description[:1024]
    ds.ContributingEquipmentSequence = [equipment]


def source_items(image: Image, position: np.ndarray | None) -> list[Any]:
    """SourceImageSequence items for the output slice at ``position`` (LPS mm): the source
    instances within one source spacing along the slice normal, at least the nearest."""
    sources = _sources(image)
    if not sources:
        return []
    located = [s for s in sources if len(s) == 5]
    if position is None or len(located) != len(sources):
        return [_instance(s[0], s[1], purpose=True) for s in sources]
    normal = image.direction[:, 2]
    along = np.array([np.asarray(s[2:], dtype=np.float64) @ normal for s in located]) - float(position @ normal)
    spacing = float((image.meta.header.get("source_spacing") or [0, 0, 0])[2]) or float(image.spacing[2])
    near = np.flatnonzero(np.abs(along) <= spacing * (1 + 1e-6))
    chosen = near if near.size else [int(np.argmin(np.abs(along)))]
    return [_instance(located[i][0], located[i][1], purpose=True) for i in chosen]


def method_label(image: Image, sidecar: dict[str, Any]) -> str:
    """What made ``image``, e.g. ``enhance, rect profile 5 mm, Z ×5`` or ``predict ct-inplane-x2``."""
    record = image.meta.history[-1] if image.meta.history else {}
    op = str(sidecar.get("command") or record.get("op") or "SR")
    if op == "predict":
        return f"predict {sidecar.get('bundle_name') or record.get('bundle') or 'bundle'}".strip()
    if op == "enhance":
        profile = (sidecar.get("plan") or {}).get("profile") or {}
        kind = profile.get("kind") or "rect"
        thick = profile.get("thickness_mm")
        axis, factor = record.get("thick_axis", ""), record.get("factor")
        parts = [f"{kind} profile" + (f" {float(thick):.3g} mm" if thick else "")]
        if factor:
            parts.append(f"{axis} ×{float(factor):.3g}")
        return "enhance, " + ", ".join(parts)
    method = sidecar.get("method") or record.get("method")
    return f"{op} {method}" if method else op
