"""Settings of the diagnostics tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    """Run each test on one intra-op thread and restore the count afterwards.

    The tests' models are tiny, so a second thread buys little, and on a busy 2-core
    machine its spin-waiting made the suite several times slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
