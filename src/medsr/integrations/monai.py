"""MONAI transforms that run a medsr verb: ``upsample``, ``predict``, ``enhance`` or ``degrade``.

:class:`Medsr` takes a ``MetaTensor`` (channel-first, or straight from ``LoadImage``) and returns
one on the new grid with its affine in the input's space; :class:`Medsrd` does the same for
the given keys of a dictionary and carries ``label_keys`` onto the first result's grid by
nearest neighbour. ``enhance`` returns the image; :class:`Medsrd` also stores
``<key>_uncertainty``.

Example:
    >>> from monai.transforms import Compose, LoadImaged, EnsureChannelFirstd, SaveImaged  # doctest: +SKIP
    >>> from medsr.integrations.monai import Medsrd  # doctest: +SKIP
    >>> pipe = Compose([LoadImaged("image"), EnsureChannelFirstd("image"),  # doctest: +SKIP
    ...                 Medsrd("image", "upsample", factors=(1, 1, 4)), SaveImaged("image")])
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, cast

from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform

from medsr.image import Image
from medsr.interop import adapt
from medsr.verbs import image_verb


class Medsr(Transform):
    """Array form: ``Medsr("upsample", factors=(1, 1, 4))(meta_tensor)``."""

    def __init__(self, verb: str, **options: Any) -> None:
        self.verb = verb
        self._run = image_verb(verb, **options)

    def __call__(self, img: Any) -> Any:
        image, back = adapt(img)
        return back(_image_of(self._run(image)))


class Medsrd(MapTransform):
    """Dictionary form: ``Medsrd("image", "enhance", steps=200, label_keys="label")``."""

    def __init__(
        self,
        keys: KeysCollection,
        verb: str,
        label_keys: KeysCollection = (),
        allow_missing_keys: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.verb = verb
        self.label_keys: Sequence[Hashable] = (
            [label_keys] if isinstance(label_keys, str) else list(cast(Iterable[Hashable], label_keys))
        )
        self._run = image_verb(verb, **options)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        from medsr.baselines import resample_to_grid

        d = dict(data)
        grid = None
        for key in self.key_iterator(d):
            image, back = adapt(d[key])
            result = self._run(image)
            out = _image_of(result)
            d[key] = back(out)
            grid = grid or out.grid
            if getattr(result, "uncertainty", None) is not None:
                d[f"{key}_uncertainty"] = back(result.uncertainty)
        for key in self.label_keys:
            if key in d and grid is not None:
                labels, back = adapt(d[key])
                d[key] = back(resample_to_grid(labels, grid, "nearest"))
        return d


def _image_of(result: Any) -> Image:
    return result if isinstance(result, Image) else result.image
