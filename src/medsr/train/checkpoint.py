"""Checkpoints without pickle: weights and optimizer tensors in safetensors, the rest in JSON.

A checkpoint is one file ``RUN_DIR/checkpoints/step_00001200.safetensors`` holding

* ``model.<name>``: every tensor of the model's ``state_dict``;
* ``optim.<param index>.<key>``: every tensor of the optimizer state (Adam's moments, step);
* the safetensors metadata entry ``medsr_checkpoint``: JSON with the step, the optimizer's
  ``param_groups`` and non-tensor state, and anything the loop adds (e.g. the best PSNR).

Nothing is ever unpickled, so a checkpoint from an untrusted source cannot run code
(``torch.load`` of a pickle can). Files are written atomically and only the newest
``keep`` are kept.

Example:
    >>> import tempfile, torch
    >>> net = torch.nn.Linear(2, 1); opt = torch.optim.Adam(net.parameters())
    >>> net(torch.ones(1, 2)).sum().backward(); opt.step()
    >>> p = save_checkpoint(tempfile.mkdtemp(), 7, net, opt)
    >>> load_checkpoint(p, net, opt)["step"]
    7
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from medsr.errors import BundleError, ConfigError
from medsr.io.atomic import atomic_write

META_KEY = "medsr_checkpoint"
_NAME = re.compile(r"^step_(\d{8})\.safetensors$")


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Checkpoints of a run folder, oldest first."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def save_checkpoint(
    run_dir: str | Path, step: int, model: Any, optimizer: Any, extra: dict[str, Any] | None = None, keep: int = 2
) -> Path:
    """Write the checkpoint of ``step`` and delete all but the newest ``keep``."""
    from safetensors.torch import save_file

    tensors, record = _flatten(model, optimizer)
    record.update({"step": int(step), "format": 1, **(extra or {})})
    folder = checkpoint_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step_{int(step):08d}.safetensors"
    atomic_write(
        path, lambda tmp: save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(record)}), overwrite=True
    )
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path, model: Any, optimizer: Any | None = None) -> dict[str, Any]:
    """Restore ``model`` (and ``optimizer``) in place; returns the JSON record (``step`` …)."""
    from safetensors import safe_open

    p = Path(path)
    try:
        with safe_open(str(p), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # noqa: BLE001 - safetensors raises several error types
        raise BundleError(
            p,
            f"cannot read checkpoint ({type(exc).__name__}: {exc})",
            "delete the damaged checkpoint; training resumes from the previous one",
        ) from None
    if META_KEY not in meta:
        raise BundleError(
            p,
            "not a medsr checkpoint (no medsr_checkpoint metadata)",
            "point --out at a medsr run folder or a fresh folder",
        )
    from medsr.safeload import loads_json

    try:
        record = loads_json(meta[META_KEY], path)
    except ConfigError as exc:
        raise BundleError(path, f"checkpoint metadata: {exc.reason}", "start a fresh run folder") from None
    state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise BundleError(
            p,
            f"checkpoint does not fit the model (missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})",
            "resume with the same architecture and options, or use a new --out folder",
        )
    if optimizer is not None:
        optimizer.load_state_dict(_optimizer_state(tensors, record))
    return record


def _flatten(model: Any, optimizer: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    import torch

    tensors = {f"model.{k}": v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in opt["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{key}"] = value.detach().contiguous().clone()
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": opt["param_groups"], "optim_scalars": scalars}


def _optimizer_state(tensors: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, idx, key = name.split(".", 2)
            state.setdefault(int(idx), {})[key] = value
    for idx, values in record.get("optim_scalars", {}).items():
        state.setdefault(int(idx), {}).update(values)
    groups = []
    for g in record["param_groups"]:
        g = dict(g)
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}
