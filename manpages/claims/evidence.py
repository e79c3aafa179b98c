"""A property's witness trace as the evidence of a claim finding.

The witness runs on the engine with the profile being judged (a finding is only made
when the engine meets the witness's expectations there: the claim rests on the
engine), and, when a kernel backend is given and runs that version, on the kernel too.
Runs are cached per property and profile, so a page with several findings about one
property, or several pages, run each witness once; kernel runs are batched.

The engine is imported only when a witness has to run: a page that makes no claim
costs nothing here, and the engine outcomes of the packaged spec can be carried
from run to run (:func:`engine_runs`, :func:`remember`; ``mmsem lint`` keeps them
beside its spec cache, keyed by the spec files and the engine's source).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mmsem.manpages.rules import Evidence
from mmsem.spec.source import InputError


@dataclass(frozen=True)
class Run:
    holds: bool  # every expectation of the witness met
    text: str  # the outcome, in words


def witness_trace(prop, spec, profile_name: str):
    """The property's witness, set to run as the given kernel version."""
    from mmsem.semantics.trace import parse_trace

    try:
        trace = parse_trace(prop.witness, prop.path, spec)
    except InputError as exc:
        raise prop.relocate(exc) from None
    trace.config = dataclasses.replace(trace.config, kernel=profile_name)
    return trace


def describe(result) -> str:
    """What each step of a run did, and whether the expectations held, in one line."""
    from mmsem.semantics.engine import MAIN
    from mmsem.semantics.report import call_text
    from mmsem.semantics.runner import describe_outcome, mismatches

    steps = []
    for record in result.steps:
        who = f" in {record.step.proc}" if record.step.proc != MAIN else ""
        steps.append(f"{call_text(record.step)}{who} -> {describe_outcome(record.outcome, result)}")
    problems = mismatches(result)
    verdict = "every expectation met" if not problems else "unmet: " + "; ".join(m.message for m in problems)
    return f"{result.backend}: {'; '.join(steps)}; {verdict}"


_ENGINE_RUNS: dict = {}  # (spec directory, property id, witness, profile name) -> Run
_KERNEL_RUNS: dict = {}
_ENGINES: dict = {}  # id(spec) -> (spec, Engine): one engine per spec for the process


def engine_runs(directory: str) -> dict:
    """The engine outcomes known so far for the spec in `directory`: {(id, witness, profile): Run}."""
    return {key[1:]: run for key, run in _ENGINE_RUNS.items() if key[0] == directory}


def engine_run_count() -> int:
    """How many engine outcomes the process knows: a mark for :func:`engine_runs_since`."""
    return len(_ENGINE_RUNS)


def engine_runs_since(mark: int, directory: str) -> dict:
    """The outcomes for the spec in `directory` learnt after `mark`, as :func:`engine_runs`
    gives them (a lint worker sends them to its parent). Dicts keep insertion order."""
    if len(_ENGINE_RUNS) <= mark:
        return {}
    return {key[1:]: run for key, run in list(_ENGINE_RUNS.items())[mark:] if key[0] == directory}


def remember(directory: str, runs: dict) -> None:
    """Take engine outcomes of an earlier process (as :func:`engine_runs` gave them) as known."""
    for key, run in runs.items():
        if isinstance(run, Run):
            _ENGINE_RUNS.setdefault((directory, *key), run)


def _engine_for(spec):
    found = _ENGINES.get(id(spec))
    if found is None or found[0] is not spec:
        from mmsem.semantics.engine import Engine

        found = _ENGINES[id(spec)] = (spec, Engine(spec))
    return found[1]


class Witnesses:
    """Runs witnesses for one lint run (engine and optional kernel backend)."""

    def __init__(self, spec, engine=None, kernel=None):
        self.spec = spec
        self.engine = engine  # mmsem.semantics.engine.Engine; None: the spec's shared one, when needed
        self.kernel = kernel

    def _key(self, prop, profile) -> tuple:
        return (self.spec.directory, prop.id, prop.witness, profile.name)

    def on_engine(self, prop, profile) -> Run:
        key = self._key(prop, profile)
        if key not in _ENGINE_RUNS:
            from mmsem.semantics.runner import mismatches, run_engine

            if self.engine is None:
                self.engine = _engine_for(self.spec)
            result = run_engine(witness_trace(prop, self.spec, profile.name), self.engine)
            _ENGINE_RUNS[key] = Run(not mismatches(result) and result.failure is None, describe(result))
        return _ENGINE_RUNS[key]

    def kernel_runs_version(self, profile) -> bool:
        return self.kernel is not None and getattr(self.kernel, "profile_name", None) == profile.name

    def on_kernel(self, props, profile) -> dict:
        """{property id: Run} for the properties, on the kernel backend (one batch)."""
        if not self.kernel_runs_version(profile):
            return {}
        name = getattr(self.kernel, "name", "kernel")
        todo = [p for p in props if (name,) + self._key(p, profile) not in _KERNEL_RUNS]
        if todo:
            from mmsem.semantics.runner import mismatches

            traces = [witness_trace(p, self.spec, profile.name) for p in todo]
            for prop, result in zip(todo, self.kernel.run(traces)):
                holds = not mismatches(result) and result.failure is None
                _KERNEL_RUNS[(name,) + self._key(prop, profile)] = Run(holds, describe(result))
        return {p.id: _KERNEL_RUNS[(name,) + self._key(p, profile)] for p in props}

    def evidence(self, prop, profile, kernel_runs: dict) -> Evidence:
        engine = self.on_engine(prop, profile)
        if prop.id in kernel_runs:
            kernel = kernel_runs[prop.id].text
        elif self.kernel is not None:
            kernel = (f"not run: {getattr(self.kernel, 'name', 'the kernel')} is not Linux "
                      f"{profile.version_text}, the version the text is judged for")
        else:
            kernel = None
        return Evidence(trace=prop.witness, engine=engine.text, kernel=kernel)
