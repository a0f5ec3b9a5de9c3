"""Model bundles: one ``.safetensors`` file = weights + :class:`BundleMeta` as JSON.

Layout (safetensors, https://huggingface.co/docs/safetensors): 8 bytes little-endian header
length, a JSON header whose ``__metadata__`` maps ``"medsr"`` to the JSON of
:class:`~medsr.models.bundle_meta.BundleMeta`, then the raw tensors of the ``state_dict``.
Nothing in a bundle is executable.

**Pickles are refused.** ``.pt/.pth/.ckpt/.pkl/.bin`` files, and any file whose bytes look like a
pickle or a zip-based torch checkpoint, raise :class:`~medsr.errors.BundleError` before a byte
of them is interpreted: unpickling runs arbitrary code. Convert such a checkpoint once, in a
trusted environment, with a script you have read::

    sd = torch.load("model.pth", weights_only=True, map_location="cpu")
    net = medsr.models.build("strong", in_channels=1, factors=(2, 2)); net.load_state_dict(sd)
    save_bundle(net, "model.safetensors", BundleMeta(arch="strong", factors=(2, 2)))

Example:
    >>> from medsr.models.registry import build            # doctest: +SKIP
    >>> net = build("fast", in_channels=1, factors=(1, 4))  # doctest: +SKIP
    >>> save_bundle(net, "t1_z4.safetensors", BundleMeta(arch="fast", factors=(1, 4)))  # doctest: +SKIP
    >>> b = load_model("t1_z4.safetensors"); b.meta.factors  # doctest: +SKIP
    (1, 4)
"""

from __future__ import annotations

import json
import logging
import os
import struct
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from medsr.errors import BundleError, ConfigError
from medsr.models.bundle_meta import META_KEY, BundleMeta
from medsr.models.descriptor import ArchDescriptor
from medsr.safeload import loads_json

log = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".tar", ".joblib", ".npz")
_MAX_HEADER = 100 * 2**20
_CONVERT = (
    "convert it once, in a trusted environment, with a script you have read: "
    "torch.load(path, weights_only=True), load_state_dict into medsr.models.build(...), "
    "then medsr.models.bundle.save_bundle to a .safetensors file"
)


@dataclass
class Bundle:
    """A loaded bundle: ``model`` (torch module in eval mode), its metadata and descriptor."""

    model: Any
    meta: BundleMeta
    descriptor: ArchDescriptor
    path: str | None = None

    @property
    def factors(self) -> tuple[int, ...]:
        return self.meta.factors


# -- safety -------------------------------------------------------------------------------------
def _looks_like_pickle(head: bytes) -> bool:
    if head[:4] == b"PK\x03\x04":  # zip: torch >= 1.6 checkpoints (a pickle inside)
        return True
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:  # pickle protocol 2-5
        return True
    return head[:1] in (b"(", b"]", b"}", b"c")  # common first opcodes of protocols 0/1


def _read_header(path: Path) -> dict[str, Any]:
    """The safetensors JSON header, after refusing anything that is not plainly safetensors."""
    if not path.is_file():
        raise BundleError(path, "bundle file does not exist", "check the path")
    low = path.name.lower()
    if low.endswith(PICKLE_SUFFIXES):
        raise BundleError(path, "refusing a pickle-based checkpoint (loading it could run arbitrary code)", _CONVERT)
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(16)
        n = struct.unpack("<Q", head[:8])[0] if len(head) >= 8 else 0
        if not (2 <= n <= min(_MAX_HEADER, size - 8)) or head[8:9] != b"{":
            if _looks_like_pickle(head):
                raise BundleError(
                    path,
                    "file content is a pickle or zip torch checkpoint, not safetensors "
                    "(loading it could run arbitrary code)",
                    _CONVERT,
                )
            raise BundleError(
                path,
                f"file is not a safetensors bundle (bad header, {size} bytes)",
                "give a .safetensors file written by medsr save_bundle",
            )
        fh.seek(8)
        raw = fh.read(n)
    try:
        header = loads_json(raw.decode("utf-8"), path)
    except (UnicodeDecodeError, ConfigError) as exc:
        raise BundleError(
            path, f"safetensors header is not valid JSON ({_reason(exc)})", "re-export the bundle"
        ) from None
    if not isinstance(header, dict):
        raise BundleError(path, "safetensors header is not a JSON object", "re-export the bundle")
    return header


def _check_size(meta: BundleMeta, path: Path) -> None:
    """Range-check ``arch_kwargs``, then count the parameters on the meta device (no memory)."""
    import torch

    from medsr.budget import check_fits
    from medsr.models.descriptor import check_arch_kwargs
    from medsr.models.registry import build

    try:
        check_arch_kwargs(meta.arch, meta.arch_kwargs, str(path))
        with torch.device("meta"):
            ref = build(meta.arch, in_channels=meta.channels, factors=meta.factors, **meta.arch_kwargs)
    except ConfigError as exc:
        raise BundleError(path, f"cannot build {meta.arch!r}: {exc.reason}", "re-export it with medsr") from None
    except Exception as exc:  # noqa: BLE001 - any constructor failure is a bundle problem
        raise BundleError(path, f"cannot build {meta.arch!r} with {meta.arch_kwargs} ({exc})", "re-export it") from None
    n = sum(int(p.numel()) for p in ref.parameters())
    check_fits(16 * n, f"the {n / 1e6:.1f} M-parameter network of the bundle", path, "use a smaller bundle")


