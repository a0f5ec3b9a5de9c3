"""A TorchIO transform that runs a medsr verb: ``upsample``, ``predict``, ``enhance`` or ``degrade``.

Every ``ScalarImage`` of the subject goes through the verb; ``LabelMap`` entries are carried to
the new grid by nearest neighbour, so image and labels stay aligned (TorchIO's RAS affine is
converted exactly to medsr's LPS and back). ``enhance`` adds ``<name>_uncertainty`` images.
Like any TorchIO transform it takes a Subject, a ScalarImage, a 4D tensor, a SimpleITK or a
nibabel image and returns the same type.

Example:
    >>> import torch, torchio as tio  # doctest: +SKIP
    >>> from medsr.integrations.torchio import MedsrTransform  # doctest: +SKIP
    >>> pipe = tio.Compose([tio.ZNormalization(), MedsrTransform("upsample", factors=(1, 1, 4))])  # doctest: +SKIP
    >>> pipe(tio.ScalarImage(tensor=torch.rand(1, 32, 32, 8))).shape  # doctest: +SKIP
    (1, 32, 32, 32)
"""

from __future__ import annotations

from typing import Any

import torchio as tio

from medsr.interop.torchio_images import map_subject
from medsr.verbs import image_verb


class MedsrTransform(tio.Transform):
    """Run medsr verb ``verb`` with ``options`` (e.g. ``factors=``, ``bundle=``, ``steps=``)."""

    def __init__(self, verb: str, p: float = 1, **options: Any) -> None:
        super().__init__(p=p)
        self.verb, self.options = verb, options
        self._run = image_verb(verb, **options)
        self.args_names = ["verb"]

    def apply_transform(self, subject: tio.Subject) -> tio.Subject:
        return map_subject(self._run, subject)
