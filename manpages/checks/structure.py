"""Structure rules (MM1xx): sections and lists as man-pages(7) lays them out."""

from __future__ import annotations

import re

from mmsem.manpages.document import Origin
from mmsem.manpages.extract import leading_names
from mmsem.manpages.rules import Report, rule

from ._model import documented_calls, exists_in, producible_errnos

#: man-pages(7) section order. ATTRIBUTES and VERSIONS share a rank: man-pages 6.03
#: puts VERSIONS first, later releases ATTRIBUTES; both orders are accepted. Older
#: headings (CONFORMING TO, EXAMPLE) rank as their successors.
SECTION_RANKS = {
    "NAME": 0, "LIBRARY": 1, "SYNOPSIS": 2, "CONFIGURATION": 3, "DESCRIPTION": 4, "OPTIONS": 5,
    "EXIT STATUS": 6, "RETURN VALUE": 7, "ERRORS": 8, "ENVIRONMENT": 9, "FILES": 10,
    "ATTRIBUTES": 11, "VERSIONS": 11, "STANDARDS": 12, "CONFORMING TO": 12, "HISTORY": 13,
    "NOTES": 14, "CAVEATS": 15, "BUGS": 16, "EXAMPLES": 17, "EXAMPLE": 17, "AUTHORS": 18,
    "REPORTING BUGS": 19, "COPYRIGHT": 20, "SEE ALSO": 21,
}
#: The sections man-pages(7) sets in bold: "most manual pages should include" them.
REQUIRED = ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO")
#: A name written like a constant: MAP_FIXED, MCL_ONFAULT, PROT_NONE.
CONSTANT_NAME_RE = re.compile(r"[A-Z][A-Z0-9]*_[A-Z0-9_]+")
_SPACE_RE = re.compile(r"\s+")


def _where_missing(doc, rank: int) -> Origin:
    """Where a missing section belongs: at the first section that should follow it."""
    for section in doc.sections:
        if SECTION_RANKS.get(section.name, -1) > rank:
            return section.origin
    if doc.sections:
        return doc.sections[-1].origin
    return Origin(doc.path, 1, 1)


@rule("MM101", "warning", "structure")
def check_section_order(ctx):
    """A section comes after one that man-pages(7) places later.

    The conventional order is NAME, LIBRARY, SYNOPSIS, CONFIGURATION, DESCRIPTION,
    OPTIONS, EXIT STATUS, RETURN VALUE, ERRORS, ENVIRONMENT, FILES, ATTRIBUTES,
    VERSIONS, STANDARDS, HISTORY, NOTES, CAVEATS, BUGS, EXAMPLES, AUTHORS,
    REPORTING BUGS, COPYRIGHT, SEE ALSO. Headings outside this list are not judged.

    Bad:  .SH ERRORS ... .SH RETURN VALUE
    Good: .SH RETURN VALUE ... .SH ERRORS
    """
    latest = None  # the known section of highest rank so far
    for section in ctx.document.sections:
        rank = SECTION_RANKS.get(section.name)
        if rank is None:
            continue
        if latest is not None and rank < SECTION_RANKS[latest.name]:
            yield Report(section.origin, f"{section.name} belongs before {latest.name} "
                                         f"(line {latest.origin.line})", section.name)
        elif latest is None or rank >= SECTION_RANKS[latest.name]:
            latest = section


@rule("MM102", "warning", "structure")
def check_missing_section(ctx):
    """A page lacks a section man-pages(7) asks for.

    Every page has NAME, SYNOPSIS, DESCRIPTION and SEE ALSO (the sections
    man-pages(7) sets in bold). A section 2 page about calls the spec models has
    RETURN VALUE too, and ERRORS when the spec says one of its calls can fail (a
    page about a call that never fails, such as the raw brk, needs none). Reported
    where the section belongs.
    """
    doc = ctx.document
    if not doc.sections:
        return  # not a man(7) page (an mdoc page, say): nothing to judge
    present = {section.name for section in doc.sections}
    required = list(REQUIRED)
    calls = [entry for entry in documented_calls(ctx) if exists_in(entry, ctx.profile)]
    if doc.man_section.startswith("2") and calls:
        required.append("RETURN VALUE")
        if any(producible_errnos(ctx.spec, ctx.profile, entry.name) for entry in calls):
            required.append("ERRORS")
    for name in sorted(required, key=SECTION_RANKS.get):
        if name not in present:
            yield Report(_where_missing(doc, SECTION_RANKS[name]), f"the page has no {name} section", name)


