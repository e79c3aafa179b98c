"""Every property's witness trace holds on the engine and on the live kernel.

A witness demonstrates its property: its ``expect:`` and ``expect_state:`` are what the
kernel does. It must hold on the engine for its own profile (the one it names, else
the profile the catalogue was written for) and for every other named profile in the
property's version range; a witness of the running kernel's version must also hold on
the live kernel, step for step and page for page the same as the engine. Outside its
range a witness need not hold: where the engine models the change, it does not.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mmsem.semantics.compare import compare
from mmsem.semantics.config import running_profile_name
from mmsem.semantics.runner import mismatches, run_engine
from mmsem.semantics.trace import parse_trace
from mmsem.spec import default_spec
from mmsem.spec.properties import load_properties

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = list(load_properties(ROOT / "spec" / "properties"))  # parametrize wants a collection
IDS = [p.id for p in CATALOGUE]
#: The kernel the witnesses without config.kernel were written for and checked on.
WITNESS_KERNEL = "6.18"


def witness(prop, profile: str | None = None):
    trace = parse_trace(prop.witness, prop.path)
    kernel = profile or trace.config.kernel or WITNESS_KERNEL
    trace.config = dataclasses.replace(trace.config, kernel=kernel)
    return trace


def relocated(prop, result) -> list[str]:
    """Unmet expectations, placed in the catalogue file."""
    return [f"{prop.path}:{prop.witness_line + m.origin.line - 1}: {m.message}" for m in mismatches(result)]


@pytest.mark.parametrize("prop", CATALOGUE, ids=IDS)
def test_witness_holds_on_engine(prop):
    result = run_engine(witness(prop))
    assert result.failure is None
    assert relocated(prop, result) == []


@pytest.mark.parametrize("prop", CATALOGUE, ids=IDS)
def test_witness_states_every_outcome(prop):
    trace = witness(prop)
    assert [s.index for s in trace.steps if s.expect is None] == []
    assert trace.expect_state is not None or any(s.expect_state is not None for s in trace.steps)


def profiles_in_range(prop) -> list[str]:
    spec = default_spec()
    return [name for name, p in spec.profiles.items() if p.mmu and prop.holds_for(p.version)]


@pytest.mark.parametrize("prop", CATALOGUE, ids=IDS)
def test_witness_holds_on_every_profile_in_range(prop):
    failing = {name: relocated(prop, run_engine(witness(prop, name))) for name in profiles_in_range(prop)}
    assert {name: problems for name, problems in failing.items() if problems} == {}


def test_version_boundaries_the_engine_models():
    """Profiles before a property's `since` (or from its `until`) where the witness fails.

    Properties missing from this table change at a version the engine has no trait
    for (see docs/lint-report.md, "Engine gaps"); their witness holds everywhere.
    """
    spec = default_spec()
    failing = {}
    for prop in CATALOGUE:
        if prop.since is None and prop.until is None:
            continue
        outside = [name for name, p in spec.profiles.items() if p.mmu and not prop.holds_for(p.version)]
        broken = [name for name in outside if mismatches(run_engine(witness(prop, name)))]
        if broken:
            failing[prop.id] = broken
    assert failing == {
        "madvise-free-lazy-without-swap": ["4.3"],  # MADV_FREE itself is 4.5; 4.5-4.11 are not modelled
        "map-droppable-is-a-type": ["6.1", "5.1", "4.8", "4.3"],
        "map-eexist-only-noreplace": ["4.8", "4.3"],
        "map-shared-and-private-validate": ["4.8", "4.3"],
        "map-shared-validate-needs-file": ["4.8", "4.3"],
        "mlock-onfault-charges-whole-range": ["4.3"],
        "mlockall-onfault-alone-accepted": ["6.18", "6.1", "4.3"],
        "mlockall-onfault-alone-rejected": ["5.1", "4.8"],
        "mremap-dontunmap-any-mapping": ["5.1", "4.8", "4.3"],
        "munlock-clears-lock-on-fault": ["4.3"],
    }


# -- the live kernel ----------------------------------------------------------------------

LIVE = [p for p in CATALOGUE if witness(p).config.kernel == running_profile_name()]


@pytest.fixture(scope="module")
def live_results(live_kernel):
    traces = [witness(p) for p in LIVE]
    results = live_kernel.run(traces, snap_all=True)
    return {p.id: (trace, result) for p, trace, result in zip(LIVE, traces, results)}


def test_witnesses_of_old_kernels_only_are_engine_only():
    assert sorted(p.id for p in CATALOGUE if p not in LIVE) == (
        ["mlockall-onfault-alone-accepted"] if running_profile_name() == WITNESS_KERNEL else IDS)


@pytest.mark.parametrize("prop", LIVE, ids=[p.id for p in LIVE])
def test_witness_holds_on_live_kernel(prop, live_results):
    _, result = live_results[prop.id]
    assert result.failure is None
    assert relocated(prop, result) == []


@pytest.mark.parametrize("prop", LIVE, ids=[p.id for p in LIVE])
def test_engine_and_live_kernel_agree_on_witness(prop, live_kernel, live_results):
    trace, kernel_result = live_results[prop.id]
    engine_result = run_engine(trace, outside=live_kernel.outside_for(trace))
    comparison = compare(engine_result, kernel_result)
    assert [d.as_dict() for d in comparison.divergences] == []
    assert comparison.compared_steps == len(trace.steps)
