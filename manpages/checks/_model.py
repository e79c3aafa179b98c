"""What the spec says about the calls a page documents: the queries the coverage rules share.

Everything here is derived from the spec records alone (programs, flag sets,
constants), so the linter and the engine cannot disagree about the data; nothing
runs the engine.
"""

from __future__ import annotations

import ast
import os

#: The flag set an argument of this kind uses when it names none (prot has one set).
_KIND_FLAGSETS = {"prot": "prot"}


def documented_calls(ctx) -> tuple:
    """The spec's system calls (kind "syscall") among the names of the page's NAME section.

    Pseudo-steps such as ``fork`` are modelled only as far as traces need them, so
    their errors are not the model's to judge.
    """
    out = []
    for name in ctx.document.names:
        entry = ctx.spec.syscalls.get(name)
        if entry is not None and entry.kind == "syscall":
            out.append(entry)
    return tuple(out)


def exists_in(entry, profile) -> bool:
    """The call exists in the profile's kernel (its version is at least the call's since)."""
    return not (entry.since and profile.version < entry.since)


def flag_available(flag, profile) -> bool:
    return not (flag.since and profile.version < flag.since)


def call_flagsets(spec, entry) -> list:
    """The flag sets the call's arguments draw from, in argument order."""
    out = []
    for arg in entry.args:
        name = arg.flagset or _KIND_FLAGSETS.get(arg.kind)
        if name and name in spec.flagsets and spec.flagsets[name] not in out:
            out.append(spec.flagsets[name])
    return out


def flag_prefix(flagset) -> str:
    """The common prefix of a flag set's names up to an underscore: MAP_, MADV_, PROT_."""
    names = [flag.name for flag in flagset.flags]
    prefix = os.path.commonprefix(names) if names else ""
    return prefix[:prefix.rfind("_") + 1] if "_" in prefix else ""


def errno_causes(spec, profile, name: str) -> dict:
    """Every errno the spec lets call `name` fail with on `profile`, with its causes.

    The one derivation of "what can this call return" (``producible_errnos`` is
    its key set): the errnos of the call's ``check`` steps, the ``raises`` of its
    ``do`` steps (the errno the call reports, after any ``from`` mapping), those of
    the procedures it reaches with ``call``, and the ``rejects`` of the values of
    its flag sets (madvise advice) that the profile's kernel knows. Nondeterministic
    raises count: they are allowed outcomes. A step whose condition needs a trait
    the profile lacks (``mlockall_onfault_alone_rejected and ...``) or a flag its
    kernel does not know (``available('MAP_DROPPABLE') and ...``) cannot fire and
    adds nothing. A call newer than the profile's kernel can only fail with ENOSYS.

    Causes are short labels in spec order: ``check unknown-flags``,
    ``do_mlock: check no-lock-permission``, ``lock_range``, ``MADV_DONTNEED``.
    """
    key = (id(spec), profile, name)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] is spec:
        return cached[1]
    entry = spec.syscalls[name]
    causes: dict = {}
    if not exists_in(entry, profile):
        causes["ENOSYS"] = (f"{name} is newer than Linux {profile.version_text}",)
    else:
        _walk(spec, profile, entry.program, "", frozenset(), causes)
        for flagset in call_flagsets(spec, entry):
            for flag in flagset.flags:
                if flag_available(flag, profile):
                    for reject in flag.rejects:
                        if not (reject.since and profile.version < reject.since):
                            _add(causes, reject.errno, flag.name)
        causes = {errno: tuple(labels) for errno, labels in causes.items()}
    _CACHE[key] = (spec, causes)
    return causes


def producible_errnos(spec, profile, name: str) -> frozenset:
    """The errnos of :func:`errno_causes`."""
    return frozenset(errno_causes(spec, profile, name))


_CACHE: dict = {}  # (id(spec), profile, call) -> (spec, causes); the spec is kept so its id stays its own


def _add(causes: dict, errno: str, label: str) -> None:
    labels = causes.setdefault(errno, [])
    if label not in labels:
        labels.append(label)


def _walk(spec, profile, program, where: str, seen: frozenset, causes: dict) -> None:
    for step in program:
        if not _may_fire(spec, profile, step.when):
            continue
        if step.op == "check" and step.errno:
            _add(causes, step.errno, f"{where}check {step.id}")
        elif step.op == "do":
            for raised in step.raises:
                if not (raised.since and profile.version < raised.since):
                    _add(causes, raised.errno, f"{where}{step.id}")
        elif step.op == "call" and step.id not in seen:
            _walk(spec, profile, spec.procedures[step.id].program, f"{step.id}: ", seen | {step.id}, causes)


def _may_fire(spec, profile, when) -> bool:
    """False only when `when` is a conjunction with a term the profile makes false."""
    if not isinstance(when, str):
        return when is None or bool(when)
    try:
        tree = ast.parse(when.strip(), mode="eval").body
    except SyntaxError:
        return True
    terms = tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) else [tree]
    for term in terms:
        if isinstance(term, ast.Name) and term.id in spec.traits and term.id not in profile.traits:
            return False
        if (isinstance(term, ast.Call) and isinstance(term.func, ast.Name) and term.func.id == "available"
                and len(term.args) == 1 and isinstance(term.args[0], ast.Constant)):
            found = spec.flag(term.args[0].value)
            if found is not None and not flag_available(found[1], profile):
                return False
    return True


def known_name(spec, name: str) -> bool:
    """A flag, value or constant the spec knows (generated or declared constants included)."""
    return name in spec.constants or spec.flag(name) is not None


def flag_required(spec, entry, flagset, flag) -> bool:
    """Whether a page documenting `entry` must describe `flag` of `flagset`.

    Flags marked ``undocumented`` in the spec never are. A flag set that several
    calls share (prot: mmap and mprotect) may hold flags that only some of them act
    on; the spec shows which by naming the flag in the program of the calls that
    test it (mprotect tests PROT_GROWSDOWN, mmap never does), so such a flag is
    required only of the pages of the calls that name it.
    """
    if flag.undocumented:
        return False
    users = [other for other in spec.syscalls.values()
             if other.kind == "syscall" and flagset in call_flagsets(spec, other)]
    if len(users) < 2:
        return True
    naming = [flag.name in spec.names_used(other) for other in users]
    if all(naming) or not any(naming):
        return True
    return flag.name in spec.names_used(entry)
