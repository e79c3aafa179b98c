"""Properties of the engine on random traces: invariants after every step, determinism.

Traces come from the project's own generator (mmsem.semantics.generate), go through
YAML and the trace loader like any trace a user writes, and then run on the engine.
Hypothesis draws the generator's seed and step count, plus two things the generator
leaves at their defaults: the kernel profile (so every trait is exercised, and the
result does not depend on the machine's kernel) and the size of the huge page pool
(so MAP_HUGETLB mappings can succeed). A failure message holds the trace as YAML,
ready for `mmsem run`.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmsem.semantics import generate
from mmsem.semantics.runner import steps_on
from mmsem.semantics.engine import Engine
from mmsem.semantics.generate import Generator, Options
from mmsem.semantics.invariants import check_invariants
from mmsem.semantics.runner import run_engine
from mmsem.semantics.trace import Trace, parse_trace
from mmsem.spec import default_spec

ENGINE = Engine()  # compiling the spec's programs once keeps each example cheap
PROFILES = sorted(default_spec().profiles)

seeds = st.integers(min_value=0, max_value=2**32 - 1)
step_counts = st.integers(min_value=1, max_value=16)
profiles = st.sampled_from(PROFILES)
pools = st.integers(min_value=0, max_value=4)


def random_trace_text(seed: int, steps: int, kernel: str, pool: int) -> str:
    data = Generator(seed, options=Options(steps=steps, mmu=not kernel.startswith("nommu-"))).trace(f"random-{seed}")
    config = data.setdefault("config", {})
    config["kernel"] = kernel
    config["hugetlb_pages"] = pool
    return generate.dump(data)


def load(text: str, seed: int) -> Trace:
    return parse_trace(text, f"random-{seed}.yaml")


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=seeds, steps=step_counts, kernel=profiles, pool=pools)
def test_invariants_hold_after_every_step(seed, steps, kernel, pool):
    text = random_trace_text(seed, steps, kernel, pool)
    trace = load(text, seed)
    system = ENGINE.new_system(trace.config, trace.files)
    assert check_invariants(system) == [], f"before the first step of\n{text}"
    for step, _ in steps_on(ENGINE, system, trace):
        problems = check_invariants(system)
        assert problems == [], f"after step {step.index + 1} ({step.call}) of\n{text}"


def summary(result) -> tuple:
    """What a run shows: each step's outcome and alternatives, and the final observations."""
    return [(r.step.index, r.outcome, r.alternatives) for r in result.steps], result.final


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=seeds, steps=step_counts, kernel=profiles, pool=pools)
def test_engine_is_deterministic(seed, steps, kernel, pool):
    text = random_trace_text(seed, steps, kernel, pool)
    assert text == random_trace_text(seed, steps, kernel, pool)  # the generator too
    trace = load(text, seed)
    first = summary(run_engine(trace, ENGINE))
    assert len(first[0]) == len(trace.steps)
    assert summary(run_engine(trace, ENGINE)) == first, f"a second run differs for\n{text}"
    assert summary(run_engine(load(text, seed), Engine())) == first, f"a fresh engine differs for\n{text}"
