"""``medsr enhance IN -o OUT``: zero-data through-plane super-resolution of a thick-slice scan."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from medsr.batch import Job
from medsr.cli.common import (
    Progress,
    add_batch_flags,
    add_factors,
    factors3,
    parse_series,
    print_table,
    say,
    sidecar_base,
    spacing3,
)
from medsr.cli.seg_option import add_labels_flag, check_labels_flag, labels_outputs, read_labels, write_labels
from medsr.cli.uncertainty_option import add_uncertainty_flags, map_outputs, trust_line, write_maps
from medsr.errors import ConfigError

HELP = "make a thick-slice CT/MRI near-isotropic, or a 2D image sharper, learning from the image itself"
DESCRIPTION = """Restore the thick axis of a CT or MRI from the scan's own sharp in-plane axes.

medsr finds the thick axis from the spacing, reads the slice thickness from DICOM when present
(otherwise assumes thickness = spacing and says so), fits a compact network on pairs made from
the scan's in-plane planes degraded with that slice profile, applies it along the thick axis in
two orientations, fuses them, and projects the result onto data consistency with the input.
By default (--profile auto) the slice profile is estimated from the scan and used where it
finds overlapping slices; elsewhere rect at the nominal thickness is kept, the safer assumption
(docs/enhance.md). The estimate, the decision and the noise level and kind are recorded in the
sidecar either way.
Beside the output it writes OUT_uncertainty, the expected |error| per voxel in the image's units
(calibrated on in-plane planes held out of training; docs/uncertainty.md), and a JSON sidecar
with the calibration table and the trust summary (the fraction of foreground voxels expected to
be wrong by more than 20 HU for CT, else 5 % of the intensity window), which is also printed.
--uncertainty-interval 0.9 adds OUT_interval90 (half-width of a 90 % interval), --flag-unsure
OUT_unsure (a mask of those voxels); --report writes a self-contained HTML page.
A 2D image (radiograph, CT slice, RGB histology or fundus photo) needs --factors FX FY: it learns
from its own copy downscaled by the factors with its pixels' acquisition model (a rect aperture of
one pixel, or --profile gaussian / a kernel file), then restores itself onto the finer grid, with
the same consistency projection, expected-error map (held-out band) and report (docs/enhance2d.md;
default budget 30 s). Images whose downscaled copy is under 32 pixels a side are refused: use
medsr predict -m BUNDLE there, or --adapt to start from a bundle.
Cohort mode (docs/cohorts.md): --save-model keeps the fitted network and its plan as a bundle
for the other scans of the protocol (medsr predict -m BUNDLE, or --init BUNDLE to fine-tune).

