"""Render trace results: a readable table, or the JSON shape DESIGN.md fixes."""

from __future__ import annotations

from mmsem.semantics import layout
from mmsem.semantics.compare import outcome_texts
from mmsem.semantics.engine import MAIN
from mmsem.semantics.observe import PAGE_SIZE, Observation, runs
from mmsem.semantics.runner import TraceResult, describe_outcome
from mmsem.semantics.trace import TraceStep

FIELDS = ("mapped", "prot", "shared", "locked", "onfault", "resident")


def call_text(step: TraceStep) -> str:
    """A step as it reads in the trace: mlock(addr=A+2p, len=4p)."""
    parts = []
    for name, value in step.written.items():
        if isinstance(value, list):
            value = "|".join(str(v) for v in value) if value else "0"
        parts.append(f"{name}={value}")
    return f"{step.call}({', '.join(parts)})"


def reported_pages(result: TraceResult, obs: Observation) -> list[int]:
    """Mapped pages, plus the unmapped pages of every bound mapping."""
    addrs = set(obs.pages)
    values = result.values
    for binding in result.trace.bindings.values():
        base = values.get(binding.name)
        if base is not None and binding.size and base % PAGE_SIZE == 0 and base < layout.TASK_SIZE:
            count = min(binding.size, 512 * PAGE_SIZE) // PAGE_SIZE
            addrs.update(base + i * PAGE_SIZE for i in range(count))
    return sorted(addrs)


def page_rows(result: TraceResult, obs: Observation) -> list[tuple[str, object]]:
    rows = []
    for first, last, page in runs(obs, reported_pages(result, obs)):
        label = result.label(first) if first == last else f"{result.label(first)}..{result.label(last)}"
        rows.append((label, page))
    return rows


def _yes(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def state_table(result: TraceResult, obs: Observation, indent: str = "  ") -> list[str]:
    rows = page_rows(result, obs)
    if not rows:
        return [f"{indent}(nothing mapped in the arena)"]
    width = max(len("pages"), *(len(label) for label, _ in rows))
    lines = [indent + "pages".ljust(width) + "  " + "  ".join(f.ljust(8) for f in FIELDS).rstrip()]
    for label, page in rows:
        cells = [_yes(page.get(f)).ljust(8) for f in FIELDS] if page.mapped else ["no".ljust(8)]
        lines.append(indent + label.ljust(width) + "  " + "  ".join(cells).rstrip())
    return lines


def text(result: TraceResult, problems: list) -> str:
    trace = result.trace
    lines = [f"{trace.path}: {result.backend}"]
    multi = any(r.step.proc != MAIN for r in result.steps)
    for i, record in enumerate(result.steps, 1):
        step = record.step
        call = call_text(step)
        if step.bind or step.new_process:
            call += f" as {step.bind or step.new_process}"
        proc = f"[{step.proc}] " if multi else ""
        outcome = describe_outcome(record.outcome, result)
        extra = f"  (also allowed: {', '.join(str(a) for a in record.alternatives)})" if record.alternatives else ""
        lines.append(f"{i:3}  {proc}{call} = {outcome}{extra}")
    if result.failure:
        lines.append(f"run stopped: {result.failure}")
    for proc, obs in result.final.items():
        lines.append(f"final state{'' if proc == MAIN and len(result.final) == 1 else ' of ' + proc}:"
                     f" VmLck {obs.vmlck}p")
        lines.extend(state_table(result, obs))
    if problems:
        lines.append(f"{len(problems)} expectation(s) not met:")
        lines.extend(str(p) for p in problems)
    return "\n".join(lines)


def page_dicts(result: TraceResult, obs: Observation) -> list[dict]:
    out = []
    for addr in reported_pages(result, obs):
        page = obs.page(addr)
        entry = {"page": result.label(addr), "addr": hex(addr)}
        entry.update({f: page.get(f) for f in FIELDS})
        out.append(entry)
    return out


def as_json(result: TraceResult, problems: list) -> dict:
    trace = result.trace
    steps = []
    for record in result.steps:
        entry = {"call": record.step.call, "proc": record.step.proc}
        entry.update(record.outcome.as_dict())
        if record.alternatives:
            entry["also_allowed"] = [a.as_dict() for a in record.alternatives]
        steps.append(entry)
    final = result.final.get(MAIN)
    out = {
        "trace": trace.path,
        "backend": result.backend,
        "steps": steps,
        "final": {"pages": page_dicts(result, final), "vmlck": final.vmlck} if final else None,
        "mismatches": [{"path": p.origin.path, "line": p.origin.line, "column": p.origin.col,
                        "message": p.message} for p in problems],
    }
    others = {name: {"pages": page_dicts(result, obs), "vmlck": obs.vmlck}
              for name, obs in result.final.items() if name != MAIN}
    if others:
        out["processes"] = others
    if result.failure:
        out["failure"] = result.failure
    return out


def comparison_text(engine: TraceResult, kernel: TraceResult, comparison, problems: list) -> str:
    trace = engine.trace
    lines = [f"{trace.path}: {engine.backend} vs {kernel.backend}"]
    diverging = {d.step for d in comparison.divergences}
    multi = len(engine.final) > 1
    for i, record in enumerate(engine.steps):
        k = kernel.steps[i].outcome if i < len(kernel.steps) else None
        if k is None:
            e_text, k_text = describe_outcome(record.outcome, engine), "(not run)"
        else:
            e_text, k_text = outcome_texts(record.outcome, engine, k, kernel)
        mark = "DIFFERS" if i in diverging else ("same" if k == record.outcome else "allowed")
        if k is None:
            mark = "-"
        proc = f"[{record.step.proc}] " if multi else ""
        lines.append(f"{i + 1:3}  {proc}{call_text(record.step)}  engine: {e_text}  kernel: {k_text}  {mark}")
    if comparison.divergences:
        lines.append(f"{len(comparison.divergences)} divergence(s):")
        for d in comparison.divergences:
            where = "final state" if d.step is None else f"step {d.step + 1}"
            if d.proc != MAIN:
                where += f" of {d.proc}"
            detail = d.detail or f"engine {d.engine}, kernel {d.kernel}"
            lines.append(f"  {where}: {d.kind}: {detail}")
    else:
        if not kernel.final:
            lines.append("engine and kernel agree")
        for proc, final in kernel.final.items():
            whose = "" if not multi else f" of {proc}"
            lines.append(f"engine and kernel agree on every step and on the final state{whose} (VmLck {final.vmlck}p)"
                         if proc == MAIN else f"and on the final state{whose} (VmLck {final.vmlck}p)")
            lines.extend(state_table(kernel, final))
    for (step, outcome) in comparison.allowed:
        lines.append(f"  step {step + 1}: the kernel chose {outcome}, allowed but not predicted; compared up to here")
    if problems:
        lines.append(f"{len(problems)} expectation(s) not met:")
        lines.extend(str(p) for p in problems)
    return "\n".join(lines)


def comparison_json(engine: TraceResult, kernel: TraceResult, comparison, problems: list) -> dict:
    return {
        "trace": engine.trace.path,
        "engine": as_json(engine, problems),
        "kernel": as_json(kernel, []),
        "agree": comparison.agree,
        "divergences": [d.as_dict() for d in comparison.divergences],
    }
