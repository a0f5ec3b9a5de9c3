"""The typed training config: every bad key, type and range is a ConfigError naming key and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from medsr.errors import ConfigError
from medsr.train.config import TrainConfig, config_from_dict, load_config, patch_shape, save_config

BASE = {"data": {"train": "hr/"}, "degradation": {"factors": [2, 2]}}


def _cfg(**sections: dict) -> TrainConfig:
    raw = {k: dict(v) for k, v in BASE.items()}
    for key, value in sections.items():
        raw.setdefault(key, {}).update(value)
    return config_from_dict(raw, source="cfg.yaml")


def test_defaults_are_resolved() -> None:
    cfg = _cfg()
    assert cfg.factors3 == (2.0, 2.0, 1.0)
    assert cfg.degradation.profiles == ["rect", "gaussian"]
    assert cfg.degradation.thickness_scale == [0.7, 1.3]
    assert patch_shape(cfg) == (64, 64, 1)


@pytest.mark.parametrize(
    "section,values,words",
    [
        ("optim", {"lrate": 0.1}, ["unknown key optim.lrate", "optim.lr"]),
        ("optim", {"lr": "fast"}, ["optim.lr must be a number", "'fast'"]),
        ("optim", {"steps": 2.5}, ["optim.steps must be an integer"]),
        ("optim", {"lr": 3.0}, ["optim.lr = 3.0 is out of range"]),
        ("patches", {"mode": "4d"}, ["patches.mode = '4d' is not allowed", "2.5d"]),
        ("patches", {"augment": "yes"}, ["patches.augment must be true or false"]),
        ("degradation", {"thickness_scale": [1.3]}, ["degradation.thickness_scale needs 2 values"]),
        ("degradation", {"thickness_scale": [1.3, 0.7]}, ["low end above its high end"]),
        ("degradation", {"profiles": ["rect", "sinc"]}, ["degradation.profiles[1] = 'sinc' is not allowed"]),
        ("degradation", {"factors": [2, 2, 2]}, ["slice axis z in 2d mode"]),
        ("degradation", {"factors": [1.5, 1.5]}, ["must be whole numbers"]),
        ("patches", {"size": [33, 32], "mode": "2d"}, ["not a multiple of its factor"]),
        ("patches", {"size": [32, 32], "mode": "3d"}, ["needs 3 values in 3d mode"]),
    ],
)
def test_bad_values_name_key_and_file(section: str, values: dict, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        _cfg(**{section: values})
    msg = str(err.value)
    assert msg.startswith("cfg.yaml: ")
    for w in words:
        assert w in msg


def test_unknown_section_and_missing_data() -> None:
    with pytest.raises(ConfigError, match="unknown key trainer"):
        config_from_dict({**BASE, "trainer": {}})
    with pytest.raises(ConfigError, match="data.train is not set"):
        config_from_dict({"degradation": {"factors": [2, 2]}})


def test_yaml_file_errors_name_the_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("data:\n  train: hr/\ndegradation:\n  factors: [2, 2]\noptim:\n  stepz: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert str(p) in str(err.value) and "optim.stepz" in str(err.value)
    p.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_yaml_roundtrip_and_overrides(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("data: {train: hr/}\ndegradation: {factors: [4, 4]}\noptim: {lr: 1e-3, steps: 10}\n")
    cfg = load_config(p, overrides={"optim.steps": 20, "model.arch": None})
    assert cfg.optim.lr == pytest.approx(1e-3)  # YAML reads 1e-3 as a string; accepted as a number
    assert cfg.optim.steps == 20 and cfg.model.arch == "fast"
    save_config(cfg, tmp_path / "resolved.yaml")
    again = load_config(tmp_path / "resolved.yaml")
    assert again == cfg
