"""The ``medsr`` command: one sub-command per verb, each in its own module.

Every verb has ``-h``; global flags go before the verb (``medsr --verbose info scan.nii.gz``)
or after it. Bad input exits with code 2 and one line on stderr (a traceback only with
``--debug``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib import import_module

# verb -> module under medsr.cli; modules only use argparse at import time
VERBS = (
    "info",
    "mask",
    "degrade",
    "upsample",
    "evaluate",
    "profile",
    "enhance",
    "train",
    "predict",
    "models",
    "export",
    "demo",
)


def _global_flags(suppress: bool) -> argparse.ArgumentParser:
    """-q/-v/--debug, accepted before or after the verb (SUPPRESS keeps a verb's parser from
    resetting a flag given before the verb)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("output verbosity")
    default = argparse.SUPPRESS if suppress else False
    g.add_argument("-q", "--quiet", action="store_true", default=default, help="print only errors; no progress bars")
    g.add_argument("-v", "--verbose", action="store_true", default=default, help="print what each stage does")
    g.add_argument("--debug", action="store_true", default=default, help="show full tracebacks on errors")
    return p


def build_parser() -> argparse.ArgumentParser:
    from medsr import __version__

    parser = argparse.ArgumentParser(
        prog="medsr",
        parents=[_global_flags(suppress=False)],
        description="Super-resolution for medical images that says how far each output can be trusted.",
        epilog="Run 'medsr VERB -h' for the options of a verb.",
    )
    parser.add_argument("--version", action="version", version=f"medsr {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb in VERBS:
        module = import_module(f"medsr.cli.{verb}")
        p = sub.add_parser(
            verb,
            parents=[_global_flags(suppress=True)],
            help=module.HELP,
            description=module.DESCRIPTION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _own_records(record: logging.LogRecord) -> bool:
    """Only medsr's own log lines reach the terminal; third-party chatter (ITK, pydicom,
    tifffile, scikit-image warnings) stays in the log unless --verbose or --debug."""
    return record.name == "medsr" or record.name.startswith("medsr.")


def _setup_logging(args: argparse.Namespace) -> None:
    chatty = bool(args.verbose or args.debug)
    level = logging.ERROR if args.quiet else logging.INFO if chatty else logging.WARNING
    logging.basicConfig(level=level, format="medsr: %(levelname)s: %(message)s", stream=sys.stderr, force=True)
    if not chatty:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_own_records)
    for noisy in ("PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.captureWarnings(True)  # warnings.warn from libraries become log records (filtered above)


class Terminated(BaseException):
    """SIGTERM, raised where the process is so that every staged output is cleaned up."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def _on_sigterm() -> object:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def _restore_sigterm(previous: object) -> None:
    import signal
    import threading

    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``medsr`` console script; returns the exit code."""
    import os

    # On a loaded machine, spinning OpenMP threads make torch many times slower; the CLI owns the
    # process, so it may set this before torch is imported (the library never does).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from medsr.errors import MedsrError

    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args)
    previous = _on_sigterm()
    try:
        return int(args._run(args) or 0)
    except Terminated:
        print(f"medsr {args.verb}: terminated; nothing half-written was kept", file=sys.stderr)
        return 143
    except MedsrError as err:
        if args.debug:
            raise
        print(f"medsr {args.verb}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"medsr {args.verb}: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130
    except MemoryError:
        print(
            f"medsr {args.verb}: error: out of memory. Remedy: crop the input, choose smaller factors, "
            "or use a machine with more RAM.",
            file=sys.stderr,
        )
        return 2
    except Exception as exc:  # noqa: BLE001 - the CLI must never spill a traceback by default
        if args.debug:
            raise
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(
            f"medsr {args.verb}: internal error: {type(exc).__name__}: {msg}. "
            "Rerun with --debug for the traceback and report it.",
            file=sys.stderr,
        )
        return 1
    finally:
        _restore_sigterm(previous)


if __name__ == "__main__":
    raise SystemExit(main())
