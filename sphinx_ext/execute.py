"""Run a scenario's trace: on the engine always, on the live kernel when asked and possible.

Results are plain JSON-able dicts, so that they can be cached on disk (cache.py) and
rendered without the engine (scenario.py, svg.py):

    engine:  {"name", "description", "profile", "config", "files", "rows", "steps", "mismatches"}
    live:    {"status": verified | disagrees | unavailable | other-kernel | unreplayable, "reason",
              "release", "version", "divergences": [[line, text]], "problems": [[line, text]]}

Line numbers in them are lines of the trace text (1-based); the directive maps them
onto the document.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

from mmsem.semantics.compare import compare
from mmsem.semantics.config import running_profile_name
from mmsem.semantics.report import reported_pages
from mmsem.semantics.runner import (
    TraceResult,
    describe_expect,
    describe_outcome,
    mismatches,
    outcome_matches,
    run_engine,
)
from mmsem.semantics.state import HPAGE_PAGES
from mmsem.semantics.trace import StateExpect, Trace, parse_trace
from mmsem.spec import default_spec

#: Page fields as stored per page, in this order (observe.PageObs without "mapped").
PAGE_FIELDS = ("prot", "shared", "locked", "onfault", "resident")
#: At most this many cells (pages, or huge pages) of one mapping are drawn.
MAX_ROW_PAGES = 512


def load(text: str, path: str, default_kernel: str | None) -> Trace:
    """The trace; one that names no kernel profile gets `default_kernel`, so that the
    documentation does not change with the machine that builds it."""
    trace = parse_trace(text, path)
    if trace.config.kernel is None and default_kernel:
        trace.config = dataclasses.replace(trace.config, kernel=default_kernel)
    return trace


def profile_hint(default_kernel: str | None) -> str:
    """The profile a trace without ``config.kernel`` runs on (part of its cache key)."""
    return default_kernel or running_profile_name()


def observing(trace: Trace) -> Trace:
    """A copy whose every step records the state after it. run_engine observes only steps
    with ``expect_state``; an empty expectation asks for the observation and checks nothing."""
    steps = [dataclasses.replace(step, expect_state=step.expect_state or StateExpect()) for step in trace.steps]
    return dataclasses.replace(trace, steps=steps)


# -- the engine ----------------------------------------------------------------------------

def on_engine(trace: Trace) -> dict:
    result = run_engine(observing(trace))
    problems = mismatches(result)
    observations = [record.state for record in result.steps] + list(result.final.values())
    rows = layout(result, observations, huge_names(trace, observations, result))
    labels = {label for _, row in rows for label in row}
    steps = []
    spec = default_spec()
    for record in result.steps:
        step, outcome = record.step, record.outcome
        entry = spec.syscalls[step.call]
        steps.append({
            "index": step.index + 1,
            "call": step.call,
            "args": [[name, written(value, entry.arg(name))] for name, value in step.written.items()],
            "bind": step.bind,
            "proc": step.proc,
            "line": step.origin.line,
            "note": step.note,
            "outcome": short(describe_outcome(outcome, result)),
            "ok": outcome.ok,
            "expect": short(describe_expect(step.expect, result)) if step.expect is not None else None,
            "met": outcome_matches(step.expect, outcome, result.returns) if step.expect is not None else None,
            "also": [str(a) for a in record.alternatives],
            "pages": pages(result, record.state, labels),
            "vmlck": record.state.vmlck,
        })
    config = trace.config
    return {
        "name": trace.name,
        "description": " ".join(trace.description.split()),
        "profile": config.profile_name,
        "config": {"privileged": config.privileged, "rlimit_memlock": config.rlimit_memlock,
                   "max_map_count": config.max_map_count, "hugetlb_pages": config.hugetlb_pages},
        "files": [file_info(name, info) for name, info in trace.files.items()],
        "rows": rows,
        "steps": steps,
        "mismatches": [[p.origin.line, p.message] for p in problems],
    }


def short(text: str) -> str:
    """A returned address as the name it was bound to: "A" rather than "A+0p"."""
    return text.removesuffix("+0p")


def written(value, arg) -> list[str] | str:
    """An argument as the trace wrote it: a list of flag names (for a flags or prot
    argument, also when the trace wrote a single name), or text."""
    if isinstance(value, list):
        return [str(v) for v in value]
    if arg is not None and arg.kind in ("flags", "prot") and isinstance(value, str):
        return [value]
    return str(value)


def file_info(name: str, info) -> dict:
    """A trace file (mmsem.semantics.trace.TraceFile) as plain data."""
    return {"name": name, "size": info.size, "hugetlb": info.hugetlb, "writable": info.writable,
            "readable": info.readable}


def hugetlb_bindings(trace: Trace) -> set[str]:
    """Names bound to an mmap of huge pages (MAP_HUGETLB, or a file on hugetlbfs)."""
    out = set()
    for step in trace.steps:
        if step.bind is None or step.call != "mmap":
            continue
        flags = step.written.get("flags", [])
        flags = [flags] if isinstance(flags, str) else flags
        fd = step.written.get("fd")
        file = trace.files.get(fd) if isinstance(fd, str) else None
        if "MAP_HUGETLB" in flags or (file is not None and file.hugetlb):
            out.add(step.bind)
    return out


def huge_names(trace: Trace, observations: list, result: TraceResult) -> set[str]:
    """The hugetlb names whose pages can be drawn a huge page to a cell: in every
    observation, the pages of each huge page are all there and all unmapped or all in
    one state (the state may differ from one observation to the next)."""
    names = hugetlb_bindings(trace)
    mixed: set[str] = set()
    for obs in observations:
        if obs is None:
            continue
        seen: dict[tuple[str, int], list] = {}
        for addr in reported_pages(result, obs):
            name, sep, offset = result.label(addr).partition("+")
            if name in names and sep and offset.endswith("p") and offset[:-1].isdigit():
                page = obs.page(addr)
                seen.setdefault((name, int(offset[:-1]) // HPAGE_PAGES), []).append(
                    tuple(page.get(f) for f in PAGE_FIELDS) if page.mapped else None)
        for (name, _), states in seen.items():
            if len(states) != HPAGE_PAGES or len(set(states)) != 1:  # partly drawn, or split
                mixed.add(name)
    return names - mixed


def layout(result: TraceResult, observations: list, huge: set[str] = frozenset()) -> list[list]:
    """Rows of page labels to draw, the same for every step: one row per bound name (its
    pages from the lowest to the highest ever seen), then pages outside every binding.
    Labels are relative to the addresses the names were bound to in this run; the rows
    of the names in `huge` count in huge pages ("H+1h"), one cell per huge page."""
    addrs: set[int] = set()
    for obs in observations:
        if obs is not None:
            addrs.update(reported_pages(result, obs))
    named: dict[str, dict[int, int]] = {}
    loose = []
    for addr in sorted(addrs):
        name, sep, offset = result.label(addr).partition("+")
        if sep and offset.endswith("p") and offset[:-1].isdigit():
            named.setdefault(name, {})[int(offset[:-1])] = addr
        else:
            loose.append(result.label(addr))
    rows = []
    for name, offsets in sorted(named.items(), key=lambda item: min(item[1].values())):
        unit, size = ("h", HPAGE_PAGES) if name in huge else ("p", 1)
        first = min(offsets) // size
        last = min(max(offsets) // size, first + MAX_ROW_PAGES - 1)
        rows.append([name, [f"{name}+{i}{unit}" for i in range(first, last + 1)]])
    if loose:
        rows.append(["", loose[:MAX_ROW_PAGES]])
    return rows


def pages(result: TraceResult, obs, labels: set) -> dict:
    """label -> [prot, shared, locked, onfault, resident] for the mapped pages drawn."""
    out = {}
    for addr, page in obs.pages.items():
        label = result.label(addr)
        name, _, offset = label.partition("+")
        if offset.endswith("p") and offset[:-1].isdigit() and int(offset[:-1]) % HPAGE_PAGES == 0:
            huge_label = f"{name}+{int(offset[:-1]) // HPAGE_PAGES}h"  # the cell of a huge page
            if huge_label in labels:
                label = huge_label
        if label in labels:
            out[label] = [page.get(f) for f in PAGE_FIELDS]
    return out


# -- the live kernel -------------------------------------------------------------------------

@lru_cache(maxsize=None)
def live_kernel():
    """(backend, None) or (None, why not); built once per process (it compiles and calibrates)."""
    from mmsem.semantics.replay import ReplayUnavailable, backend

    try:
        return backend("live"), None
    except ReplayUnavailable as exc:
        return None, str(exc)


def on_live_kernel(traces: list[Trace]) -> list[dict]:
    """Each trace on the running kernel, compared with the engine. The replayable ones go
    in one batch: one agent, and one turn of the lock that serialises kernel knobs
    across mmsem processes (a busy machine can make each turn slow)."""
    from mmsem.semantics.replay import ReplayUnavailable

    kernel, problem = live_kernel()
    if kernel is None:
        return [{"status": "unavailable", "reason": problem} for _ in traces]
    out: list[dict | None] = [None] * len(traces)
    batch = []
    for i, trace in enumerate(traces):
        wanted = trace.config.profile_name
        if kernel.profile_name != wanted:
            out[i] = {"status": "other-kernel",
                      "reason": f"the scenario describes Linux {wanted}, this machine runs {kernel.release}"}
        else:
            batch.append(i)
    try:
        results = kernel.run([traces[i] for i in batch], snap_all=True) if batch else []
    except ReplayUnavailable:  # some trace cannot be replayed: find out which, one by one
        results = []
        for i in batch:
            try:
                results.append(kernel.run([traces[i]], snap_all=True)[0])
            except ReplayUnavailable as exc:
                results.append(str(exc))
    for i, kernel_side in zip(batch, results):
        if isinstance(kernel_side, str):
            out[i] = {"status": "unreplayable", "reason": kernel_side}
        else:
            engine_side = run_engine(observing(traces[i]), outside=kernel.outside_for(traces[i]))
            out[i] = verdict(traces[i], engine_side, kernel_side, kernel)
    return out


def verdict(trace: Trace, engine_side: TraceResult, kernel_side: TraceResult, kernel) -> dict:
    comparison = compare(engine_side, kernel_side)
    problems = mismatches(kernel_side)
    divergences = []
    for d in comparison.divergences:
        on_step = d.step is not None and d.step < len(trace.steps)
        where = f"step {d.step + 1}" if on_step else "final state"
        line = trace.steps[d.step].origin.line if on_step else 1
        divergences.append([line, f"{where}: {d.kind}: {d.detail or f'engine {d.engine}, kernel {d.kernel}'}"])
    # Where the kernel agrees with the model on every step and page, its unmet
    # expectations are the engine's, already reported; they matter only on disagreement.
    return {
        "status": "disagrees" if divergences else "verified",
        "release": kernel.release,
        "version": kernel.profile_name,
        "divergences": divergences,
        "problems": [[p.origin.line, p.message] for p in problems],
    }
