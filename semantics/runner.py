"""Run a trace on a backend and check it against its expectations."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from mmsem.semantics.engine import MAIN, Engine
from mmsem.semantics.namespace import TraceError
from mmsem.semantics.observe import PAGE_SIZE, Observation, observe
from mmsem.semantics.program import Outcome
from mmsem.semantics.state import Outside
from mmsem.semantics.trace import Expect, StateExpect, Trace, TraceStep
from mmsem.spec.model import Origin
from mmsem.spec.source import InputError


@dataclass
class StepRecord:
    step: TraceStep
    outcome: Outcome
    alternatives: tuple = ()
    state: Observation | None = None  # after the step, when the step has expect_state


@dataclass
class TraceResult:
    trace: Trace
    backend: str  # "engine (profile 6.18)" or "kernel 6.18.44"
    steps: list = field(default_factory=list)
    final: dict = field(default_factory=dict)  # process -> Observation
    failure: str | None = None  # the run could not finish (kernel replay crash or hang)


@dataclass(frozen=True)
class Mismatch:
    origin: Origin
    message: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.message}"


def run_engine(trace: Trace, engine: Engine | None = None, outside: Outside | None = None) -> TraceResult:
    """Run every step of the trace on the engine."""
    engine = engine or Engine()
    config = trace.config
    if outside is not None:
        config = replace(config, outside=outside)
    system = engine.new_system(config, trace.files)
    result = TraceResult(trace, f"engine (profile {system.profile.name})")
    for step in trace.steps:
        try:
            done = engine.call(system, step.proc, step.call, step.args, step.slot)
        except TraceError as exc:
            origin = step.origin
            raise InputError(origin.path, origin.line, origin.col, str(exc)) from None
        record = StepRecord(step, done.outcome, done.alternatives)
        if step.expect_state is not None:
            record.state = observe(system.processes[step.proc].mm)
        result.steps.append(record)
    result.final = {name: observe(proc.mm) for name, proc in system.processes.items()}
    return result


# -- expectations -----------------------------------------------------------------------

def outcome_matches(expect: Expect, outcome: Outcome) -> bool:
    if expect.errno is not None:
        return outcome.errno == expect.errno
    if expect.signal is not None:
        return outcome.signal == expect.signal
    if expect.ret == "ok":
        return outcome.ok
    return outcome.ok and outcome.ret == expect.ret


def describe_expect(expect: Expect, trace: Trace) -> str:
    if expect.errno:
        return expect.errno
    if expect.signal:
        return expect.signal
    if expect.ret == "ok":
        return "success"
    return trace.label(expect.ret) if isinstance(expect.ret, int) and expect.ret > 0xFFFF else str(expect.ret)


def describe_outcome(outcome: Outcome, trace: Trace) -> str:
    if outcome.ok and outcome.ret is not None and outcome.ret > 0xFFFF:
        return trace.label(outcome.ret)
    return str(outcome)


def state_mismatches(expect: StateExpect, obs: Observation, trace: Trace) -> list[Mismatch]:
    out = []
    for page_expect in expect.pages:
        for name, wanted in page_expect.fields.items():
            bad = [addr for addr in range(page_expect.first, page_expect.last + 1, PAGE_SIZE)
                   if obs.page(addr).get(name) != wanted]
            if bad:
                got = obs.page(bad[0]).get(name)
                where = trace.label(bad[0])
                extra = f" (and {len(bad) - 1} more page(s) of {page_expect.text})" if len(bad) > 1 else ""
                out.append(Mismatch(page_expect.origin,
                                    f"{where}: {name} is {_show(got)}, expected {_show(wanted)}{extra}"))
    if expect.vmlck is not None and obs.vmlck != expect.vmlck:
        out.append(Mismatch(expect.origin, f"VmLck is {obs.vmlck}p, expected {expect.vmlck}p"))
    return out


def _show(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def mismatches(result: TraceResult) -> list[Mismatch]:
    """Every expectation of the trace that the result does not meet."""
    trace = result.trace
    out = []
    for record in result.steps:
        step = record.step
        if step.expect is not None and not outcome_matches(step.expect, record.outcome):
            out.append(Mismatch(step.origin, f"{step.call}: expected {describe_expect(step.expect, trace)}, "
                                             f"got {describe_outcome(record.outcome, trace)}"))
        if step.expect_state is not None and record.state is not None:
            out.extend(state_mismatches(step.expect_state, record.state, trace))
    if trace.expect_state is not None and MAIN in result.final:
        out.extend(state_mismatches(trace.expect_state, result.final[MAIN], trace))
    if result.failure:
        out.append(Mismatch(Origin(trace.path, 1, 1), f"the run did not finish: {result.failure}"))
    return out
