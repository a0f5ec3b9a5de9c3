"""The public verbs, for any image kind: each takes what :mod:`medsr.interop` reads and
returns the kind it was given (numpy, torch, SimpleITK, nibabel, TorchIO, MONAI or
:class:`~medsr.image.Image`), with the affine in that library's convention.

Arrays carry no geometry: give ``input_spacing=`` (mm per axis) and/or ``input_affine=``
(4×4, LPS). The work itself is done by :func:`medsr.baselines.upsample`,
:func:`medsr.acquisition.degrade`, :func:`medsr.selfsup.enhance.enhance` and
:func:`medsr.engine.predict.predict`, whose arguments these pass on.

Example:
    >>> import numpy as np
    >>> up = upsample(np.ones((4, 4, 3), np.float32), factors=(1, 1, 2), input_spacing=(1, 1, 2))
    >>> type(up).__name__, up.shape
    ('ndarray', (4, 4, 6))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from numpy.typing import ArrayLike

from medsr.errors import ConfigError
from medsr.image import Image
from medsr.interop import apply, to_image

Spacing = ArrayLike | None


def upsample(data: Any, *, input_spacing: Spacing = None, input_affine: Spacing = None, **options: Any) -> Any:
    """Interpolate ``data`` (``factors=``/``spacing=``/``method=``, see :func:`medsr.baselines.upsample`)."""
    return apply(image_verb("upsample", **options), data, spacing=input_spacing, affine=input_affine)


def degrade(
    data: Any,
    factors: ArrayLike | float,
    *,
    input_spacing: Spacing = None,
    input_affine: Spacing = None,
    **options: Any,
) -> Any:
    """Simulate a thick-slice acquisition of ``data`` (see :func:`medsr.acquisition.degrade`)."""
    return apply(image_verb("degrade", factors=factors, **options), data, spacing=input_spacing, affine=input_affine)


def enhance(
    data: Any, config: Any = None, *, input_spacing: Spacing = None, input_affine: Spacing = None, **options: Any
) -> Any:
    """Zero-data SR of ``data``'s thick axis (see :func:`medsr.selfsup.enhance.enhance`); the
    returned :class:`~medsr.selfsup.enhance.EnhanceResult` holds ``image`` and ``uncertainty``
    of ``data``'s kind (a TorchIO Subject gains ``<name>_uncertainty`` entries instead)."""
    return apply(image_verb("enhance", config=config, **options), data, spacing=input_spacing, affine=input_affine)


def predict(
    data: Any, bundle: Any, *, input_spacing: Spacing = None, input_affine: Spacing = None, **options: Any
) -> Any:
    """Super-resolve ``data`` with a model bundle (see :func:`medsr.engine.predict.predict`)."""
    return apply(image_verb("predict", bundle=bundle, **options), data, spacing=input_spacing, affine=input_affine)


def evaluate(reference: Any, predictions: Any, **options: Any) -> dict[str, Any]:
    """Score predictions of any kind against a reference (see :func:`medsr.evaluation.evaluate`).
    Arrays need no geometry when the reference is an array of the same grid."""
    from medsr.evaluation import evaluate as run
    from medsr.interop import kind

    many = isinstance(predictions, Sequence) and not isinstance(predictions, str) and kind(predictions) == "unknown"
    preds = [to_image(p) for p in predictions] if many else to_image(predictions)
    return run(to_image(reference), preds, **options)


#: The verbs that transforms (:mod:`medsr.integrations`) can run, their implementations and
#: the option each one needs.
_IMPLEMENTATIONS = {
    "upsample": ("medsr.baselines:upsample", None),
    "predict": ("medsr.engine.predict:predict", ("bundle", "bundle='model.safetensors'")),
    "enhance": ("medsr.selfsup.enhance:enhance", None),
    "degrade": ("medsr.acquisition:degrade", ("factors", "factors=(1, 1, 4)")),
}
TRANSFORM_VERBS = tuple(_IMPLEMENTATIONS)


def image_verb(name: str, **options: Any) -> Callable[[Image], Any]:
    """The Image → result function of verb ``name`` with ``options`` bound (``bundle=`` for
    ``predict``, ``factors=`` for ``degrade``); ConfigError for an unknown verb.

    Example:
        >>> import numpy as np
        >>> f = image_verb("upsample", factors=(1, 1, 2))
        >>> f(Image(np.zeros((1, 2, 2, 2), np.float32))).shape
        (2, 2, 4)
    """
    from importlib import import_module

    if name not in _IMPLEMENTATIONS:
        raise ConfigError(None, f"unknown verb {name!r}", f"use one of {', '.join(TRANSFORM_VERBS)}")
    target, needs = _IMPLEMENTATIONS[name]
    if needs is not None and needs[0] not in options:
        raise ConfigError(None, f"the {name} transform needs {needs[0]}=", f"pass {needs[1]}")
    module, attr = target.split(":")
    run = getattr(import_module(module), attr)
    return lambda image: run(image, **options)
