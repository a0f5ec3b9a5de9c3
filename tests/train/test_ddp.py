"""Two processes on localhost (gloo, CPU) train together and end with identical weights."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from .conftest import tiny_config, write_folder  # noqa: E402


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, raw: dict, out: str, report: str) -> None:
    os.environ.update(
        {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "RANK": str(rank),
            "WORLD_SIZE": str(world),
            "LOCAL_RANK": str(rank),
        }
    )
    torch.set_num_threads(1)
    from medsr.train import config_from_dict, train

    result = train(config_from_dict(raw), out)
    digest = hashlib.sha256(b"".join(result.state[k].numpy().tobytes() for k in sorted(result.state))).hexdigest()
    Path(report, f"rank{rank}.json").write_text(
        json.dumps({"digest": digest, "loss": result.loss, "step": result.step, "bundle": str(result.bundle)})
    )


@pytest.mark.slow
def test_two_ranks_end_with_identical_weights(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    train_dir = write_folder(tmp_path / "train", [0, 1])
    raw = tiny_config(train_dir, None, steps=3)
    mp.spawn(_worker, args=(2, _free_port(), raw, str(tmp_path / "run"), str(tmp_path)), nprocs=2, join=True)
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert r0["step"] == r1["step"] == 3
    assert r0["digest"] == r1["digest"]  # gradients were averaged: same weights
    assert r0["loss"] != r1["loss"]  # but each rank saw its own patches
    assert r0["bundle"].endswith("model.safetensors") and r1["bundle"] == "None"  # only rank 0 writes
    assert (tmp_path / "run" / "model.safetensors").is_file()
