"""Synopsis rules (MM3xx): the SYNOPSIS prototypes against the spec's."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mmsem.manpages.rules import Report, rule

from ._model import documented_calls

_COMMENT_RE = re.compile(r"/\*.*?\*/|\[\[.*?\]\]")  # comments and C23 attributes ([[deprecated]])
_SPACE_RE = re.compile(r"\s+")
#: man-pages 6 writes a buffer parameter as an array sized by another parameter:
#: "const void addr[.len]" is "const void *addr"; any bracket contents are allowed.
_ARRAY_RE = re.compile(r"^(?P<type>.*?)\s*\b(?P<name>[A-Za-z_]\w*)\s*\[[^\]]*\]$")
_PARAM_RE = re.compile(r"^(?P<type>.*?[\s*])(?P<name>[A-Za-z_]\w*)$")
_DECL_RE = re.compile(r"^(?P<ret>.*?[\s*])(?P<name>[A-Za-z_]\w*)\s*\((?P<params>.*)\)\s*;?$")


@dataclass(frozen=True)
class Param:
    type: str  # normalised: single spaces, "*" bound to the type ("const void *")
    name: str


@dataclass(frozen=True)
class Signature:
    returns: str
    name: str
    params: tuple  # Param, in order; ("...", "") for a variadic tail


def _type(text: str) -> str:
    text = _SPACE_RE.sub(" ", text.replace("*", " * ")).strip()
    return text.replace("* *", "**").replace(" *", " *")


def _split_params(text: str) -> list:
    """Parameters split at the commas outside parentheses (function pointers keep theirs)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def parse_signature(text: str) -> Signature | None:
    """A C declaration as (return type, name, parameters), comments dropped, arrays as pointers."""
    text = _SPACE_RE.sub(" ", _COMMENT_RE.sub(" ", text)).strip()
    m = _DECL_RE.match(text)
    if m is None:
        return None
    params = []
    inner = m.group("params").strip()
    if inner and inner != "void":
        for part in _split_params(inner):
            if part == "...":
                params.append(Param("...", ""))
                continue
            array = _ARRAY_RE.match(part)
            if array is not None:
                params.append(Param(_type(array.group("type") + " *"), array.group("name")))
                continue
            plain = _PARAM_RE.match(part)
            params.append(Param(_type(plain.group("type")), plain.group("name")) if plain else Param(_type(part), ""))
    return Signature(_type(m.group("ret")), m.group("name"), tuple(params))


def _word_origin(prototype, word: str, nth: int = 0):
    """The source position of the nth whole-word occurrence of `word` in the declaration."""
    span = prototype.span
    if span is None or not word:
        return prototype.origin
    found = -1
    for m in re.finditer(rf"(?<![\w.]){re.escape(word)}(?!\w)", span.text[prototype.offset:]):
        found += 1
        if found == nth:
            return span.origin_at(prototype.offset + m.start())
    return prototype.origin


def _show(param: Param) -> str:
    if param.type == "...":
        return "..."
    return f"{param.type}{'' if param.type.endswith('*') else ' '}{param.name}"


@rule("MM301", "warning", "synopsis")
def check_prototype_mismatch(ctx):
    """A SYNOPSIS prototype differs from the spec's prototype of the call.

    Return type, parameter count, and each parameter's type and name are compared;
    spacing, comments and man-pages 6 array notation ("const void addr[.len]" for
    "const void *addr") are not differences.
    """
    calls = {entry.name: entry for entry in documented_calls(ctx)}
    for prototype in ctx.document.prototypes:
        entry = calls.get(prototype.name)
        if entry is None or not entry.prototype:
            continue
        page, spec = parse_signature(prototype.text), parse_signature(entry.prototype)
        if page is None or spec is None:
            continue
        name = prototype.name
        if page.returns != spec.returns:
            yield Report(prototype.origin, f"{name}() returns {page.returns} on the page, {spec.returns} in the spec",
                         name)
        if len(page.params) != len(spec.params):
            yield Report(_word_origin(prototype, name), f"{name}() takes {len(page.params)} parameters on the page, "
                                                        f"{len(spec.params)} in the spec: {entry.prototype}", name)
            continue
        for got, want in zip(page.params, spec.params):
            if got == want:
                continue
            where = _word_origin(prototype, got.name) if got.name else prototype.origin
            yield Report(where, f"{name}() parameter {_show(got)!r} is {_show(want)!r} in the spec", name)


@rule("MM302", "warning", "synopsis")
def check_missing_prototype(ctx):
    """A call the page documents has no prototype in SYNOPSIS."""
    doc = ctx.document
    declared = {prototype.name for prototype in doc.prototypes}
    section = doc.section("SYNOPSIS") or doc.section("NAME")
    if section is None:
        return
    for entry in documented_calls(ctx):
        if entry.prototype and entry.name not in declared:
            yield Report(section.origin, f"SYNOPSIS does not declare {entry.name}()", entry.name)


#: A sum of two identifiers in running text: "addr+len", "old_address + old_size".
#: (Differences are left alone: "len - pagesize" may well subtract a quantity.)
_SUM_RE = re.compile(r"(?<![\w.>\-])([A-Za-z_]\w*)\s*\+\s*([A-Za-z_]\w*)(?![\w(\[.])")
_NOT_PROSE = ("NAME", "SYNOPSIS", "EXAMPLES", "EXAMPLE", "SEE ALSO")


def _page_parameters(ctx, calls) -> dict:
    """Each parameter name of the page's calls (spec and SYNOPSIS alike) -> the calls taking it."""
    out: dict = {}
    for entry in calls:
        for arg in entry.args:
            out.setdefault(arg.name, []).append(entry.name)
    for prototype in ctx.document.prototypes:
        signature = parse_signature(prototype.text)
        if signature is not None:
            for param in signature.params:
                if param.name and prototype.name not in out.setdefault(param.name, []):
                    out[param.name].append(prototype.name)
    return out


@rule("MM303", "warning", "synopsis")
def check_unknown_parameter(ctx):
    """An expression in the text adds a parameter to a name that no call of the page takes.

    In "start + len", len is a parameter of mlock() and start is none of its page's
    parameters (addr, len, flags): the text was written for a prototype the page no
    longer has (or never had). Only sums and differences of two identifiers outside
    SYNOPSIS and EXAMPLES are read, and only when one of them is a parameter of a call
    the page documents (by the spec or its SYNOPSIS); the unknown one is reported.
    """
    calls = documented_calls(ctx)
    if not calls:
        return
    params = _page_parameters(ctx, calls)
    for section in ctx.document.sections:
        if section.name in _NOT_PROSE:
            continue
        for paragraph in section.paragraphs:
            if paragraph.kind == "literal" or "+" not in paragraph.body.text:
                continue
            text = paragraph.body.text
            for m in _SUM_RE.finditer(text):
                left, right = m.group(1), m.group(2)
                known = left if left in params else right if right in params else None
                unknown = right if known == left else left
                if known is None or unknown in params or not unknown[0].islower():
                    continue
                takers = params[known]
                at = m.start(1) if unknown == left else m.start(2)
                names = [f"{c}()" for c in takers]
                calls_text = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
                yield Report(paragraph.body.origin_at(at),
                             f"{unknown!r} in {m.group(0)!r} is not a parameter of {calls_text} "
                             f"(the page's calls take {', '.join(sorted(params))})", takers[0])