def _reason(exc: Exception) -> str:
    return exc.reason if isinstance(exc, ConfigError) else str(exc)


def read_bundle_meta(path: str | os.PathLike[str]) -> BundleMeta:
    """The validated :class:`BundleMeta` of a bundle, without torch and without the weights."""
    p = Path(path)
    header = _read_header(p)
    text = (header.get("__metadata__") or {}).get(META_KEY)
    if text is None:
        raise BundleError(
            p,
            f"safetensors file has no '{META_KEY}' metadata: it is not a medsr bundle",
            "wrap the weights with medsr.models.bundle.save_bundle",
        )
    try:
        d = loads_json(text, p)
    except (TypeError, ConfigError) as exc:
        raise BundleError(
            p, f"'{META_KEY}' metadata is not valid JSON ({_reason(exc)})", "re-export the bundle"
        ) from None
    return BundleMeta.from_dict(d, str(p))


# -- save ---------------------------------------------------------------------------------------
def _check_model_matches(model: Any, meta: BundleMeta, path: Path) -> dict[str, Any]:
    from medsr.models.registry import build

    ref = build(meta.arch, in_channels=meta.channels, factors=meta.factors, **meta.arch_kwargs)
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    _compare_state(ref.state_dict(), sd, path, "model")
    return sd


def _compare_state(expected: dict[str, Any], got: dict[str, Any], path: Path, what: str) -> None:
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes = [
        f"{k}: {tuple(got[k].shape)} vs {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(got))
        if tuple(got[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = [
            f"missing {missing[:5]}" if missing else "",
            f"unexpected {unexpected[:5]}" if unexpected else "",
            f"shape mismatch {shapes[:5]}" if shapes else "",
        ]
        raise BundleError(
            path,
            f"{what} weights do not fit the architecture in the metadata: " + "; ".join(p for p in parts if p),
            "check arch, arch_kwargs, factors and channels in the metadata",
        )


def save_bundle(model: Any, path: str | os.PathLike[str], meta: BundleMeta) -> Path:
    """Write ``model``'s weights and ``meta`` to one ``.safetensors`` file (atomically).

    ``meta.arch_kwargs`` defaults to ``model.config`` when empty (``meta`` itself is not
    changed). The model must have exactly
    the state of ``build(meta.arch, in_channels=meta.channels, factors=meta.factors,
    **meta.arch_kwargs)``; otherwise :class:`BundleError`.
    """
    from safetensors.torch import save_file

    p = Path(path)
    if p.suffix != ".safetensors":
        raise BundleError(p, "a bundle must be a .safetensors file", "name it e.g. model.safetensors")
    if not meta.arch_kwargs and isinstance(getattr(model, "config", None), dict):
        meta = replace(meta, arch_kwargs=dict(model.config))
    meta.check(str(p))
    sd = _check_model_matches(model, meta, p)
    text = json.dumps(meta.to_dict(), sort_keys=True)
    p.parent.mkdir(parents=True, exist_ok=True)
    from medsr.io.atomic import atomic_write

    atomic_write(p, lambda tmp: save_file(sd, str(tmp), metadata={META_KEY: text}), overwrite=True)
    log.info("saved bundle %s (%s, factors %s)", p, meta.arch, meta.factors)
    return p


# -- load ---------------------------------------------------------------------------------------
def load_model(path: str | os.PathLike[str], device: str = "cpu") -> Bundle:
    """Load a bundle: validate the metadata, build the architecture, load the weights strictly.

    Returns a :class:`Bundle` whose model is in eval mode on ``device`` (float32).
    Raises :class:`BundleError` for pickles, malformed files, unknown architectures,
    wrong format versions and weights that do not fit.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from medsr.models.registry import build, get_arch

    p = Path(path)
    meta = read_bundle_meta(p)
    desc = get_arch(meta.arch)
    _check_size(meta, p)
    try:
        model = build(meta.arch, in_channels=meta.channels, factors=meta.factors, **meta.arch_kwargs)
    except Exception as exc:  # noqa: BLE001 - any constructor failure is a bundle problem
        raise BundleError(
            p,
            f"cannot build architecture {meta.arch!r} with {meta.arch_kwargs} ({exc})",
            "check arch_kwargs in the bundle metadata",
        ) from None
    try:
        sd = load_file(str(p), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise BundleError(p, f"cannot read the weights ({exc})", "re-export the bundle") from None
    _compare_state(model.state_dict(), sd, p, "bundle")
    model.load_state_dict(sd, strict=True)
    model.eval()
    if device != "cpu":
        import torch

        name = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        try:
            model.to(torch.device(name))
        except (RuntimeError, AssertionError) as exc:
            raise BundleError(p, f"cannot move the model to {device!r} ({exc})", "use device='cpu'") from None
    return Bundle(model=model, meta=meta, descriptor=desc, path=str(p))
