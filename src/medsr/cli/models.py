"""``medsr models [NAME]``: list the bundles medsr can use, or print one bundle's card."""

from __future__ import annotations

import argparse
import json
from typing import Any

from medsr.cli.common import print_table

HELP = "list the shipped bundles and those in your folders, or print one bundle's card"
DESCRIPTION = """List every model bundle medsr can use by name: the shipped ones, those in the
folder given by --path and those in the folders of the MEDSR_MODELS environment variable
(':'-separated; the first folder that has a name wins). With NAME (a name or a bundle file)
print its whole card: task, modality, factors, channels, the spacing range it was trained for,
the training data, licence and the validation figures stored at training time.

examples:
  medsr models
  medsr models xray-x4
  medsr models --path ~/medsr-models --json
  medsr predict --list-models"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", default=None, metavar="NAME", help="a bundle name or file: print its card")
    add_path_flag(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_path_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--path",
        dest="models_path",
        default=None,
        metavar="DIR",
        help="a folder of bundles searched before MEDSR_MODELS and the shipped ones",
    )


def run(args: argparse.Namespace) -> int:
    from medsr.models.zoo import find_model, list_models

    if args.name:
        card = find_model(args.name, args.models_path).to_dict()
        print(json.dumps(card, indent=2) if args.json else _card_text(card))
        return 0
    cards = [c.to_dict() for c in list_models(args.models_path)]
    if args.json:
        print(json.dumps(cards, indent=2))
        return 0
    rows = [_row(c) for c in cards]
    print_table(rows, ("name", "task", "modality", "spacing mm", "gain dB", "source"))
    return 0


def _row(card: dict[str, Any]) -> dict[str, Any]:
    gain = card["metrics"].get("gain_vs_bspline_db")
    return {
        "name": card["name"],
        "task": card["task"],
        "modality": ",".join(card["modality"]) or "any",
        "spacing mm": _spacing(card["spacing_range_mm"]),
        "gain dB": "" if gain is None else f"{float(gain):+.2f}",
        "source": card["source"],
    }


def _spacing(ranges: list[list[float]] | None) -> str:
    if not ranges:
        return "any"
    return " ".join(f"{lo:.3g}-{hi:.3g}" if hi < 1e5 else "any" for lo, hi in ranges)


def _card_text(card: dict[str, Any]) -> str:
    lines = [f"{card['name']}: {card['description'] or card['task']}"]
    for key in ("task", "arch", "modality", "factors", "channels", "path", "source", "license", "intended_use"):
        lines.append(f"  {key:<26} {card[key]}")
    lines.append(f"  {'spacing_range_mm':<26} {_spacing(card['spacing_range_mm'])} (X Y Z)")
    lines.append(f"  {'training_data':<26} {card['training_data']}")
    for key, value in sorted(card["metrics"].items()):
        lines.append(f"  {'metrics.' + key:<26} {value}")
    for key, value in sorted(card["plan"].items()):
        lines.append(f"  {'plan.' + key:<26} {value}")
    return "\n".join(lines)
