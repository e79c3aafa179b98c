"""The conformance campaign: random traces on the engine and on a real kernel.

Traces come from a seeded generator (generate.py), so a campaign is reproducible
from its seed. Each trace runs on the kernel (in a child, through the replay
agent) and on the engine (told the same facts about the process outside the
arena), and the two are compared step by step and page by page. A divergence is
shrunk to a small trace that still diverges the same way and written out as YAML,
with the kernel's outcomes as expectations, ready to become a regression test.
Divergences the spec declares (spec/divergences.yaml) are counted apart; outcomes
the engine allows but cannot predict (memory pressure) are counted apart too.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mmsem.semantics import generate
from mmsem.semantics.compare import Comparison, Divergence, compare
from mmsem.semantics.engine import Engine
from mmsem.semantics.runner import TraceResult, run_engine
from mmsem.semantics.shrink import shrink
from mmsem.semantics.trace import Trace, load_trace
from mmsem.spec.model import Spec
from mmsem.spec.source import InputError, Located

CHUNK = 400  # traces generated, replayed and compared together
MIN_COVERAGE = 10


@dataclass
class Found:
    """One diverging trace: where, what, and its shrunk form."""

    name: str
    divergence: Divergence
    call: str
    declared: str | None
    original: dict
    shrunk: dict | None = None
    path: str | None = None

    def as_dict(self) -> dict:
        d = self.divergence
        return {"trace": self.name, "call": self.call, "step": d.step, "kind": d.kind, "engine": d.engine,
                "kernel": d.kernel, "detail": d.detail, "declared": self.declared is not None,
                "declaration": self.declared, "shrunk_trace": self.path,
                "shrunk_steps": len(self.shrunk["steps"]) if self.shrunk else None}


@dataclass
class Coverage:
    outcomes: Counter = field(default_factory=Counter)  # (call, outcome kind) -> count
    flags: Counter = field(default_factory=Counter)  # flag name -> steps passing it
    expected_outcomes: dict = field(default_factory=dict)  # call -> set of outcome names
    expected_flags: set = field(default_factory=set)

    def record(self, result: TraceResult, spec: Spec) -> None:
        for record in result.steps:
            step = record.step
            outcome = record.outcome
            name = outcome.errno or outcome.signal or "ok"
            self.outcomes[(step.call, name)] += 1
            entry = spec.syscalls[step.call]
            for arg in entry.args:
                if arg.kind in ("flags", "prot") and arg.name in step.written:
                    value = step.written[arg.name]
                    for item in value if isinstance(value, list) else [value]:
                        if isinstance(item, str):
                            self.flags[item] += 1

    def missing(self) -> tuple[list, list]:
        """(call, outcome) pairs and flags seen fewer than MIN_COVERAGE times."""
        pairs = [(call, name, self.outcomes[(call, name)])
                 for call, names in sorted(self.expected_outcomes.items()) for name in sorted(names)
                 if self.outcomes[(call, name)] < MIN_COVERAGE]
        flags = [(flag, self.flags[flag]) for flag in sorted(self.expected_flags) if self.flags[flag] < MIN_COVERAGE]
        return pairs, flags

    def as_dict(self) -> dict:
        pairs, flags = self.missing()
        return {
            "outcomes": {f"{call} {name}": count for (call, name), count in sorted(self.outcomes.items())},
            "flags": dict(sorted(self.flags.items())),
            "below_minimum": {"outcomes": [f"{c} {n}" for c, n, _ in pairs], "flags": [f for f, _ in flags]},
            "minimum": MIN_COVERAGE,
        }


def possible_outcomes(spec: Spec, profile) -> dict[str, set[str]]:
    """Per call, the outcomes the spec can produce on this profile (ok, errnos, signals)."""
    def walk(program, seen) -> set:
        names = set()
        for step in program:
            if step.op == "check":
                names.add(step.errno or step.signal)
            elif step.op == "do":
                names.update(r.errno for r in step.raises if not r.nondeterministic)
            elif step.op == "call" and step.id not in seen:
                names |= walk(spec.procedures[step.id].program, seen | {step.id})
        return names

    out = {}
    for name, entry in spec.syscalls.items():
        if entry.since and profile.version < entry.since:
            out[name] = {"ENOSYS"}
            continue
        out[name] = walk(entry.program, frozenset()) | {"ok"}
    return out


def declared_for(spec: Spec, divergence: Divergence, call: str, profile_name: str) -> str | None:
    for entry in spec.divergences:
        if entry.call != call or entry.kind != divergence.kind:
            continue
        if entry.engine is not None and entry.engine != divergence.engine:
            continue
        if entry.kernel is not None and entry.kernel != divergence.kernel:
            continue
        if entry.profiles and profile_name not in entry.profiles:
            continue
        return entry.id
    return None


def diverging_call(trace: Trace, divergence: Divergence) -> str:
    if divergence.step is not None and divergence.step < len(trace.steps):
        return trace.steps[divergence.step].call
    return "final"


def with_expectations(doc: dict, result: TraceResult) -> dict:
    """The trace with the kernel's outcome of each step as its expectation."""
    doc = dict(doc, steps=[dict(step) for step in doc["steps"]])
    for step, record in zip(doc["steps"], result.steps):
        outcome = record.outcome
        if outcome.errno:
            step["expect"] = {"errno": outcome.errno}
        elif outcome.signal:
            step["expect"] = {"signal": outcome.signal}
        elif outcome.ret is not None and outcome.ret <= 0xFFFF:
            step["expect"] = {"ret": outcome.ret}
        else:
            step["expect"] = {"ret": "ok"}
    return doc


