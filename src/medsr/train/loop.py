"""The supervised training loop: patches → network → loss → AdamW, with resume, validation,
logs, DDP and the final bundle.

One call of :func:`train` runs (or resumes) a run folder::

    RUN_DIR/config.yaml               the resolved configuration
    RUN_DIR/checkpoints/step_*.safetensors   weights + optimizer state (no pickle)
    RUN_DIR/log.csv, RUN_DIR/training.png    loss, learning rate, validation PSNR/SSIM
    RUN_DIR/model.safetensors         the bundle (weights + metadata), written at the end

Determinism: the network is initialised from ``run.seed`` and the patches of step ``s`` on
rank ``r`` are drawn from a generator seeded with ``(seed, r, s)``, so a run on the CPU is
bitwise repeatable and a resumed run continues exactly where the interrupted one stopped.

Example:
    >>> from medsr.train import config_from_dict, train          # doctest: +SKIP
    >>> cfg = config_from_dict({"data": {"train": "hr/"}, "degradation": {"factors": [2, 2]}})  # doctest: +SKIP
    >>> result = train(cfg, "runs/ct_x2", progress=lambda done, total: None)  # doctest: +SKIP
    >>> result.bundle                                             # doctest: +SKIP
    PosixPath('runs/ct_x2/model.safetensors')
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medsr.errors import ConfigError
from medsr.train.config import TrainConfig

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]


@dataclass
class TrainResult:
    """What :func:`train` did: where the outputs are and the last figures."""

    run_dir: Path
    bundle: Path | None
    step: int
    resumed_from: int
    loss: float
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    state: dict[str, Any] | None = None  # final weights (CPU tensors), on every rank


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_fraction · lr`` at the last step."""
    o = cfg.optim
    if o.warmup_steps and step <= o.warmup_steps:
        return o.lr * step / o.warmup_steps
    span = max(1, o.steps - o.warmup_steps)
    t = min(1.0, (step - o.warmup_steps) / span)
    floor = o.min_lr_fraction * o.lr
    return floor + (o.lr - floor) * 0.5 * (1 + math.cos(math.pi * t))


def train(
    cfg: TrainConfig, run_dir: str | Path, *, progress: ProgressFn | None = None, resume: bool = True
) -> TrainResult:
    """Train (or resume) a run in ``run_dir``; see the module docstring for what it writes.

    Args:
        cfg: the checked configuration (:func:`medsr.train.config.load_config`).
        run_dir: the run folder; created if missing.
        progress: ``progress(step, total)`` after every step (rank 0 only).
        resume: continue from the newest checkpoint in ``run_dir`` when there is one; False
            deletes an earlier run's checkpoints, log and bundle there and starts over.

    Raises:
        ConfigError: bad data, incompatible architecture or a run folder made with other
            settings.
    """
    import torch

    from medsr.train import ddp

    t0 = time.perf_counter()
    run = Path(run_dir)
    ctx = ddp.setup(cfg.run.device)
    prev_det = torch.are_deterministic_algorithms_enabled()
    try:
        if cfg.run.threads:
            torch.set_num_threads(cfg.run.threads)
        torch.use_deterministic_algorithms(True, warn_only=True)
        return _train(cfg, run, ctx, progress, resume, t0)
    finally:
        torch.use_deterministic_algorithms(prev_det)
        ddp.teardown(ctx)


