"""One torch thread per test: the inputs here are tiny, and on a machine whose cores are busy
two OpenMP threads spin at every barrier (10-30× slower); the setting is restored afterwards."""
from __future__ import annotations

from typing import Iterator

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
