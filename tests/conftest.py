"""Shared fixtures. Kernel replay tests need root; in CI (MMSEM_REQUIRE_KERNEL=1) they must run."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def kernel_available() -> str | None:
    """None when the live replay can run here, else why not."""
    if os.geteuid() != 0:
        return "the kernel replay needs root"
    from mmsem.semantics.replay.live import LiveKernel, ReplayUnavailable
    try:
        LiveKernel()
    except ReplayUnavailable as exc:
        return str(exc)
    return None


@pytest.fixture(scope="session")
def live_kernel():
    problem = kernel_available()
    if problem:
        if os.environ.get("MMSEM_REQUIRE_KERNEL") == "1":
            pytest.fail(f"kernel replay required but unavailable: {problem}")
        pytest.skip(problem)
    from mmsem.semantics.replay.live import LiveKernel
    return LiveKernel()
