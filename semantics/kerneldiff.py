"""Between two real kernels: which traces come out differently, and why.

The same seeded traces run on an older and a newer kernel: generated for the newer
kernel's process, as `mmsem conform --seed` does there, and given to the older one with
each max_map_count moved by the difference in the processes' own mappings, so a trace
near the limit has the same room on both. Where the two kernels' results differ
(outcomes, page states or VmLck, compared like engine and kernel are), the difference
is traced to the spec: the engine runs the trace on the profile of every version at
which something in the spec begins (a trait, a flag, a call, an error), from the older
kernel's version to the newer one's, and each version at which the engine's result
changes is reported with what begins there. Some differences come from the process
around the trace instead (other mappings, at other addresses, where the kernel picks
a place): the engine shows that by giving each kernel's result when told that
kernel's surroundings, on the same profile. A difference explained by neither is
`unexplained`: the spec does not know it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

from mmsem.semantics import generate
from mmsem.semantics.compare import compare
from mmsem.semantics.conform import diverging_call
from mmsem.semantics.engine import Engine
from mmsem.semantics.runner import run_engine
from mmsem.semantics.trace import load_trace
from mmsem.spec.model import Spec
from mmsem.spec.source import InputError, Located


@dataclass
class Change:
    """A version at which the engine's result for a trace changes, and what the spec
    starts at that version."""

    version: str
    items: list

    def as_dict(self) -> dict:
        return {"version": self.version, "items": self.items}


@dataclass
class Difference:
    """One trace whose result differs between the two kernels."""

    name: str
    step: int | None  # 0-based; None for the final state
    call: str
    kind: str  # outcome, state, vmlck, failure
    old: str
    new: str
    detail: str
    changes: list = field(default_factory=list)
    #: no version explains it, but the process around the trace does: on either profile the
    #: engine gives the two kernels' results when told each kernel's own mappings
    surroundings: bool = False

    @property
    def explained(self) -> bool:
        return bool(self.changes) or self.surroundings

    def as_dict(self) -> dict:
        return {"trace": self.name, "step": None if self.step is None else self.step + 1, "call": self.call,
                "kind": self.kind, "old": self.old, "new": self.new, "detail": self.detail,
                "changes": [c.as_dict() for c in self.changes], "surroundings": self.surroundings}


@dataclass
class KernelReport:
    old: str  # kernel names
    new: str
    old_profile: str
    new_profile: str
    seed: int
    traces: int = 0
    differences: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def unexplained(self) -> list:
        return [d for d in self.differences if not d.explained]

    @property
    def surroundings(self) -> list:
        return [d for d in self.differences if d.surroundings]

    def by_item(self) -> dict:
        """Each version item that explains differences -> the traces it explains."""
        out: dict = {}
        for d in self.differences:
            for change in d.changes:
                for item in change.items:
                    out.setdefault(f"{change.version}: {item}", []).append(d.name)
        return dict(sorted(out.items(), key=lambda kv: (version_key(kv[0].split(":")[0]), kv[0])))

    def as_dict(self) -> dict:
        return {"old": {"kernel": self.old, "profile": self.old_profile},
                "new": {"kernel": self.new, "profile": self.new_profile},
                "seed": self.seed, "traces": self.traces, "differing": len(self.differences),
                "unexplained": len(self.unexplained), "surroundings": len(self.surroundings), "differences": [d.as_dict() for d in self.differences],
                "by_item": self.by_item(), "seconds": round(self.seconds, 2)}


def version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.strip().split("."))


def profile_of(since: tuple[int, ...]) -> str:
    """The first X.Y profile that has a since-version (X.Y.Z with Z > 0 is in X.Y+1)."""
    if len(since) > 2 and since[2] > 0:
        return f"{since[0]}.{since[1] + 1}"
    return f"{since[0]}.{since[1]}"


def versioned_items(spec: Spec) -> dict[str, list[str]]:
    """Profile name -> what begins in that version: traits, calls, flags and errors."""
    out: dict = {}

    def add(since, item):
        if since:
            out.setdefault(profile_of(since), []).append(item)

    for trait in spec.traits.values():
        add(trait.since, f"trait {trait.name}")
        if trait.until:
            out.setdefault(profile_of(trait.until), []).append(f"end of trait {trait.name}")
    for name, entry in spec.syscalls.items():
        add(entry.since, f"call {name}")
        for raise_ in raises_of(spec, entry.program, frozenset()):
            add(raise_.since, f"{raise_.errno} of {name}")
    for flagset in spec.flagsets.values():
        for flag in flagset.flags:
            add(flag.since, f"flag {flag.name}")
    return {version: sorted(set(items)) for version, items in out.items()}


def raises_of(spec: Spec, program, seen: frozenset) -> list:
    out = []
    for step in program:
        if step.op == "do":
            out.extend(step.raises)
        elif step.op == "check" and getattr(step, "since", None):
            out.append(step)
        elif step.op == "call" and step.id not in seen:
            out.extend(raises_of(spec, spec.procedures[step.id].program, seen | {step.id}))
    return out


class _Toggling(Engine):
    """The engine, also running profiles named "X.Y~trait": version X.Y without that trait."""

    def __init__(self, engine: Engine):  # pylint: disable=super-init-not-called
        self.__dict__.update(engine.__dict__)

    def profile(self, name: str):
        base, _, dropped = name.partition("~")
        profile = self.spec.profile(base)
        return dataclasses.replace(profile, name=name, traits=profile.traits - {dropped}) if dropped else profile


def change_points(engine: Engine, trace, outside, old: str, new: str, items: dict) -> list[Change]:
    """The versions from `old` (exclusive) to `new` at which the engine's result for the
    trace changes, each with the items beginning there that make the change: the traits
    without which the version gives another result, and the calls and flags the trace
    uses or errors it gets there that begin in that version (all of them when none of
    those can be singled out)."""
    engine = _Toggling(engine)
    versions = [v for v in sorted(items, key=version_key) if version_key(old) < version_key(v) <= version_key(new)]
    previous = _engine_run(engine, trace, outside, old)
    out = []
    for version in versions:
        current = _engine_run(engine, trace, outside, version)
        if not compare(previous, current).agree:
            out.append(Change(version, _responsible(engine, trace, outside, version, items[version], current)
                              or items[version]))
        previous = current
    return out


def _responsible(engine: Engine, trace, outside, version: str, items: list, result) -> list:
    used = {step.call for step in trace.steps}
    for step in trace.steps:
        for value in step.written.values():
            used.update(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str))
    errors = {(r.step.call, r.outcome.errno) for r in result.steps if r.outcome.errno}
    out = []
    for item in items:
        kind, _, what = item.partition(" ")
        if kind == "trait":
            if not compare(_engine_run(engine, trace, outside, f"{version}~{what}"), result).agree:
                out.append(item)
        elif kind in ("call", "flag"):
            if what in used:
                out.append(item)
        elif " of " in item:
            errno, _, call = item.partition(" of ")
            if (call, errno) in errors:
                out.append(item)
    return out


def _engine_run(engine: Engine, trace, outside, profile: str):
    trace = dataclasses.replace(trace, config=dataclasses.replace(trace.config, kernel=profile))
    return run_engine(trace, engine, outside=outside)


def base_vmas(kernel) -> int:
    """The mappings a trace's process has outside the arena on this kernel."""
    outside = kernel.calibration().outside
    return len(outside.mappings) + outside.vmas


