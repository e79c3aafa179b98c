"""What a drafted page says, gathered from the spec: its calls, errors, flags and versions.

Pages group calls as man-pages does, by the spec's ``page`` field (mlock.2 holds
mlock, mlock2, munlock, mlockall and munlockall, in the order of their pages' NAME
lines, which is the order of the spec's ``see_also`` chains; see :func:`page_calls`).
Everything here is plain data; draft.py renders it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from mmsem.spec.model import Flag, FlagSet, Spec, Step, Syscall

_UNDO_RE = re.compile(r"^(\w)un(?=\w)")
_PARAM_NAME_RE = re.compile(r"([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?\s*(?:\*/)?\s*$")


def pages(spec: Spec) -> dict[str, list[Syscall]]:
    """Every page the spec's system calls name, with its calls in page order."""
    out: dict[str, list[Syscall]] = {}
    for entry in spec.syscalls.values():
        if entry.kind == "syscall" and entry.page:
            out.setdefault(entry.page, []).append(entry)
    return {page: page_calls(page, calls) for page, calls in sorted(out.items())}


def page_calls(page: str, calls: list[Syscall]) -> list[Syscall]:
    """The calls of a page in reading order: the one named like the page first, then each
    call followed by the one that undoes it (mlock, mlock2, munlock, mlockall,
    munlockall; mmap, munmap). The spec has no page record to say so; this reads it
    from the names (an "un" after the first letter undoes, trailing digits extend)."""
    base = page.rsplit(".", 1)[0]

    def key(entry: Syscall):
        undoes = bool(_UNDO_RE.match(entry.name))
        root = _UNDO_RE.sub(r"\1", entry.name).rstrip("0123456789")
        return (entry.name != base, root, undoes, entry.name)

    return sorted(calls, key=key)


def parameter_names(prototype: str) -> list[str]:
    """The parameter names of a C prototype, a variadic tail's commented name included."""
    inner = prototype[prototype.find("(") + 1:prototype.rfind(")")]
    out = []
    for part in inner.split(","):
        part = part.replace("...", "").replace("/*", " ").strip()
        m = _PARAM_NAME_RE.search(part)
        if m and part != "void":
            out.append(m.group(1))
    return out


def renames(entry: Syscall) -> dict[str, str]:
    """Spec argument name -> the prototype's parameter name, where they differ (mmap's len is
    the prototype's length)."""
    params = parameter_names(entry.prototype)
    return {arg.name: param for arg, param in zip(entry.args, params) if arg.name != param}


# -- errors ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cause:
    """One reason an errno is returned, and the calls of the page it applies to."""

    errno: str
    text: str
    calls: tuple[str, ...]
    qualifier: str = ""  # a version qualifier: "before Linux 4.4"


def _walk(spec: Spec, entry: Syscall, seen: tuple = ()) -> list[Step]:
    """The steps of a call's program, procedures expanded where they are called."""
    out = []
    for step in entry.program:
        out.append(step)
        if step.op == "call" and step.id in spec.procedures and step.id not in seen:
            out.extend(_walk(spec, spec.procedures[step.id], seen + (step.id,)))
    return out


def _since(record) -> str:
    """"since Linux X" for a cause that newer kernels added, else ""."""
    since = getattr(record, "since", None)
    return f"since Linux {'.'.join(map(str, since))}" if since else ""


def _condition_since(spec: Spec, when) -> str:
    """"since Linux X" for a check whose condition needs a kernel trait or flag (a term of a
    top-level ``and``: ``available('MAP_SHARED_VALIDATE') and ...``) that came in X."""
    if not isinstance(when, str):
        return ""
    try:
        tree = ast.parse(when.strip(), mode="eval").body
    except SyntaxError:
        return ""
    versions = []
    for term in tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) else [tree]:
        if isinstance(term, ast.Name) and term.id in spec.traits and spec.traits[term.id].since:
            versions.append(spec.traits[term.id].since)
        elif (isinstance(term, ast.Call) and isinstance(term.func, ast.Name) and term.func.id == "available"
              and term.args and isinstance(term.args[0], ast.Constant)):
            found = spec.flag(term.args[0].value)
            if found is not None and found[1].since:
                versions.append(found[1].since)
    return f"since Linux {'.'.join(map(str, max(versions)))}" if versions else ""


def call_causes(spec: Spec, entry: Syscall) -> list[tuple[str, str, str]]:
    """(errno, text, version qualifier) of every way the call fails, in the order the kernel
    checks, then the errors the model leaves out on purpose (``unmodelled_errors``)."""
    out = []
    for step in _walk(spec, entry):
        if step.op == "check" and step.errno:
            out.append((step.errno, step.text, _condition_since(spec, step.when)))
        elif step.op == "do":
            out.extend((raised.errno, raised.text, _since(raised)) for raised in step.raises)
    out.extend((error.errno, error.text, "") for error in getattr(entry, "unmodelled_errors", ()))
    return list(dict.fromkeys(out))