class Progress:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, total: int, stream=None):
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.start = time.monotonic()

    def update(self, done: int, diverging: int) -> None:
        if not self.enabled:
            return
        width = 30
        filled = int(width * done / max(self.total, 1))
        rate = done / max(time.monotonic() - self.start, 1e-9)
        self.stream.write(f"\r[{'=' * filled}{' ' * (width - filled)}] {done}/{self.total} traces, "
                          f"{diverging} diverging, {rate:.0f}/s ")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


@dataclass
class Report:
    traces: int = 0
    steps: int = 0
    agree: int = 0
    allowed: int = 0  # traces that stopped at an allowed, unpredicted outcome
    found: list = field(default_factory=list)
    coverage: Coverage = field(default_factory=Coverage)
    seconds: float = 0.0
    seed: int = 0
    kernel: str = ""
    profile: str = ""

    @property
    def undeclared(self) -> list:
        return [f for f in self.found if f.declared is None]

    def as_dict(self) -> dict:
        return {
            "traces": self.traces, "steps": self.steps, "agree": self.agree,
            "agree_percent": round(100.0 * self.agree / max(self.traces, 1), 3),
            "allowed_nondeterminism": self.allowed,
            "divergences": [f.as_dict() for f in self.found],
            "coverage": self.coverage.as_dict(),
            "seed": self.seed, "kernel": self.kernel, "profile": self.profile,
            "seconds": round(self.seconds, 2),
            "traces_per_second": round(self.traces / max(self.seconds, 1e-9), 1),
            "steps_per_second": round(self.steps / max(self.seconds, 1e-9), 1),
        }


