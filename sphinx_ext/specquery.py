"""Questions the documentation asks of the spec, answered in kernel order.

A syscall's program calls shared procedures (``call: do_mlock``); the reference shows
the errors and effects of the whole call, so programs are walked with procedures
expanded in place, exactly in the order the engine runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mmsem.spec import source
from mmsem.spec.model import Raise, Spec, Step, Syscall


@dataclass(frozen=True)
class Placed:
    """A program step and the procedures it was reached through (outermost first)."""

    step: Step
    via: tuple[str, ...]


@dataclass(frozen=True)
class ErrorCase:
    """One way a call can fail: a check, or an errno an effect raises."""

    code: str  # errno or signal name
    is_signal: bool
    placed: Placed
    check: bool  # True: a check's condition; False: raised by the effect placed.step
    text: str
    cite: str
    raised: Raise | None = None


def walk(spec: Spec, entry: Syscall, via: tuple[str, ...] = ()) -> list[Placed]:
    """Every step of the program, procedures expanded where they are called."""
    out = []
    for step in entry.program:
        out.append(Placed(step, via))
        if step.op == "call" and step.id in spec.procedures and step.id not in via:
            out.extend(walk(spec, spec.procedures[step.id], via + (step.id,)))
    return out


def error_cases(spec: Spec, entry: Syscall) -> list[ErrorCase]:
    """Every error and signal of the call, in the order the kernel checks them."""
    out = []
    for placed in walk(spec, entry):
        step = placed.step
        if step.op == "check":
            code = step.errno or step.signal
            out.append(ErrorCase(code, step.errno is None, placed, True, step.text, step.cite))
        elif step.op == "do":
            for raised in step.raises:
                out.append(ErrorCase(raised.errno, False, placed, False, raised.text, raised.cite, raised))
    return out


def errnos_of(spec: Spec, entry: Syscall) -> list[str]:
    """The errnos the call can fail with, each once, in first-checked order (ENOSYS aside)."""
    return list(dict.fromkeys(case.code for case in error_cases(spec, entry) if not case.is_signal))


def reference_errnos(spec: Spec, entry: Syscall) -> list[tuple[str, bool]]:
    """(errno, modelled) for every errno a call's reference lists: those the model can
    produce (ENOSYS too, for a call newer than some kernels), then the real ones the
    model leaves out (``unmodelled_errors``) that it cannot produce."""
    modelled = errnos_of(spec, entry) + (["ENOSYS"] if entry.since else [])
    out = [(code, True) for code in dict.fromkeys(modelled)]
    out += [(code, False) for code in dict.fromkeys(e.errno for e in entry.unmodelled_errors)
            if code not in modelled]
    return out


def flagsets_of(spec: Spec, entry: Syscall) -> list[tuple[str, str]]:
    """(argument, flag set) for each argument that takes flags; prot arguments use "prot"."""
    out = []
    for arg in entry.args:
        name = arg.flagset or ("prot" if arg.kind == "prot" else None)
        if name in spec.flagsets:
            out.append((arg.name, name))
    return out


def flagset_home(spec: Spec, flagset: str) -> str | None:
    """The call whose page describes a flag set's flags: the one named like the set, else
    the first by name that takes it. Other calls taking the set link there."""
    users = sorted(name for name, entry in spec.syscalls.items()
                   if any(fs == flagset for _, fs in flagsets_of(spec, entry)))
    if flagset in users:
        return flagset
    return users[0] if users else None


def spec_files(spec: Spec, entry: Syscall) -> list[str]:
    """Files a call's reference is made from: its own, its procedures', its flag sets', and the
    shared tables (errno meanings, kernel traits, constants)."""
    files = [entry.origin.path]
    for placed in walk(spec, entry):
        if placed.step.op == "call" and placed.step.id in spec.procedures:
            files.append(spec.procedures[placed.step.id].origin.path)
    for _arg, flagset in flagsets_of(spec, entry):
        origin = spec.flagsets[flagset].origin
        if origin is not None:
            files.append(origin.path)
    directory = Path(spec.directory)
    files += [str(directory / name) for name in ("errnos.yaml", "kernels.yaml", "constants.yaml")]
    return list(dict.fromkeys(files))


def why(step: Step) -> str:
    """The ``why:`` prose of a step. The loaded model keeps only what the engine needs,
    so it is read from the step's YAML, found by the step's JSON pointer."""
    data = _located(step.origin.path).data
    for key in step.pointer:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return ""
    return str(data.get("why", "")).strip() if isinstance(data, dict) else ""


@lru_cache(maxsize=None)
def _located(path: str):
    return source.load(path)
