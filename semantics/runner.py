"""Run a trace on a backend and check it against its expectations."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from mmsem.semantics.engine import MAIN, Engine
from mmsem.semantics.expr import MASK64
from mmsem.semantics.namespace import TraceError
from mmsem.semantics.observe import PAGE_SIZE, Observation, observe
from mmsem.semantics.program import Outcome
from mmsem.semantics.state import Outside
from mmsem.semantics.trace import Expect, StateExpect, Trace, TraceStep, resolve
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
    returns: dict = field(default_factory=dict)  # step index -> what it returned, as an unsigned long

    @property
    def values(self) -> dict:
        """Each bound name's address in this run."""
        return {b.name: self.returns[b.step] for b in self.trace.bindings.values() if b.step in self.returns}

    def label(self, addr: int) -> str:
        return self.trace.label(addr, self.values)


def returned(outcome: Outcome) -> int:
    """What a step returned, as the program sees it in an unsigned long (-1 on failure)."""
    if outcome.ok and outcome.ret is not None:
        return outcome.ret & MASK64
    return MASK64


@dataclass(frozen=True)
class Mismatch:
    origin: Origin
    message: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.message}"


def steps_on(engine: Engine, system, trace: Trace):
    """Run the trace's steps one by one on `system`, yielding (step, StepResult) after each.

    Names bound to earlier steps' results are resolved as the run goes.
    """
    returns: dict = {}
    for step in trace.steps:
        args = {name: resolve(value, returns) for name, value in step.args.items()}
        try:
            done = engine.call(system, step.proc, step.call, args, step.slot, step.new_process)
        except TraceError as exc:
            origin = step.origin
            raise InputError(origin.path, origin.line, origin.col, str(exc)) from None
        returns[step.index] = returned(done.outcome)
        yield step, done


def run_engine(trace: Trace, engine: Engine | None = None, outside: Outside | None = None) -> TraceResult:
    """Run every step of the trace on the engine."""
    engine = engine or Engine()
    config = trace.config
    if outside is not None:
        config = replace(config, outside=outside)
    system = engine.new_system(config, trace.files)
    result = TraceResult(trace, f"engine (profile {system.profile.name})")
    for step, done in steps_on(engine, system, trace):
        result.returns[step.index] = returned(done.outcome)
        record = StepRecord(step, done.outcome, done.alternatives)
        if step.expect_state is not None:
            record.state = observe(system.processes[step.proc].mm)
        result.steps.append(record)
    result.final = {name: observe(proc.mm) for name, proc in system.processes.items()}
    return result


# -- expectations -----------------------------------------------------------------------

def outcome_matches(expect: Expect, outcome: Outcome, returns: dict) -> bool:
    if expect.errno is not None:
        return outcome.errno == expect.errno
    if expect.signal is not None:
        return outcome.signal == expect.signal
    if expect.ret == "ok":
        return outcome.ok
    return outcome.ok and outcome.ret == resolve(expect.ret, returns)


def describe_expect(expect: Expect, result: TraceResult) -> str:
    if expect.errno:
        return expect.errno
    if expect.signal:
        return expect.signal
    if expect.ret == "ok":
        return "success"
    value = resolve(expect.ret, result.returns)
    return result.label(value) if value > 0xFFFF else str(value)


def describe_outcome(outcome: Outcome, result: TraceResult) -> str:
    if outcome.ok and outcome.ret is not None and outcome.ret > 0xFFFF:
        return result.label(outcome.ret)
    return str(outcome)


def state_mismatches(expect: StateExpect, obs: Observation, result: TraceResult) -> list[Mismatch]:
    out = []
    for page_expect in expect.pages:
        first, last = resolve(page_expect.first, result.returns), resolve(page_expect.last, result.returns)
        for name, wanted in page_expect.fields.items():
            bad = [addr for addr in range(first, last + 1, PAGE_SIZE) if obs.page(addr).get(name) != wanted]
            if bad:
                got = obs.page(bad[0]).get(name)
                where = result.label(bad[0])
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
        if step.expect is not None and not outcome_matches(step.expect, record.outcome, result.returns):
            got = describe_outcome(record.outcome, result)
            if any(b.step == step.index and got.startswith(f"{b.name}+") for b in trace.bindings.values()):
                got += f" ({record.outcome})"  # named after itself: say where that is
            out.append(Mismatch(step.origin, f"{step.call}: expected {describe_expect(step.expect, result)}, "
                                             f"got {got}"))
        if step.expect_state is not None and record.state is not None:
            out.extend(state_mismatches(step.expect_state, record.state, result))
    if trace.expect_state is not None and MAIN in result.final:
        out.extend(state_mismatches(trace.expect_state, result.final[MAIN], result))
    if result.failure:
        out.append(Mismatch(Origin(trace.path, 1, 1), f"the run did not finish: {result.failure}"))
    return out
