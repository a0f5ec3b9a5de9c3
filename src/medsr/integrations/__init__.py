"""Transforms for pipelines built on other libraries; each module imports its library.

* :mod:`medsr.integrations.torchio`: :class:`~medsr.integrations.torchio.MedsrTransform`, a
  TorchIO ``Transform`` usable inside ``tio.Compose``.
* :mod:`medsr.integrations.monai`: :class:`~medsr.integrations.monai.Medsr` (array) and
  :class:`~medsr.integrations.monai.Medsrd` (dictionary), usable inside MONAI's ``Compose``.

Importing this package imports neither library.
"""
