"""Semantic checks of a spec directory, beyond its JSON Schemas (``mmsem check-spec``).

The loader already checks names across files (flags, constants, errnos, versions).
Here every program is compiled: expressions must parse and name only known
symbols, ``do:`` steps must name a registered primitive with exactly its
parameters and declare every errno it can report, ``call:`` steps must name a
procedure, and placement expressions must compile.
"""

from __future__ import annotations

from pathlib import Path

from mmsem.semantics.expr import ExprError, Namespace, compile_expr
from mmsem.semantics.namespace import FUNCTIONS
from mmsem.semantics.advice import compile_rules
from mmsem.semantics.effects import PRIMITIVES
from mmsem.semantics.program import Compiler
from mmsem.semantics.trace import PURE_FUNCTIONS, parse_trace
from mmsem.spec.loader import PACKAGE_DIR, load_spec
from mmsem.spec.model import Spec, Syscall
from mmsem.spec.properties import load_properties
from mmsem.spec.source import InputError


def _undeclared_errnos(entry: Syscall) -> list[InputError]:
    out = []
    for step in entry.program:
        prim = PRIMITIVES.get(step.id) if step.op == "do" else None
        if prim is None:
            continue
        declared = {r.source_errno or r.errno for r in step.raises}
        for errno in sorted(prim.errnos - declared):
            o = step.origin
            out.append(InputError(o.path, o.line, o.col,
                                  f"{prim.name} can fail with {errno}, which this step's raises does not declare"))
    return out


def _placement_errors(spec: Spec, entry: Syscall) -> list[InputError]:
    if not entry.placement:
        return []
    ns = Namespace(frozenset(a.name for a in entry.args) | {"slot"}, spec.constants, frozenset(), {},
                   {name: FUNCTIONS[name] for name in PURE_FUNCTIONS})
    out = []
    sources = [("size", entry.placement["size"]), ("fixed", entry.placement["fixed"])] + \
        list(entry.placement["force"].items())
    for key, source in sources:
        try:
            compile_expr(source, ns)
        except ExprError as exc:
            o = entry.origin
            out.append(InputError(o.path, o.line, o.col, f"in placement {key}: {exc}"))
    for name in entry.placement["force"]:
        if entry.arg(name) is None:
            o = entry.origin
            out.append(InputError(o.path, o.line, o.col, f"placement forces unknown argument {name!r}"))
    return out


def _property_errors(directory: str | Path | None, spec: Spec, spec_is_sound: bool) -> list[InputError]:
    """The behaviour-property catalogue (properties/, see mmsem.spec.properties): schema,
    patterns, examples, and, against a sound spec, its names and witness traces."""
    folder = Path(directory or PACKAGE_DIR) / "properties"
    if not folder.is_dir():
        return []
    errors: list[InputError] = []
    # Against a broken spec every name and witness could fail: report the spec's defects alone.
    catalogue = load_properties(folder, errors, spec if spec_is_sound else None)
    if spec_is_sound:
        for prop in catalogue:
            try:
                parse_trace(prop.witness, prop.path, spec)
            except InputError as exc:
                errors.append(prop.relocate(exc))
    return errors


def check_spec(directory: str | Path | None = None) -> list[InputError]:
    """Every defect of the spec directory, in file order."""
    errors: list[InputError] = []
    spec = load_spec(directory, errors)
    compiler = Compiler(spec)
    for entry in list(spec.syscalls.values()) + list(spec.procedures.values()):
        try:
            compiler.compile(entry)
        except InputError as exc:
            errors.append(exc)
        errors.extend(_undeclared_errnos(entry))
        errors.extend(_placement_errors(spec, entry))
    for flagset in spec.flagsets.values():
        if flagset.values:
            try:
                compile_rules(flagset, spec)
            except InputError as exc:
                errors.append(exc)
    errors.extend(_property_errors(directory, spec, spec_is_sound=not errors))
    unique = {str(e): e for e in errors}
    return sorted(unique.values(), key=lambda e: (e.path, e.line, e.col, e.message))
