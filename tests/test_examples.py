"""The example traces in examples/: each holds on the engine, and on the live kernel.

Every example states the outcome of each step (`expect:`) and, where the state is
the point, the pages and VmLck it leaves (`expect_state:`). Here they are checked
three ways: on the engine; on the live kernel, all in one batch, against both the
engine (no divergence on any step or page) and the trace's own expectations; and
against the specs, whose `examples:` lists must name existing files.

Examples with a `config.kernel` profile other than the running kernel's are
engine-only: they describe older kernels that cannot run here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from mmsem.semantics.compare import compare
from mmsem.semantics.engine import MAIN
from mmsem.semantics.config import running_profile_name
from mmsem.semantics.observe import PAGE_SIZE
from mmsem.semantics.program import Outcome
from mmsem.semantics.runner import mismatches, run_engine
from mmsem.semantics.trace import read_trace

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SYSCALL_SPECS = ROOT / "spec" / "syscalls"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))
EXAMPLE_IDS = [path.stem for path in EXAMPLE_FILES]

#: The kernel the examples' expectations were written for and checked on. An example
#: without `config.kernel` means this one, also on an engine-only run elsewhere.
EXAMPLES_KERNEL = "6.18"


def load(path: Path):
    """The trace, with the default profile pinned to the one the examples describe."""
    trace = read_trace(path)
    if trace.config.kernel is None:
        trace.config = dataclasses.replace(trace.config, kernel=EXAMPLES_KERNEL)
    return trace


def runs_on_live_kernel(path: Path) -> bool:
    """The example describes the running kernel (no profile, or the running one's)."""
    kernel = read_trace(path).config.kernel
    return kernel is None or kernel == running_profile_name()


LIVE_FILES = [path for path in EXAMPLE_FILES if runs_on_live_kernel(path)]


def test_examples_exist():
    assert len(EXAMPLE_FILES) >= 15
    assert EXAMPLES / "map-locked-vs-mlock.yaml" in EXAMPLE_FILES


# -- (a) the engine meets every expectation ------------------------------------------------

@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=EXAMPLE_IDS)
def test_example_holds_on_engine(path):
    trace = load(path)
    result = run_engine(trace)
    assert result.failure is None
    assert len(result.steps) == len(trace.steps)
    assert [str(m) for m in mismatches(result)] == []


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=EXAMPLE_IDS)
def test_example_states_every_outcome(path):
    """Every step says what it must return, and the trace checks some state."""
    trace = read_trace(path)
    without = [f"step {step.index + 1} ({step.call})" for step in trace.steps if step.expect is None]
    assert without == []
    has_state = trace.expect_state is not None or any(s.expect_state is not None for s in trace.steps)
    assert has_state, "the example checks no page state or VmLck"


# -- (b) the live kernel agrees with the engine and with the expectations ------------------

@pytest.fixture(scope="module")
def live_results(live_kernel):
    """Every live-runnable example replayed in one batch: {file stem: (trace, kernel result)}."""
    traces = [read_trace(path) for path in LIVE_FILES]
    results = live_kernel.run(traces, snap_all=True)
    assert len(results) == len(traces)
    return {path.stem: (trace, result) for path, trace, result in zip(LIVE_FILES, traces, results)}


@pytest.mark.parametrize("path", LIVE_FILES, ids=[p.stem for p in LIVE_FILES])
def test_example_agrees_with_live_kernel(path, live_kernel, live_results):
    trace, kernel_result = live_results[path.stem]
    assert kernel_result.failure is None
    assert len(kernel_result.steps) == len(trace.steps)
    engine_result = run_engine(trace, outside=live_kernel.outside_for(trace))
    comparison = compare(engine_result, kernel_result)
    assert [d.as_dict() for d in comparison.divergences] == []
    assert comparison.allowed == []
    assert comparison.compared_steps == len(trace.steps)


@pytest.mark.parametrize("path", LIVE_FILES, ids=[p.stem for p in LIVE_FILES])
def test_example_holds_on_live_kernel(path, live_results):
    _, kernel_result = live_results[path.stem]
    assert [str(m) for m in mismatches(kernel_result)] == []


# -- (c) the specs name existing examples --------------------------------------------------

def spec_examples() -> list[tuple[str, str]]:
    out = []
    for spec_file in sorted(SYSCALL_SPECS.glob("*.yaml")):
        data = yaml.safe_load(spec_file.read_text())
        for name in data.get("examples") or []:
            out.append((spec_file.stem, name))
    return out


def test_specs_list_examples():
    names = {name for _, name in spec_examples()}
    assert {"mlock-partial-populate", "mlock-hole-partial", "mlock-rounding", "mlock2-onfault",
            "lock-mode-replaced", "munlock-clears-onfault", "mlockall-twice-replaces",
            "mcl-future-onfault", "mlockall-ignores-populate-failure", "map-locked-vs-mlock",
            "map-populate-best-effort", "mcl-future-new-mappings", "map-fixed-noreplace",
            "munmap-releases-lock"} <= names


@pytest.mark.parametrize("syscall,name", spec_examples(), ids=[f"{s}:{n}" for s, n in spec_examples()])
def test_spec_example_exists(syscall, name):
    assert (EXAMPLES / f"{name}.yaml").is_file(), f"spec/syscalls/{syscall}.yaml names a missing example {name}"


# -- (d) each example explains itself --------------------------------------------------------

@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=EXAMPLE_IDS)
def test_example_has_name_and_description(path):
    data = yaml.safe_load(path.read_text())
    assert data.get("name") == path.stem
    description = data.get("description")
    assert isinstance(description, str)
    assert len(description.split()) >= 10


# -- the version examples really differ from 6.18 ---------------------------------------------

def outcome_on(path: Path, kernel: str):
    trace = read_trace(path)
    trace.config = dataclasses.replace(trace.config, kernel=kernel)
    return run_engine(trace)


@pytest.mark.parametrize("name,step,old,new", [
    ("mlockall-onfault-alone-5.1", 2, Outcome(ret=0), Outcome(errno="EINVAL")),
    ("mlock2-enosys-4.3", 1, Outcome(errno="ENOSYS"), Outcome(ret=0)),
    ("mlock2-enosys-4.3", 4, Outcome(errno="EINVAL"), Outcome(ret=0)),
    ("relock-counted-twice-4.8", 2, Outcome(errno="ENOMEM"), Outcome(ret=0)),
])
def test_version_example_differs_from_6_18(name, step, old, new):
    path = EXAMPLES / f"{name}.yaml"
    assert read_trace(path).config.kernel != EXAMPLES_KERNEL
    assert outcome_on(path, read_trace(path).config.kernel).steps[step].outcome == old
    assert outcome_on(path, EXAMPLES_KERNEL).steps[step].outcome == new


def test_mode_switch_recharged_only_before_4_9():
    path = EXAMPLES / "mode-switch-recharged-4.8.yaml"
    assert outcome_on(path, "4.8").final[MAIN].vmlck == 12
    assert outcome_on(path, EXAMPLES_KERNEL).final[MAIN].vmlck == 4


def test_mlockall_onfault_alone_unlocks_on_5_1():
    result = outcome_on(EXAMPLES / "mlockall-onfault-alone-5.1.yaml", "5.1")
    a = result.values["A"]
    pages = [result.final[MAIN].page(a + i * PAGE_SIZE) for i in range(4)]
    assert [p.locked for p in pages] == [False] * 4
    assert result.final[MAIN].vmlck == 0
