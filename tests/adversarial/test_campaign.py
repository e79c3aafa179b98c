"""The fuzzing campaign of scripts/fuzz.py, bounded for CI: every input reader against
generated bad input (hypothesis draws them). The only accepted failure is the documented
one-line input error; anything else fails the test with the saved input and how to replay it.

The full campaign (>= 100,000 inputs per target) is `python3 scripts/fuzz.py --inputs 100000`."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

from .conftest import ROOT

#: Inputs per target in CI: a few thousand where an input is cheap, fewer where each one
#: reloads the whole spec (spec) or runs the engine (trace). MMSEM_FUZZ_INPUTS scales them.
INPUTS = {"expr": 4000, "patch": 2000, "roff": 1500, "trace": 1500, "spec": 1000}
SCALE = float(os.environ.get("MMSEM_FUZZ_SCALE", "1"))


def fuzz_module():
    """scripts/fuzz.py as a module (registered, so that its workers can unpickle its functions)."""
    if "mmsem_fuzz" in sys.modules:
        return sys.modules["mmsem_fuzz"]
    spec = importlib.util.spec_from_file_location("mmsem_fuzz", ROOT / "scripts" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["mmsem_fuzz"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("target", list(INPUTS))
def test_bounded_campaign(tmp_path, target):
    fuzz = fuzz_module()
    inputs = max(1, int(INPUTS[target] * SCALE))
    result = fuzz.run_parallel(target, inputs, seed=1, out=tmp_path / "failures", timeout=30, jobs=2,
                               memory=2 << 30, cli_every=500)
    assert not result.skipped
    assert result.tried == inputs
    assert result.failures == [], "\n" + fuzz.table([result])
