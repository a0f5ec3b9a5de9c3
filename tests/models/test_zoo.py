"""Model discovery and cards: shipped bundles, --path and MEDSR_MODELS, and the CLI."""

from __future__ import annotations

import json
import shutil

import pytest

from medsr.cli.main import main
from medsr.errors import ConfigError
from medsr.models.bundle import read_bundle_meta
from medsr.models.zoo import find_model, list_models, resolve_model, shipped_dir


def test_shipped_cards_carry_what_a_user_chooses_by() -> None:
    cards = {c.name: c for c in list_models()}
    assert set(cards) >= {"ct-inplane-x2", "xray-x4", "rgb-x4"}
    ct = cards["ct-inplane-x2"]
    assert ct.modality == ["CT"] and ct.factors == [2, 2] and ct.channels == 1 and ct.source == "shipped"
    assert ct.task == "2D ×2, grey" and cards["rgb-x4"].task == "2D ×4, RGB"
    assert "lung1" in ct.training_data and ct.license.startswith("Apache-2.0")
    assert ct.metrics["gain_vs_bspline_db"] > 0 and ct.spacing_range_mm[0][0] > 0


def test_user_folders_come_first_and_env_is_searched(tmp_path, monkeypatch) -> None:
    mine, env = tmp_path / "mine", tmp_path / "env"
    mine.mkdir()
    env.mkdir()
    shutil.copy(shipped_dir() / "xray-x4.safetensors", mine / "xray-x4.safetensors")
    shutil.copy(shipped_dir() / "rgb-x4.safetensors", env / "photos.safetensors")
    (env / "broken.safetensors").write_bytes(b"not a bundle")
    monkeypatch.setenv("MEDSR_MODELS", str(env))
    cards = {c.name: c for c in list_models(mine)}
    assert cards["xray-x4"].source == str(mine)
    assert cards["photos"].source == str(env) and cards["photos"].channels == 3
    assert "broken" not in cards
    assert resolve_model("photos") == env / "photos.safetensors"
    assert find_model("xray-x4", mine).path == str(mine / "xray-x4.safetensors")
    with pytest.raises(ConfigError, match="photos"):
        resolve_model("nope")
    with pytest.raises(ConfigError, match="not a folder"):
        list_models(tmp_path / "missing")


def test_models_cli_lists_and_prints_cards(capsys) -> None:
    assert main(["models"]) == 0
    table = capsys.readouterr().out
    gain = read_bundle_meta(resolve_model("xray-x4")).metrics["gain_vs_bspline_db"]
    assert "xray-x4" in table and "2D ×4, grey" in table and f"{gain:+.2f}" in table
    assert main(["models", "ct-inplane-x2", "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["factors"] == [2, 2] and card["modality"] == ["CT"]
    assert main(["models", "rgb-x4"]) == 0
    assert "training_data" in capsys.readouterr().out
    assert main(["predict", "--list-models"]) == 0
    assert "ct-inplane-x2" in capsys.readouterr().out
    assert main(["models", "no-such"]) == 2
    assert "no-such: is neither a bundle file nor a known bundle name" in capsys.readouterr().err
    assert main(["predict", "-i", "x.nii.gz"]) == 2
    assert "predict needs -o -m" in capsys.readouterr().err


def test_listing_needs_no_torch() -> None:
    import subprocess
    import sys

    code = "import sys, medsr; medsr.list_models(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