class Campaign:
    """Runs generated traces on the engine and a kernel backend and compares them."""

    def __init__(self, kernel, engine: Engine | None = None, jobs: int = 1, out_dir: str | None = None,
                 shrink_limit: int = 20):
        self.kernel = kernel
        self.engine = engine or Engine()
        self.spec = self.engine.spec
        self.jobs = jobs
        self.out_dir = Path(out_dir) if out_dir else None
        self.shrink_limit = shrink_limit

    # -- one batch -------------------------------------------------------------------
    def load(self, docs: list[dict], names: list[str]) -> list[Trace | None]:
        """Traces from generated data; None for a candidate that does not load."""
        traces = []
        for doc, name in zip(docs, names):
            try:
                traces.append(load_trace(Located(doc, name, {}), self.spec))
            except InputError:
                traces.append(None)
        return traces

    def judge(self, traces: list[Trace]) -> list[tuple[TraceResult, TraceResult, Comparison]]:
        return self.compared(traces, self.kernel.run(traces, snap_all=True, jobs=self.jobs))

    def compared(self, traces: list[Trace], kernel_results: list) -> list[tuple[TraceResult, TraceResult, Comparison]]:
        out = []
        for trace, kernel_result in zip(traces, kernel_results):
            engine_result = run_engine(trace, self.engine, outside=self.kernel.outside_for(trace))
            out.append((engine_result, kernel_result, compare(engine_result, kernel_result)))
        return out

    # -- shrinking ---------------------------------------------------------------------
    def still_diverges(self, call: str, kind: str):
        """Oracle for shrink(): the candidate diverges at the same kind of call."""
        def oracle(docs: list[dict]) -> list[bool]:
            traces = self.load(docs, [f"<candidate {i}>" for i in range(len(docs))])
            valid = [t for t in traces if t is not None]
            verdicts = iter(self.judge(valid)) if valid else iter(())
            out = []
            for trace in traces:
                if trace is None:
                    out.append(False)
                    continue
                _, _, comparison = next(verdicts)
                out.append(any(d.kind == kind and diverging_call(trace, d) == call
                               for d in comparison.divergences))
            return out
        return oracle

    def write(self, found: Found, result: TraceResult | None) -> None:
        if self.out_dir is None or found.shrunk is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        doc = with_expectations(found.shrunk, result) if result else found.shrunk
        d = found.divergence
        doc = dict(doc, name=found.name,
                   description=(f"Found by mmsem conform ({found.name}): at {found.call}, {d.kind} differs; "
                                f"engine {d.engine or '-'}, kernel {d.kernel or '-'}. {d.detail}").strip())
        path = self.out_dir / f"{doc['name']}.yaml"
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(generate.dump(doc))
        tmp.replace(path)
        found.path = str(path)

    # -- the campaign ---------------------------------------------------------------------
    def run(self, count: int, seed: int, steps: int, progress: Progress | None = None) -> Report:
        calibration = self.kernel.calibration()
        outside = calibration.outside
        options = generate.Options(steps=steps, base_vmas=len(outside.mappings) + outside.vmas)
        gen = generate.Generator(seed, self.spec, options)
        profile = self.engine.profile(self.kernel.profile_name)
        report = Report(seed=seed, kernel=self.kernel.name, profile=profile.name)
        report.coverage.expected_outcomes = possible_outcomes(self.spec, profile)
        report.coverage.expected_flags = {f.name for name, fs in self.spec.flagsets.items() for f in fs.flags
                                          if f.name not in generate.NEVER_GENERATED
                                          and not (f.since and profile.version < f.since)}
        started = time.monotonic()
        # A kernel that replays without touching this process's signals or knobs (the VMs)
        # replays the next chunk while this thread judges the last one.
        background = ThreadPoolExecutor(1) if getattr(self.kernel, "replays_in_background", False) else None
        try:
            self._run_chunks(gen, count, seed, report, profile, background, progress)
        except BaseException:
            if background is not None:  # stop the replay that runs ahead, without waiting for it
                background.shutdown(wait=False, cancel_futures=True)
                self.kernel.kill_vms()
            raise
        if background is not None:
            background.shutdown()
        for found in report.undeclared[: self.shrink_limit]:
            found.shrunk = shrink(found.original, self.still_diverges(found.call, found.divergence.kind))
            trace = self.load([found.shrunk], [found.name])[0]
            result = self.kernel.run([trace])[0] if trace is not None else None
            self.write(found, result)
        report.seconds = time.monotonic() - started
        return report

    def _chunk(self, gen, seed: int, first: int, size: int, background):
        """Generate and load traces first..first+size, and start their replay if it runs in
        the background (else they are replayed when judged)."""
        names = [f"random-{seed}-{first + i}" for i in range(size)]
        docs = [gen.trace(name) for name in names]
        traces = self.load(docs, names)
        if any(t is None for t in traces):
            bad = names[traces.index(None)]
            raise InputError(bad, 1, 1, "the generator produced a trace that does not load")
        replay = background.submit(self.kernel.run, traces, True, self.jobs) if background else None
        return docs, traces, replay

    def _run_chunks(self, gen, count: int, seed: int, report: Report, profile, background, progress) -> None:
        done = 0
        chunk = self._chunk(gen, seed, 0, min(CHUNK, count), background)
        while chunk is not None:
            docs, traces, replay = chunk
            size = len(traces)
            chunk = (self._chunk(gen, seed, done + size, min(CHUNK, count - done - size), background)
                     if done + size < count else None)
            judged = self.compared(traces, replay.result()) if replay else self.judge(traces)
            for doc, trace, (engine_result, kernel_result, comparison) in zip(docs, traces, judged):
                report.traces += 1
                report.steps += len(kernel_result.steps)
                report.coverage.record(kernel_result, self.spec)
                if comparison.allowed:
                    report.allowed += 1
                if comparison.agree:
                    report.agree += 1
                    continue
                divergence = comparison.divergences[0]
                call = diverging_call(trace, divergence)
                found = Found(trace.path, divergence, call,
                              declared_for(self.spec, divergence, call, profile.name), doc)
                report.found.append(found)
            done += size
            if progress:
                progress.update(done, len(report.found))


def render_text(report: Report) -> str:
    data = report.as_dict()
    lines = [
        f"mmsem conform: {report.traces} traces, {report.steps} steps, seed {report.seed}, "
        f"{report.kernel} against profile {report.profile}",
        f"agree: {report.agree} ({data['agree_percent']}%)   divergences: {len(report.undeclared)} undeclared, "
        f"{len(report.found) - len(report.undeclared)} declared   allowed nondeterminism: {report.allowed}",
        f"time: {report.seconds:.1f} s ({data['traces_per_second']} traces/s, {data['steps_per_second']} steps/s)",
    ]
    for found in report.found:
        d = found.divergence
        where = "final state" if d.step is None else f"step {d.step + 1} ({found.call})"
        tag = f"declared: {found.declared}" if found.declared else "UNDECLARED"
        detail = d.detail or f"engine {d.engine}, kernel {d.kernel}"
        shrunk = f"; shrunk to {len(found.shrunk['steps'])} step(s): {found.path}" if found.shrunk else ""
        lines.append(f"  {found.name}: {where}: {d.kind}: {detail} [{tag}]{shrunk}")
    lines.append("coverage of outcomes (kernel), per call:")
    by_call: dict = {}
    for (call, name), count in sorted(report.coverage.outcomes.items()):
        by_call.setdefault(call, []).append(f"{name} {count}")
    for call in sorted(by_call):
        lines.append(f"  {call:11} " + ", ".join(by_call[call]))
    lines.append("flags passed: " + ", ".join(f"{f} {n}" for f, n in sorted(report.coverage.flags.items())))
    pairs, flags = report.coverage.missing()
    if pairs or flags:
        lines.append(f"below {MIN_COVERAGE}: " + ", ".join([f"{c} {n} ({k})" for c, n, k in pairs] +
                                                       [f"{f} ({k})" for f, k in flags]))
    else:
        lines.append(f"every outcome the spec allows and every flag was seen at least {MIN_COVERAGE} times")
    return "\n".join(lines)