examples:
  medsr enhance chest_ct.nrrd -o chest_iso.nii.gz --report chest_report
  medsr enhance dicom_series/ -o derived_series            # DICOM in, derived DICOM series out
  medsr enhance scans/ -o enhanced/ --continue             # a folder of scans
  medsr enhance brain.nii.gz -o brain_1mm.nii.gz --spacing 1 1 1 --slice-thickness 5 --profile gaussian
  medsr enhance radiograph.dcm -o radiograph_x4.nrrd --factors 4 4 --report xr_report
  medsr enhance scan001.nii.gz -o sr001.nii.gz --save-model protocol.safetensors
  medsr enhance scans/ -o sr/ --init protocol.safetensors --time-budget 15 --continue"""

log = logging.getLogger("medsr.cli.enhance")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", metavar="IN", help="a scan (file or DICOM series folder) or a folder of scans")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="output file, DICOM folder, or (for a folder of scans) output folder",
    )
    p.add_argument(
        "--series", metavar="UID|INDEX", default=None, help="series to read from a multi-series DICOM folder"
    )
    g = p.add_argument_group("target grid (default: isotropic at the in-plane spacing)")
    g.add_argument(
        "--spacing", nargs=3, type=float, metavar=("SX", "SY", "SZ"), default=None, help="output spacing in mm"
    )
    add_factors(g)
    g2 = p.add_argument_group("acquisition model of the thick axis")
    g2.add_argument(
        "--slice-thickness",
        type=float,
        default=None,
        metavar="MM",
        help="slice thickness in mm (default: from DICOM, else equal to the slice spacing)",
    )
    g2.add_argument(
        "--profile",
        default=None,
        metavar="auto|rect|gaussian|FILE",
        help="slice profile: auto (default: estimated from the scan, used on overlapping slices, else rect; "
        "see 'medsr profile' and docs/enhance.md), rect, gaussian (thickness = FWHM) or a two-column file "
        "offset_mm weight",
    )
    g3 = p.add_argument_group("compute")
    g3.add_argument(
        "--time-budget",
        type=float,
        default=None,
        metavar="S",
        help="seconds of training per scan (default: medsr's default budget)",
    )
    g3.add_argument(
        "--steps",
        type=int,
        default=None,
        metavar="N",
        help="train for exactly N steps instead of a time budget (repeatable run to run "
        "with the same --seed and --threads)",
    )
    g3.add_argument(
        "--no-tta",
        dest="tta",
        action="store_false",
        help="skip averaging the network over flipped planes at inference (4x faster inference, about 0.1 dB lower)",
    )
    g3.add_argument(
        "--init",
        default=None,
        metavar="BUNDLE",
        help="start from a network saved by --save-model (cohort mode: its plan, profile and factor are the "
        "defaults) and fine-tune it for --time-budget seconds; --steps 0 applies it as it is",
    )
    g3.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where to compute (default auto)")
    g3.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads (default: all cores)")
    g3.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g4 = p.add_argument_group("outputs")
    g4.add_argument(
        "--format",
        choices=("nifti", "nrrd", "mha", "dicom"),
        default=None,
        help="output format (default: from OUT's suffix; a DICOM input gives a derived DICOM series)",
    )
    g4.add_argument(
        "--dtype",
        choices=("float32", "input"),
        default="float32",
        help="voxel type; 'input' rounds and clips to the input's type",
    )
    g4.add_argument("--report", metavar="DIR", default=None, help="write a self-contained HTML report into DIR")
    g4.add_argument(
        "--save-model",
        metavar="FILE.safetensors",
        default=None,
        help="also write the fitted network as a bundle for the other scans of this protocol "
        "(medsr predict -m FILE, or enhance --init FILE); one scan only",
    )
    add_uncertainty_flags(g4, optional_map=False)
    add_labels_flag(g4)
    add_batch_flags(g4)


def _target(args: argparse.Namespace) -> dict:
    if args.spacing is not None and args.factors is not None:
        raise ConfigError(None, "give --spacing or --factors, not both", "drop one of them")
    return {"spacing": spacing3(args.spacing), "factors": factors3(args.factors)}


def _report_dir(job: Job, args: argparse.Namespace) -> Path | None:
    if not args.report:
        return None
    folder = Path(args.report)
    batch = job.output != Path(args.output).expanduser()  # a folder of scans: one report folder each
    return folder / job.output.name.split(".")[0] if batch else folder


def _report(job: Job, args: argparse.Namespace, lr, result) -> Path:
    from medsr.baselines import upsample
    from medsr.report.html import enhance_report

    bs = upsample(lr, spacing=tuple(result.image.spacing), method="bspline")
    folder = _report_dir(job, args)
    if folder is None:
        raise ConfigError(None, "no --report folder was given", "pass --report DIR")
    return enhance_report(
        folder,
        lr=lr,
        bspline=bs,
        sr=result.image,
        uncertainty=result.uncertainty,
        info=result.info,
        loss_curve=result.loss_curve,
        title=f"medsr enhance: {job.source.name}",
        overwrite=args.overwrite,
    )


def outputs_of(job: Job, args: argparse.Namespace) -> list[tuple[Path, bool]]:
    """Every ``(path, is_folder)`` one scan writes, the sidecar of the image last."""
    from medsr.io.formats import output_format
    from medsr.io.sidecar import sidecar_path

    is_dir = output_format(job.output, args.format) == "dicom"
    outs = [*map_outputs(job.output, args), *labels_outputs(job.output, args), (job.output, is_dir)]
    if getattr(args, "save_model", None):
        outs.append((Path(args.save_model).expanduser(), False))
    report = _report_dir(job, args)
    if report is not None:  # a folder medsr creates, or report.html inside an existing one
        outs.append((report / "report.html", False) if report.is_dir() else (report, True))
    return [*outs, (sidecar_path(job.output), False)]


def _one(job: Job, args: argparse.Namespace, progress: Progress) -> dict:
    from medsr.io import read, write
    from medsr.io.atomic import Staging
    from medsr.selfsup.enhance import enhance

    t0 = time.perf_counter()
    lr = read(job.source, series=parse_series(args.series))
    seg = read_labels(args, lr)
    result = enhance(
        lr,
        **_target(args),
        slice_thickness_mm=args.slice_thickness,
        profile=args.profile,
        time_budget_s=args.time_budget,
        steps=args.steps,
        tta=args.tta,
        device=args.device,
        threads=args.threads,
        seed=args.seed,
        unsure_threshold=args.unsure_threshold,
        progress=progress.stage,
        **({"init": args.init} if getattr(args, "init", None) else {}),
    )
    progress.close()
    fmt = args.format or ("dicom" if lr.meta.source_format == "dicom-series" and not job.output.suffix else None)
    side = sidecar_base("enhance", args, **result.info)
    side["input_file"] = str(job.source)
    with Staging(overwrite=args.overwrite) as unit:  # one unit: the image's sidecar moves in last
        base = lambda **f: sidecar_base("enhance", args, input=str(job.source), **f)  # noqa: E731
        write_maps(result, job.output, args, side, base, unit)
        if seg is not None:
            side["labels"] = str(write_labels("enhance", seg, result.image, job.output, args, stage=unit))
        out = write(
            result.image, job.output, dtype=args.dtype, overwrite=args.overwrite, format=fmt, sidecar=side, stage=unit
        )
    extra = ""
    if args.report:
        extra = f"; report {_report(job, args, lr, result)}"
    if getattr(args, "save_model", None):
        from medsr.selfsup.cohort import save_model

        extra += f"; model {save_model(result, Path(args.save_model).expanduser())}"
    dc = result.info.get("data_consistency", {})
    say(args, trust_line(result.info.get("uncertainty", {})))
    say(
        args,
        f"wrote {out} ({'×'.join(str(s) for s in result.image.shape)} voxels, data-consistency error "
        f"{dc.get('relative_error_after', float('nan')):.2e}) in {time.perf_counter() - t0:.0f} s{extra}",
    )
    return {"seconds": round(time.perf_counter() - t0, 1)}


def run(args: argparse.Namespace) -> int:
    from medsr.batch import plan_batch, run_batch

    if getattr(args, "save_model", None):
        from medsr.batch import is_dicom_folder

        if not str(args.save_model).endswith(".safetensors"):
            raise ConfigError(args.save_model, "a model bundle is a .safetensors file", "name it protocol.safetensors")
        if Path(args.input).is_dir() and not is_dicom_folder(Path(args.input)):
            raise ConfigError(
                args.input, "--save-model fits on one scan, not a folder", "give one scan of the protocol"
            )
    check_labels_flag(args)
    plan = plan_batch(
        args.input,
        args.output,
        fmt=args.format,
        outputs_of=lambda job: outputs_of(job, args),
        overwrite=args.overwrite,
        resume=args.resume,
        num_parts=args.num_parts,
        part_id=args.part_id,
    )
    if plan.skipped:
        say(args, f"--continue: skipping {len(plan.skipped)} finished scan(s)")
    with Progress(args.quiet, desc="enhance") as progress:
        summary = run_batch(plan, lambda job: _one(job, args, progress))
    if plan.batch:
        if not args.quiet:
            print_table(summary.rows, ("input", "status", "output"))
        say(args, summary.line(plan))
    return summary.exit_code