def error_causes(spec: Spec, calls: list[Syscall]) -> list[Cause]:
    """The page's causes, each once with every call it applies to, alphabetical by errno;
    within one errno, grouped by the calls they apply to (in page order), then in
    kernel order. A call newer than some kernels adds ENOSYS for those."""
    order = {entry.name: i for i, entry in enumerate(calls)}
    scopes: dict[tuple, list[str]] = {}
    rank: dict[tuple, tuple] = {}
    for entry in calls:
        for i, cause in enumerate(call_causes(spec, entry)):
            scopes.setdefault(cause, []).append(entry.name)
            rank.setdefault(cause, (order[entry.name], i))
        if entry.since:
            cause = ("ENOSYS", "The kernel does not have this system call.",
                     f"before Linux {'.'.join(map(str, entry.since))}")
            scopes[cause] = [entry.name]
            rank[cause] = (order[entry.name], 10_000)
    out = [Cause(errno, text, tuple(scopes[(errno, text, qualifier)]), qualifier)
           for errno, text, qualifier in scopes]
    return sorted(out, key=lambda c: (c.errno, order[c.calls[0]], -len(c.calls), c.qualifier,
                                      rank[(c.errno, c.text, c.qualifier)]))


# -- flags -----------------------------------------------------------------------------------

def flagsets(spec: Spec, entry: Syscall) -> list[tuple[str, FlagSet]]:
    """(argument name, flag set) of each argument that takes flags; prot arguments use "prot"."""
    out = []
    for arg in entry.args:
        name = arg.flagset or ("prot" if arg.kind == "prot" else None)
        if name in spec.flagsets:
            out.append((arg.name, spec.flagsets[name]))
    return out


def page_flags(spec: Spec, calls: list[Syscall]) -> list[Flag]:
    """Every flag the page describes, each once."""
    out: dict[str, Flag] = {}
    for entry in calls:
        for _arg, flagset in flagsets(spec, entry):
            for flag in flagset.flags:
                out.setdefault(flag.name, flag)
    return list(out.values())


# -- versions ----------------------------------------------------------------------------------

def page_traits(spec: Spec, calls: list[Syscall]) -> list:
    """The kernel traits (behaviour that changed in some version) that concern the page:
    those its programs test by name, and those whose citation names a kernel function
    (or, without a function, a file) that the page's calls or their procedures cite
    as their sources. Only traits with a version."""
    names: set[str] = set()
    cited: set[tuple[str, str]] = set()
    for entry in calls:
        names |= spec.names_used(entry)
        records = [entry] + [spec.procedures[step.id] for step in _walk(spec, entry)
                             if step.op == "call" and step.id in spec.procedures]
        for record in records:
            for source in record.sources:
                cited.add((source.file, source.function))
                cited.add((source.file, ""))
    out = []
    for trait in spec.traits.values():
        if not (trait.since or trait.until):
            continue
        file, _, function = trait.cite.split(" ", 1)[0].partition(":")
        if trait.name in names or (file, function) in cited:
            out.append(trait)
    return sorted(out, key=lambda t: (t.since or t.until, t.name))


def page_properties(spec: Spec, calls: list[Syscall], version: tuple[int, ...]) -> dict[str, list]:
    """The behaviour properties (spec/properties/) a page states: those users must know
    (``must_know``) about one of its calls or flags, for the kernel `version`, by subject.
    A spec directory without a property catalogue has none."""
    from pathlib import Path

    from mmsem.spec.properties import catalogue_for

    if not (Path(spec.directory) / "properties").is_dir():
        return {}
    subjects = {entry.name for entry in calls} | {flag.name for flag in page_flags(spec, calls)}
    out: dict[str, list] = {}
    for prop in catalogue_for(spec.directory):
        if prop.must_know and prop.subject in subjects and prop.errno is None and prop.holds_for(version):
            out.setdefault(prop.subject, []).append(prop)
    return out


def see_also(spec: Spec, page: str, calls: list[Syscall]) -> list[tuple[str, str]]:
    """(name, section) of the pages the calls refer to, other than this one, sorted as
    man-pages sorts SEE ALSO (by section, then name)."""
    out: dict[str, str] = {}
    for entry in calls:
        for name in entry.see_also:
            other = spec.syscalls.get(name)
            target = other.page if other is not None and other.page else f"{name}.2"
            if target != page:
                stem, section = target.rsplit(".", 1)
                out.setdefault(stem, section)
    return sorted(out.items(), key=lambda item: (item[1], item[0]))
