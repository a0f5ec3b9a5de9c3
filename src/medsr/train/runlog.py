"""The run's CSV log and its figure (loss and validation PSNR against the step).

``RUN_DIR/log.csv`` has one row per logged step with the columns of :data:`COLUMNS`
(validation columns are empty on steps without validation). ``RUN_DIR/training.png`` plots the
training loss (log scale) and the validation PSNR of the network and of cubic B-spline.
Both are rewritten atomically; on resume, rows after the resumed step are dropped.

Example:
    >>> import tempfile
    >>> log = RunLog(tempfile.mkdtemp())
    >>> log.add({"step": 10, "loss": 0.5}); log.add({"step": 20, "loss": 0.25, "val_psnr": 30.0})
    >>> p = log.save(); p.read_text().splitlines()[0].split(",")[:3]
    ['step', 'loss', 'lr']
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from medsr.io.atomic import atomic_write

COLUMNS = ("step", "loss", "lr", "seconds", "val_psnr", "val_ssim", "val_psnr_bspline", "val_ssim_bspline")


class RunLog:
    """Rows of the CSV log, kept in memory and written whole."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / "log.csv"
        self.figure = Path(run_dir) / "training.png"
        self.rows: list[dict[str, Any]] = []

    def load(self, up_to_step: int) -> None:
        """Read an earlier log, keeping the rows up to ``up_to_step`` (resume)."""
        if not self.path.is_file():
            return
        with self.path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                try:
                    if int(row["step"]) <= up_to_step:
                        self.rows.append({k: _num(v) for k, v in row.items() if k in COLUMNS})
                except (KeyError, ValueError):
                    continue

    def add(self, row: dict[str, Any]) -> None:
        """Add a row, or merge into the last one when it has the same step."""
        if self.rows and self.rows[-1].get("step") == row.get("step"):
            self.rows[-1].update(row)
        else:
            self.rows.append(dict(row))

    def save(self) -> Path:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(COLUMNS), extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for row in self.rows:
            w.writerow({k: _fmt(row.get(k)) for k in COLUMNS})
        return atomic_write(self.path, buf.getvalue(), overwrite=True)

    def plot(self, title: str = "") -> Path | None:
        """Write ``training.png``; None when there is nothing to plot."""
        steps = [r["step"] for r in self.rows if _ok(r.get("loss"))]
        if not steps:
            return None
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8, 3.2), dpi=100)
        ax1, ax2 = fig.subplots(1, 2)
        losses = [r["loss"] for r in self.rows if _ok(r.get("loss"))]
        ax1.plot(steps, losses, lw=0.6, alpha=0.5, label="logged steps")
        ax1.plot(steps, _ema(losses), lw=1.5, label="moving average")
        ax1.legend(loc="upper right")
        ax1.set_yscale("log")
        ax1.set_xlabel("step")
        ax1.set_ylabel("training loss")
        val = [r for r in self.rows if _ok(r.get("val_psnr"))]
        if val:
            ax2.plot([r["step"] for r in val], [r["val_psnr"] for r in val], "o-", label="network")
            base = [r for r in val if _ok(r.get("val_psnr_bspline"))]
            if base:
                ax2.plot([r["step"] for r in base], [r["val_psnr_bspline"] for r in base], "--", label="cubic B-spline")
            ax2.legend(loc="lower right")
        ax2.set_xlabel("step")
        ax2.set_ylabel("validation PSNR (dB)")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return atomic_write(self.figure, lambda tmp: fig.savefig(tmp, format="png"), overwrite=True)


def _ema(values: list[float], alpha: float = 0.1) -> list[float]:
    """Exponential moving average (the trend of a noisy loss curve)."""
    out: list[float] = []
    for v in values:
        out.append(v if not out else (1 - alpha) * out[-1] + alpha * v)
    return out


def _ok(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _num(v: str) -> Any:
    if v in ("", None):
        return None
    try:
        f = float(v)
    except ValueError:
        return v
    return int(f) if f.is_integer() and "." not in v and "e" not in v.lower() else f


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.8g}"
    return str(v)
