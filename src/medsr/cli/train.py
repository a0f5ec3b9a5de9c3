"""``medsr train --data DIR --factors FX FY [FZ] --out RUN_DIR``: supervised training → a bundle."""

from __future__ import annotations

import argparse
import os

from medsr.cli.common import Progress, factors3, say

HELP = "train a super-resolution network on HR images degraded on the fly (resumable, DDP)"
DESCRIPTION = """Train a network on a folder of high-resolution images. Low-resolution inputs are
simulated on the fly with randomised acquisition models (rect or Gaussian slice profile of
0.7-1.3 x the factor by default; optional blur, noise, k-space truncation), or read from a
paired LR folder (--pairs, matched by file name). Patches are drawn in the foreground mask.

The run folder receives config.yaml (the resolved configuration), checkpoints/ (safetensors,
no pickle), log.csv, training.png and, at the end, the bundle model.safetensors. Running the
same command again resumes from the newest checkpoint. Flags override the --config file.
Multi-process / multi-node: torchrun --nproc_per_node=N -m medsr train ... (DDP; gloo on CPU,
nccl on GPU); only rank 0 writes.

examples:
  medsr train --data hr/ --val val/ --factors 2 2 --arch fast --out runs/ct_x2
  medsr train --config ct.yaml --out runs/ct_x2 --steps 5000        # resume with more steps
  medsr train --data hr/ --pairs lr/ --factors 1 1 4 --mode 3d --arch fast3d --patch-size 32 32 32 --out runs/z4
  torchrun --nproc_per_node=4 -m medsr train --config ct.yaml --out runs/ct_x2"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", metavar="DIR", default=None, help="folder (or file) of HR training images")
    g.add_argument("--val", metavar="DIR", default=None, help="folder of held-out HR validation images")
    g.add_argument(
        "--pairs",
        metavar="LR_DIR",
        default=None,
        help="folder of real LR images matched to --data by file name (no simulation)",
    )
    g.add_argument("--val-pairs", metavar="LR_DIR", default=None, help="LR images matched to --val")
    g.add_argument(
        "--factors",
        nargs="+",
        type=float,
        metavar="F",
        default=None,
        help="per-axis integer factors FX FY [FZ] (e.g. 2 2 for in-plane x2, 1 1 4 through-plane)",
    )
    g.add_argument("--modality", default=None, help="modality recorded in the bundle (default: from the files)")
    g.add_argument("--grey", action="store_true", default=None, help="train on the luminance of RGB images")
    m = p.add_argument_group("model and patches")
    m.add_argument("--arch", default=None, help="architecture (fast, strong, fast3d, rdn3d; default fast)")
    m.add_argument("--mode", choices=("2d", "2.5d", "3d"), default=None, help="patch layout (default 2d)")
    m.add_argument("--patch-size", nargs="+", type=int, default=None, metavar="N", help="HR patch size")
    m.add_argument("--batch-size", type=int, default=None)
    o = p.add_argument_group("optimisation and run")
    o.add_argument("--config", metavar="YAML", default=None, help="typed YAML config (see docs/training.md)")
    o.add_argument("--out", metavar="RUN_DIR", required=True, help="run folder (created; resumed if it exists)")
    o.add_argument("--steps", type=int, default=None, help="total optimisation steps")
    o.add_argument("--lr", type=float, default=None, help="peak learning rate (AdamW)")
    o.add_argument("--seed", type=int, default=None)
    o.add_argument("--device", default=None, help="auto (default), cpu, cuda or cuda:N")
    o.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    o.add_argument("--val-every", type=int, default=None, help="validate every N steps")
    o.add_argument(
        "--restart",
        action="store_true",
        help="start over in RUN_DIR (delete its checkpoints, log and bundle) instead of resuming",
    )


def overrides(args: argparse.Namespace) -> dict[str, object]:
    """Dotted config keys set by the command line (None = not given)."""
    f = factors3(args.factors) if args.factors is not None else None
    return {
        "data.train": args.data,
        "data.val": args.val,
        "data.pairs": args.pairs,
        "data.val_pairs": args.val_pairs,
        "data.modality": args.modality,
        "data.grey": args.grey,
        "degradation.factors": list(f) if f else None,
        "model.arch": args.arch,
        "patches.mode": args.mode,
        "patches.size": args.patch_size,
        "patches.batch_size": args.batch_size,
        "optim.steps": args.steps,
        "optim.lr": args.lr,
        "run.seed": args.seed,
        "run.device": args.device,
        "run.threads": args.threads,
        "run.val_every": args.val_every,
    }


def run(args: argparse.Namespace) -> int:
    from medsr.train.config import config_from_dict, load_config
    from medsr.train.loop import train

    over = overrides(args)
    if args.config:
        cfg = load_config(args.config, overrides=over)
    else:
        cfg = config_from_dict({}, source="the command line", overrides=over)
    main_rank = os.environ.get("RANK", "0") in ("", "0")
    quiet = args.quiet or not main_rank
    with Progress(quiet, "train") as bar:
        result = train(cfg, args.out, progress=bar.callback, resume=not args.restart)
    if main_rank:
        m = result.metrics
        figures = (
            (
                f"; validation PSNR {m['val_psnr']:.2f} dB vs B-spline {m['val_psnr_bspline']:.2f} dB, "
                f"SSIM {m['val_ssim']:.4f}"
            )
            if m
            else ""
        )
        start = f" (resumed at step {result.resumed_from})" if result.resumed_from else ""
        say(args, f"trained {result.step} steps{start} in {result.seconds:.0f} s{figures}; bundle {result.bundle}")
    return 0