def generated(spec: Spec, count: int, seed: int, steps: int, base: int, shift: int = 0) -> list:
    """The campaign's traces for a kernel whose process has `base` mappings of its own
    (as `mmsem conform --seed` makes them), with each max_map_count moved by `shift`:
    the other kernel's traces, with the same room below the limit."""
    gen = generate.Generator(seed, spec, generate.Options(steps=steps, base_vmas=base))
    traces = []
    for i in range(count):
        name = f"random-{seed}-{i}"
        doc = gen.trace(name)
        if shift and "max_map_count" in doc.get("config", {}):
            doc = dict(doc, config=dict(doc["config"], max_map_count=doc["config"]["max_map_count"] + shift))
        try:
            traces.append(load_trace(Located(doc, name, {}), spec))
        except InputError:
            raise InputError(name, 1, 1, "the generator produced a trace that does not load") from None
    return traces


def compare_kernels(old_kernel, new_kernel, count: int, seed: int, steps: int = 12, jobs: int = 1,
                    engine: Engine | None = None) -> KernelReport:
    """Run the seeded traces on both kernels and explain each difference by version."""
    engine = engine or Engine()
    spec = engine.spec
    started = time.monotonic()
    old_profile, new_profile = old_kernel.profile_name, new_kernel.profile_name
    report = KernelReport(old_kernel.name, new_kernel.name, old_profile, new_profile, seed)
    items = versioned_items(spec)
    new_base = base_vmas(new_kernel)
    new_traces = generated(spec, count, seed, steps, new_base)
    old_traces = generated(spec, count, seed, steps, new_base, base_vmas(old_kernel) - new_base)
    old_results = old_kernel.run(old_traces, snap_all=True, jobs=jobs)
    new_results = new_kernel.run(new_traces, snap_all=True, jobs=jobs)
    for old_trace, new_trace, old_result, new_result in zip(old_traces, new_traces, old_results, new_results):
        report.traces += 1
        comparison = compare(old_result, new_result)
        if comparison.agree:
            continue
        d = comparison.divergences[0]
        # the newer kernel's trace and surroundings first; the older one's if that shows nothing
        new_outside, old_outside = new_kernel.outside_for(new_trace), old_kernel.outside_for(old_trace)
        changes = (change_points(engine, new_trace, new_outside, old_profile, new_profile, items)
                   or change_points(engine, old_trace, old_outside, old_profile, new_profile, items))
        surroundings = not changes and any(
            not compare(_engine_run(engine, old_trace, old_outside, profile),
                        _engine_run(engine, new_trace, new_outside, profile)).agree
            for profile in (old_profile, new_profile))
        report.differences.append(Difference(new_trace.path, d.step, diverging_call(new_trace, d), d.kind,
                                             d.engine, d.kernel, d.detail, changes, surroundings))
    report.seconds = time.monotonic() - started
    return report


def render_text(report: KernelReport) -> str:
    lines = [f"mmsem kernels compare: {report.traces} traces, seed {report.seed}: "
             f"{report.old} (profile {report.old_profile}) vs {report.new} (profile {report.new_profile})",
             f"{len(report.differences)} trace(s) differ: {len(report.surroundings)} by the processes' own "
             f"mappings, {len(report.unexplained)} not explained by the spec"]
    for d in report.differences:
        where = "final state" if d.step is None else f"step {d.step + 1} ({d.call})"
        what = d.detail or f"{report.old_profile}: {d.old}, {report.new_profile}: {d.new}"
        lines.append(f"  {d.name}: {where}: {d.kind}: {what}")
        for change in d.changes:
            lines.append(f"      since {change.version}: {', '.join(change.items)}")
        if d.surroundings:
            lines.append("      not the version: the process's own mappings differ between the two kernels")
        elif not d.changes:
            lines.append("      UNEXPLAINED: no version in the spec changes the engine's result")
    lines.append("by version item:")
    for item, names in report.by_item().items():
        lines.append(f"  {item}: {len(names)} trace(s)")
    lines.append(f"time: {report.seconds:.1f} s")
    return "\n".join(lines)
