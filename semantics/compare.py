"""Compare the engine's result for a trace with a kernel's, on the observation model.

Per step the kernel's outcome must equal the engine's prediction; an outcome the
engine lists as allowed but unpredictable (memory pressure) is accepted, and
comparison stops there because the model does not know the state that follows.
States are compared page by page wherever both sides took a snapshot, and VmLck
per process.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmsem.semantics.engine import MAIN
from mmsem.semantics.observe import page_differences
from mmsem.semantics.runner import TraceResult, describe_outcome


@dataclass(frozen=True)
class Divergence:
    step: int | None  # 0-based step index; None for the final state
    kind: str  # outcome, state, vmlck, failure
    engine: str
    kernel: str
    detail: str = ""
    proc: str = MAIN  # the process whose state differs

    def as_dict(self) -> dict:
        return {"step": self.step, "kind": self.kind, "engine": self.engine, "kernel": self.kernel,
                "detail": self.detail, "proc": self.proc}


@dataclass
class Comparison:
    divergences: list
    compared_steps: int
    allowed: list  # (step, outcome) where the kernel chose an unpredicted but allowed outcome

    @property
    def agree(self) -> bool:
        return not self.divergences


def outcome_texts(e_outcome, engine: TraceResult, k_outcome, kernel: TraceResult) -> tuple[str, str]:
    """Two outcomes, each relative to its own run's bindings (A+3p); where the two read
    the same but differ (a step that binds a name returned different addresses), each
    gets its address too."""
    e_text, k_text = describe_outcome(e_outcome, engine), describe_outcome(k_outcome, kernel)
    if e_text == k_text and e_outcome != k_outcome:
        e_text, k_text = f"{e_text} ({e_outcome})", f"{k_text} ({k_outcome})"
    return e_text, k_text


def _state_divergences(step, engine_obs, kernel_obs, result, proc=MAIN) -> list[Divergence]:
    out = []
    diffs = page_differences(engine_obs, kernel_obs)
    if diffs:
        shown = "; ".join(f"{result.label(a)} {f}: engine {e}, kernel {k}" for a, f, e, k in diffs[:6])
        more = f" (+{len(diffs) - 6} more)" if len(diffs) > 6 else ""
        out.append(Divergence(step, "state", "", "", shown + more, proc))
    if engine_obs.vmlck != kernel_obs.vmlck:
        out.append(Divergence(step, "vmlck", f"{engine_obs.vmlck}p", f"{kernel_obs.vmlck}p", proc=proc))
    return out


def compare(engine: TraceResult, kernel: TraceResult) -> Comparison:
    divergences, allowed = [], []
    compared = 0
    for index, (e, k) in enumerate(zip(engine.steps, kernel.steps)):
        compared += 1
        if k.outcome != e.outcome:
            if k.outcome in e.alternatives:
                allowed.append((index, k.outcome))
                return Comparison(divergences, compared, allowed)
            divergences.append(Divergence(index, "outcome", *outcome_texts(e.outcome, engine, k.outcome, kernel)))
            return Comparison(divergences, compared, allowed)
        if e.state is not None and k.state is not None:
            divergences.extend(_state_divergences(index, e.state, k.state, kernel, e.step.proc))
            if divergences:
                return Comparison(divergences, compared, allowed)
    if kernel.failure:
        divergences.append(Divergence(len(kernel.steps), "failure", "", kernel.failure))
        return Comparison(divergences, compared, allowed)
    if len(kernel.steps) != len(engine.steps):
        divergences.append(Divergence(len(kernel.steps), "failure", "", "kernel run ended early"))
        return Comparison(divergences, compared, allowed)
    for proc, engine_obs in engine.final.items():
        kernel_obs = kernel.final.get(proc)
        if kernel_obs is None:
            divergences.append(Divergence(None, "failure", "", "no final state reported", proc=proc))
        else:
            divergences.extend(_state_divergences(None, engine_obs, kernel_obs, kernel, proc))
    return Comparison(divergences, compared, allowed)
