"""The zero-data fit: thread choice (all cores unless fewer are clearly faster) and its step cap."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from medsr.selfsup import fit as fitmod


class _Sampler:
    rng = np.random.default_rng(0)

    def batch(self, n: int) -> tuple[Any, Any]:
        return torch.zeros(n, 1, 8, 8), torch.zeros(n, 1, 8, 8)


@pytest.mark.parametrize(("one_thread_cost", "expected"), [(0.95, 2), (0.7, 1), (1.3, 2)])
def test_fewer_threads_only_when_clearly_faster(monkeypatch: Any, one_thread_cost: float, expected: int) -> None:
    clock, current = [0.0], [2]
    cost = {1: one_thread_cost, 2: 1.0}

    def perf_counter() -> float:
        clock[0] += cost[current[0]]
        return clock[0]

    def set_threads(n: int) -> None:
        current[0] = n

    old = torch.get_num_threads()
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(torch, "set_num_threads", set_threads)
    monkeypatch.setattr(fitmod.time, "perf_counter", perf_counter)
    model = torch.nn.Conv2d(1, 1, 3, padding=1)
    assert fitmod.choose_threads(model, _Sampler()) == expected
    assert current[0] == expected  # left set for the fit
    monkeypatch.undo()
    assert torch.get_num_threads() == old


def test_a_time_budgeted_fit_stops_at_max_steps_with_its_schedule_done() -> None:
    model = torch.nn.Conv2d(1, 1, 3, padding=1)
    cfg = fitmod.FitConfig(batch=2, max_steps=7, log_every=1)
    res = fitmod.fit(model, _Sampler(), time_budget_s=600.0, config=cfg, precision="float32")
    assert res.steps == 7 and res.seconds < 60
    assert fitmod.fit(model, _Sampler(), time_budget_s=0.0, config=cfg, precision="float32").steps == 0


def test_2d_enhance_defaults_cap_the_steps_and_an_explicit_budget_does_not() -> None:
    from medsr.image import Image, ImageMeta
    from medsr.selfsup.enhance import enhance

    rng = np.random.default_rng(1)
    img = Image(rng.uniform(0, 1, (1, 96, 96, 1)).astype(np.float32), meta=ImageMeta(spatial_dims=2))
    capped = enhance(img, factors=(2, 2), fit=fitmod.FitConfig(max_steps=3), tta=False)
    assert capped.info["training"]["steps"] == 3 and capped.info["training"]["max_steps"] == 3
    timed = enhance(img, factors=(2, 2), time_budget_s=1.0, tta=False)
    assert timed.info["training"]["max_steps"] is None