def _train(cfg: TrainConfig, run: Path, ctx: Any, progress: ProgressFn | None, resume: bool, t0: float) -> TrainResult:
    import torch

    from medsr.train import ddp
    from medsr.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
    from medsr.train.data import load_images
    from medsr.train.patches import PatchSampler
    from medsr.train.runlog import RunLog
    from medsr.train.runstate import build_model, check_run_folder, finish_bundle, prepare_run_folder

    if ctx.is_main:
        prepare_run_folder(run, cfg, resume)
    ctx.barrier()
    images = load_images(cfg.data.train, cfg.data, cfg.data.pairs, cfg.factors3)
    channels = int(images[0].data.shape[0])
    torch.manual_seed(cfg.run.seed)
    model = build_model(cfg, channels).to(ctx.device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    ckpt = latest_checkpoint(run) if resume else None
    start = 0
    if ckpt is not None:
        check_run_folder(run, cfg)
        start = int(load_checkpoint(ckpt, model, opt)["step"])
        log.info("resuming %s from step %d", run, start)
    runlog = RunLog(run)
    runlog.load(start)
    crops = _val_crops(cfg, ctx)
    net = ddp.wrap(model, ctx)
    sampler = PatchSampler(images, cfg)
    from medsr.vocabulary import loss_fn

    criterion = loss_fn(cfg.optim.loss)
    total = cfg.optim.steps
    metrics: dict[str, float] = {}
    loss_value, step = float("nan"), start
    guard = {"updating": False}
    completed = start
    if progress and ctx.is_main:
        progress(start, total)
    try:
        for step in range(start + 1, total + 1):
            loss_value = _step(net, opt, sampler, criterion, cfg, ctx, step, guard)
            completed = step
            if ctx.is_main:
                metrics = _after_step(step, loss_value, model, opt, crops, cfg, ctx, runlog, run, t0) or metrics
                if progress:
                    progress(step, total)
    except KeyboardInterrupt:
        # keep the last finished step, unless the interrupt hit the optimizer update itself
        if ctx.is_main and not guard["updating"] and completed > start and not _checkpointed(run, completed):
            _interrupted_checkpoint(run, completed, model, opt, cfg, runlog)
        raise
    bundle = None
    if ctx.is_main:
        last = runlog.rows[-1] if runlog.rows else {}
        if crops and last.get("val_psnr") is None:
            metrics = _validate_and_log(step, model, crops, cfg, ctx, runlog)
        elif crops and not metrics:  # nothing left to train: the figures of the last validation
            metrics = {k: last[k] for k in ("val_psnr", "val_ssim", "val_psnr_bspline", "val_ssim_bspline")}
            metrics["val_crops"] = len(crops)
        runlog.save()
        runlog.plot(cfg.bundle.name or run.name)
        if step > start or latest_checkpoint(run) is None:
            save_checkpoint(run, step, model, opt, keep=cfg.run.keep_checkpoints)
        from medsr.train.calibrate import calibrate_crops

        calibration = calibrate_crops(model, crops, cfg, ctx.device)
        bundle = finish_bundle(
            run, cfg, model, images, sampler, metrics, step, time.perf_counter() - t0, calibration=calibration
        )
    ctx.barrier()
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return TrainResult(run, bundle, step, start, loss_value, metrics, time.perf_counter() - t0, state)


def _val_crops(cfg: TrainConfig, ctx: Any) -> list[Any]:
    if not ctx.is_main or not cfg.data.val:
        if ctx.is_main:
            log.warning("no validation folder (--val): the bundle will carry no validation metrics")
        return []
    from medsr.train.data import load_images
    from medsr.train.validate import build_val_crops

    val = load_images(cfg.data.val, cfg.data, cfg.data.val_pairs, cfg.factors3)
    return build_val_crops(val, cfg)


def _checkpointed(run: Path, step: int) -> bool:
    from medsr.train.checkpoint import latest_checkpoint

    last = latest_checkpoint(run)
    return last is not None and last.name == f"step_{step:08d}.safetensors"


def _interrupted_checkpoint(run: Path, done: int, model: Any, opt: Any, cfg: TrainConfig, runlog: Any) -> None:
    """After Ctrl-C: save the last finished step."""
    from medsr.train.checkpoint import save_checkpoint

    save_checkpoint(run, done, model, opt, keep=cfg.run.keep_checkpoints)
    runlog.save()
    log.warning("interrupted: saved a checkpoint at step %d; run again with the same --out to resume", done)


def _step(
    net: Any, opt: Any, sampler: Any, criterion: Any, cfg: TrainConfig, ctx: Any, step: int, guard: dict[str, bool]
) -> float:
    import torch

    rng = np.random.default_rng([cfg.run.seed, ctx.rank, step])
    x, y = sampler.batch(rng)
    x = torch.from_numpy(x).to(ctx.device, non_blocking=True)
    y = torch.from_numpy(y).to(ctx.device, non_blocking=True)
    for group in opt.param_groups:
        group["lr"] = learning_rate(step, cfg)
    opt.zero_grad(set_to_none=True)
    loss = criterion(net(x), y)
    if not torch.isfinite(loss):
        raise ConfigError(
            None,
            f"training diverged at step {step} (loss {loss.item()})",
            "lower optim.lr, or check the data for extreme values",
        )
    loss.backward()
    if cfg.optim.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.optim.grad_clip)
    guard["updating"] = True
    opt.step()
    guard["updating"] = False
    return float(loss.detach().item())


def _after_step(
    step: int,
    loss: float,
    model: Any,
    opt: Any,
    crops: list[Any],
    cfg: TrainConfig,
    ctx: Any,
    runlog: Any,
    run: Path,
    t0: float,
) -> dict[str, float] | None:
    from medsr.train.checkpoint import save_checkpoint

    r = cfg.run
    last = step == cfg.optim.steps
    metrics = None
    if step % r.log_every == 0 or last:
        runlog.add(
            {"step": step, "loss": loss, "lr": opt.param_groups[0]["lr"], "seconds": round(time.perf_counter() - t0, 2)}
        )
        runlog.save()
    if crops and (step % r.val_every == 0 or last):
        metrics = _validate_and_log(step, model, crops, cfg, ctx, runlog)
    if step % r.checkpoint_every == 0 or last:
        save_checkpoint(run, step, model, opt, keep=r.keep_checkpoints)
        runlog.save()
        runlog.plot(cfg.bundle.name or run.name)
    return metrics


def _validate_and_log(
    step: int, model: Any, crops: list[Any], cfg: TrainConfig, ctx: Any, runlog: Any
) -> dict[str, float]:
    from medsr.train.validate import validate

    metrics = validate(model, crops, cfg, ctx.device)
    runlog.add({"step": step, **metrics})
    log.info(
        "step %d: validation PSNR %.2f dB (B-spline %.2f dB), SSIM %.4f",
        step,
        metrics["val_psnr"],
        metrics["val_psnr_bspline"],
        metrics["val_ssim"],
    )
    return metrics
