"""Shared fixtures. Kernel replay tests need root; in CI (MMSEM_REQUIRE_KERNEL=1) they must run."""

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def kernel_available() -> str | None:
    """None when the live replay can run here, else why not."""
    if os.geteuid() != 0:
        return "the kernel replay needs root"
    from mmsem.semantics.replay import ReplayUnavailable
    from mmsem.semantics.replay.live import LiveKernel
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


@pytest.fixture
def spec_copy(tmp_path) -> Path:
    """A copy of the packaged spec's data files under tmp_path/spec, to break on purpose."""
    from mmsem.spec import PACKAGE_DIR

    target = tmp_path / "spec"
    shutil.copytree(PACKAGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return target


def replace_once(path: Path, old: str, new: str) -> None:
    """Replace text that must occur exactly once, so a reworded file fails loudly."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new))
