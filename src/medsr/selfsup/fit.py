"""The fitting loop: a small network learns the scan's own degradation, within a time budget.

Adam with a warm-up then cosine learning rate (Loshchilov & Hutter, ICLR 2017), L1 loss,
bf16 autocast and channels-last on CPUs with native bf16 (measured faster there, same quality),
fp32 otherwise. The schedule follows wall time when ``steps`` is not given, so the run ends
within the budget whatever else loads the machine; ``steps`` makes a run exactly repeatable.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from medsr.vocabulary import check_precision, error_loss

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None] | None


#: Default training time (s) of one ``enhance`` run when no ``steps`` are given.
DEFAULT_BUDGET_S = 90.0
#: The same for a 2D grey image (one plane to learn from; ``benchmarks/enhance2d.py``) and for a
#: colour one, whose three planes cost three times the inference and which gained nothing from
#: longer fits (an H&E tile: +0.75 dB after 500 steps, +0.28 dB after 2000; docs/enhance2d.md).
DEFAULT_BUDGET_2D_S = 30.0
DEFAULT_BUDGET_RGB_S = 20.0
#: With those default budgets a 2D fit also stops after this many steps, so a fast machine does
#: not over-fit the image's downscaled copy: colour photographs lost most of their gain past
#: about 200 steps (fundus +0.83 dB at 200, +0.13 at 619; IHC +0.30 at 165, -0.12 at 719), and a
#: grey one peaked anywhere from 250 steps (a chest CT slice) to past 1000 (another CT, a
#: radiograph); docs/enhance2d.md.
MAX_STEPS_2D = 800
MAX_STEPS_RGB = 200


@dataclass
class FitConfig:
    """Hyperparameters of the fit (recorded in the sidecar)."""

    batch: int = 16
    patch: int = 64
    lr: float = 2e-3
    warmup: float = 0.05
    weight_decay: float = 0.0
    loss: str = "l1"
    log_every: int = 10
    #: a time-budgeted fit stops after this many steps too (None: no cap)
    max_steps: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class FitResult:
    model: Any
    steps: int
    seconds: float
    cpu_seconds: float
    flops: float
    loss_curve: list[tuple[int, float]] = field(default_factory=list)


def resolve_precision(precision: str, device: str) -> str:
    """``"bfloat16"`` or ``"float32"`` (:mod:`medsr.vocabulary`): ``auto`` picks bfloat16 on GPUs
    and on CPUs with native bf16."""
    key = check_precision(precision, allow_auto=True)
    if key != "auto":
        return key
    if device.startswith("cuda"):
        return "bfloat16"
    from medsr.engine.device import bf16_supported

    return "bfloat16" if bf16_supported("cpu") else "float32"


#: fewer threads than all are chosen only when they train at least 10 % faster: a few timed steps
#: are noisy, and a wrong single-thread choice cost a CT slice 45 % of its steps (docs/enhance2d.md).
SWITCH_MARGIN = 0.9


def choose_threads(
    model: Any,
    sampler: Any,
    config: FitConfig | None = None,
    precision: str = "float32",
    device: str = "cpu",
    candidates: tuple[int, ...] | None = None,
    steps: int = 4,
) -> int:
    """The intra-op thread count that trains fastest right now (CPU only).

    Small convolutions scale poorly, and on a machine shared with other jobs the threads of
    one operation wait for each other; a few timed steps per candidate (on a copy of the
    model, with the sampler's random state restored) decide.
    """
    import copy

    import torch

    if not device.startswith("cpu"):
        return torch.get_num_threads()
    most = torch.get_num_threads()
    cands = candidates or tuple(sorted({1, most}))
    if len(cands) == 1:
        return cands[0]
    cfg = config or FitConfig()
    state = sampler.rng.bit_generator.state
    x, y = sampler.batch(cfg.batch)
    sampler.rng.bit_generator.state = state
    trial = copy.deepcopy(model)
    if precision == "bfloat16":
        trial = trial.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(trial.parameters(), lr=0.0)

    def timed(n: int, k: int) -> float:
        torch.set_num_threads(n)
        t0 = time.perf_counter()
        for _ in range(k):
            with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
                loss = (trial(x).float() - y).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return (time.perf_counter() - t0) / k

    best = most
    try:
        for n in cands:
            timed(n, 2)  # warm-up
        per = {n: float("inf") for n in cands}
        for _ in range(2):  # interleaved rounds: a passing load spike hits both candidates
            for n in cands:
                per[n] = min(per[n], timed(n, max(1, steps // 2)))
        fastest = min(per, key=per.__getitem__)
        best = fastest if per[fastest] < SWITCH_MARGIN * per.get(most, float("inf")) else most
    finally:
        torch.set_num_threads(best)
    log.info("training threads: %d (%.1f ms/step)", best, 1000 * per[best])
    return best


def _lr_factor(progress: float, warmup: float) -> float:
    if progress < warmup:
        return max(0.02, progress / warmup)
    p = min(1.0, (progress - warmup) / max(1e-9, 1.0 - warmup))
    return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * p))


def fit(
    model: Any,
    sampler: Any,
    *,
    steps: int | None = None,
    time_budget_s: float = 90.0,
    config: FitConfig | None = None,
    precision: str = "auto",
    device: str = "cpu",
    seed: int = 0,
    progress: Progress = None,
) -> FitResult:
    """Train ``model`` on ``sampler.batch`` pairs; by ``steps`` or until ``time_budget_s``.

    Returns the trained model (eval mode) with the loss curve ``[(step, mean L1), …]``.
    """
    import torch

    cfg = config or FitConfig()
    torch.manual_seed(seed)
    prec = resolve_precision(precision, device)
    model = model.to(device)
    if prec == "bfloat16":
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    model.train()
    curve: list[tuple[int, float]] = []
    t0, c0 = time.perf_counter(), time.process_time()
    step, acc, n_acc, pixels = 0, 0.0, 0, 0
    while True:
        elapsed = time.perf_counter() - t0
        frac = (step / steps if steps else 1.0) if steps is not None else elapsed / max(1e-9, time_budget_s)
        if steps is None and cfg.max_steps:
            frac = max(frac, step / cfg.max_steps)
        if frac >= 1.0:
            break
        for g in opt.param_groups:
            g["lr"] = cfg.lr * _lr_factor(frac, cfg.warmup)
        x, y = sampler.batch(cfg.batch)
        x, y = x.to(device), y.to(device)
        if prec == "bfloat16":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=prec == "bfloat16"):
            out = model(x)
        loss = error_loss(out.float() - y, cfg.loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        pixels += x.numel()
        acc += float(loss.detach())
        n_acc += 1
        if step % cfg.log_every == 0:
            curve.append((step, acc / n_acc))
            acc, n_acc = 0.0, 0
            if progress:
                done = step if steps is not None else int(100 * min(1.0, frac))
                progress("train", done, steps if steps is not None else 100)
    if n_acc:
        curve.append((step, acc / n_acc))
    model.eval()
    seconds = time.perf_counter() - t0
    flops = 3.0 * model.flops_per_pixel() * pixels if hasattr(model, "flops_per_pixel") else 0.0
    log.info("fitted %d steps in %.1f s (%s)", step, seconds, prec)
    return FitResult(
        model=model, steps=step, seconds=seconds, cpu_seconds=time.process_time() - c0, flops=flops, loss_curve=curve
    )