def lists(section):
    """The tagged lists of a section: runs of tagged paragraphs (with the paragraphs
    that continue their items) at one indent, ended by a plain paragraph that belongs
    to no item, or by a change of subsection or indent."""
    out: list = []
    current: list = []
    key = None
    for paragraph in section.paragraphs:
        if paragraph.tag is None and paragraph.item is None:
            current, key = [], None
            continue
        if paragraph.tag is not None:
            here = (paragraph.subsection, paragraph.indent)
            if here != key:
                current, key = [], here
                out.append(current)
        if key is not None:
            current.append(paragraph)
    return out


def _tag_groups(doc):
    """The ERRORS entries grouped by the tagged paragraph they come from, in page order."""
    groups: list = []
    for entry in doc.errors:
        if groups and groups[-1][0].body is entry.body:
            groups[-1].append(entry)
        else:
            groups.append([entry])
    return groups


@rule("MM103", "warning", "structure")
def check_errno_order(ctx):
    """An ERRORS entry is out of alphabetical order.

    man-pages(7) lists errors alphabetically; several entries for one errno stay
    together. An entry naming several errnos (``EAGAIN or EWOULDBLOCK``) sorts by
    the first. A page with several lists ("In addition, f() can fail with:") has
    each list in order.

    Bad:  .B ENOMEM ... .B EINVAL
    Good: .B EINVAL ... .B ENOMEM
    """
    section = ctx.document.section("ERRORS")
    if section is None:
        return
    list_of = {id(p.body): n for n, run in enumerate(lists(section)) for p in run}
    previous = None
    for group in _tag_groups(ctx.document):
        first = group[0]
        if previous is not None and list_of.get(id(previous.body)) != list_of.get(id(first.body)):
            previous = None  # a new list ("In addition, f() can fail with:") starts its own order
        if previous is not None and first.errno < previous.errno:
            yield Report(first.origin, f"{first.errno} comes after {previous.errno} "
                                       f"(line {previous.origin.line}); ERRORS is in alphabetical order",
                         first.errno)
        previous = first


def _explanation(entry) -> str:
    return _SPACE_RE.sub(" ", entry.body.text).strip().lower()


@rule("MM104", "warning", "structure")
def check_duplicate_errno(ctx):
    """An ERRORS entry repeats an earlier one of its list: same errno, scope, qualifiers and text.

    Several entries for one errno are normal when they give different causes; the
    same cause twice in one list is a copy left behind, or a tag naming one errno
    twice. Pages with one list per call ("msgrcv() can fail with ...") may repeat
    an entry in another list.
    """
    section = ctx.document.section("ERRORS")
    if section is None:
        return
    list_of = {id(p.body): n for n, run in enumerate(lists(section)) for p in run}
    seen: dict = {}
    for entry in ctx.document.errors:
        key = (list_of.get(id(entry.body)), entry.errno, frozenset(entry.scope), entry.qualifiers,
               _explanation(entry))
        first = seen.setdefault(key, entry)
        if first is not entry:
            yield Report(entry.origin, f"{entry.errno} repeats the entry of line {first.origin.line}", entry.errno)


@rule("MM105", "warning", "structure")
def check_duplicate_flag(ctx):
    """A flag (a constant such as MAP_FIXED) is described twice in one list.

    Each flag is described once in the list of its argument; a second description
    can only contradict the first. The same name may come back in another list
    (values a call returns, combinations of flags), which is not reported.
    """
    for section in ctx.document.sections:
        if section.name == "ERRORS":
            continue
        for run in lists(section):
            seen: dict = {}
            for paragraph in run:
                if paragraph.tag is None:
                    continue
                for name, at in leading_names(paragraph.tag.text):
                    if not CONSTANT_NAME_RE.fullmatch(name):
                        continue
                    origin = paragraph.tag.origin_at(at)
                    first = seen.setdefault(name, origin)
                    if first is not origin:
                        yield Report(origin, f"{name} is already described at line {first.line}", name)
