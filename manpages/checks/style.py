"""Style rules (MM5xx): how new roff text is written, as man-pages(7) asks.

These review the lines a patch adds, so they run under ``mmsem lint-patch`` only:
:mod:`mmsem.manpages.patch` names the lines under review with :func:`reviewing`, and
without it (``mmsem lint``) the rules report nothing. Whole installed pages predate
some of the conventions (man-pages 6.03 still has blank lines in examples and a
"(Since Linux 2.6.)" here and there), and a reviewer asks them only of new text.

The conventions are those of man-pages(7) (6.03, /usr/share/man/man7/man-pages.7.gz):
its sections "Use semantic newlines", "Formatting conventions (general)" (paragraph
breaks, cross-references), "Sections within a manual page" (the "(since Linux 3.7)"
form of version notes on flags), "Preferred terms" and "Terms to avoid".

Rules on source form (blank lines, cross-references, version notes) read the page's
source lines, which is what they are about; rules on wording read the parsed
paragraphs, so that font escapes and line joins do not hide a term.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from mmsem.manpages.document import Origin
from mmsem.manpages.lexer import find_comment, split_args
from mmsem.manpages.rules import Report, rule


@dataclass(frozen=True)
class Review:
    """The lines of one page under review: its path as parsed, line numbers, and its text."""

    path: str
    lines: frozenset
    text: tuple  # the page's source lines, line 1 first


#: The review in progress; set by lint-patch around the lint of one page version.
REVIEW: ContextVar = ContextVar("mmsem_style_review", default=None)


@contextmanager
def reviewing(review: Review):
    token = REVIEW.set(review)
    try:
        yield
    finally:
        REVIEW.reset(token)


def _review(ctx) -> Review | None:
    review = REVIEW.get()
    if review is None or review.path != ctx.document.path or not review.lines:
        return None
    return review


# -- source lines ---------------------------------------------------------------------------

_REQUEST_RE = re.compile(r"^[.'][ \t]*([^ \t\\]+)")
_COMMENT_LINE_RE = re.compile(r"""^(?:[.'][ \t]*)?\\["#]""")
_NOFILL_START = {"nf": "fi", "EX": "EE", "TS": "TE"}


@dataclass(frozen=True)
class _Line:
    number: int
    text: str  # without a trailing comment
    request: str | None  # the request or macro name, for control lines
    literal: bool  # inside .nf/.EX/.TS: blank lines and layout are the author's


def _lines(review: Review):
    """Every source line with what the rules need to know about it."""
    closing = None
    for number, raw in enumerate(review.text, start=1):
        if _COMMENT_LINE_RE.match(raw):
            continue
        comment = find_comment(raw)
        text = raw if comment < 0 else raw[:comment]
        m = _REQUEST_RE.match(text)
        request = m.group(1) if m else None
        if closing is None and request in _NOFILL_START:
            closing = _NOFILL_START[request]
            yield _Line(number, text, request, True)
            continue
        yield _Line(number, text, request, closing is not None)
        if closing is not None and request == closing:
            closing = None


def _args(line: _Line) -> list[tuple[int, int, bool]]:
    m = _REQUEST_RE.match(line.text)
    return split_args(line.text, m.end(), len(line.text))


def _origin(review: Review, line: int, col: int = 1) -> Origin:
    return Origin(review.path, line, col)


# -- semantic newlines ----------------------------------------------------------------------

#: End of a sentence (punctuation, maybe a closing quote or parenthesis), space, and
#: the start of the next (a capital, maybe after an opening quote or parenthesis).
_SENTENCE_BREAK_RE = re.compile(r"[.!?][\"')\]]*[ \t]+(?=[\"'(]?[A-Z])")
#: What ends in a period without ending a sentence.
_ABBREVIATION_RE = re.compile(r"(?:\b(?:e\.g|i\.e|cf|vs|a\.k\.a|approx|no|fig|resp)|\b[A-Z]|\.\.)\.$", re.IGNORECASE)
_SKIPPED_SECTIONS = frozenset({"NAME", "SYNOPSIS"})


def _prose(doc):
    """The Span of every tag and body of running text, outside NAME and SYNOPSIS."""
    for section in doc.sections:
        if section.name in _SKIPPED_SECTIONS:
            continue
        for paragraph in section.paragraphs:
            if paragraph.kind == "literal":
                continue
            if paragraph.tag is not None and paragraph.tag.pieces:
                yield paragraph.tag
            if paragraph.body.pieces:
                yield paragraph.body


@rule("MM501", "warning", "style")
def check_semantic_newlines(ctx):
    """A new sentence starts in the middle of a source line (lint-patch only).

    man-pages(7), "Use semantic newlines": each sentence starts on a line of its own,
    so that a patch touches only the sentences it changes. Abbreviations (e.g., i.e.,
    cf.) and initials do not end a sentence.

    Bad:  The range is locked. Pages are faulted in.
    Good: The range is locked.
          Pages are faulted in.
    """
    review = _review(ctx)
    if review is None:
        return
    for span in _prose(ctx.document):
        text = span.text
        for m in _SENTENCE_BREAK_RE.finditer(text):
            if _ABBREVIATION_RE.search(text, 0, m.start() + 1):
                continue
            end, start = span.origin_at(m.start()), span.origin_at(m.end())
            if (end.path, end.line) != (start.path, start.line) or start.path != review.path:
                continue
            if start.line not in review.lines:
                continue
            words = " ".join(text[m.end():].split()[:3])
            yield Report(start, f"a sentence starts mid-line (\"{words} ...\"): start each sentence on a new "
                                f"source line (semantic newlines)", "")


# -- blank lines ----------------------------------------------------------------------------

@rule("MM502", "warning", "style")
def check_blank_line(ctx):
    """A blank line in the roff source, outside .EX/.nf examples and tables (lint-patch only).

    man-pages(7), "Formatting conventions (general)": paragraphs are separated by
    ``.PP`` (or ``.IP``), never by blank lines, which render badly in some output
    formats; a blank line is also an empty line of output in the middle of text.

    Bad:  (an empty line between two paragraphs)
    Good: .PP
    """
    review = _review(ctx)
    if review is None:
        return
    for line in _lines(review):
        if line.number in review.lines and not line.literal and not line.text.strip():
            yield Report(_origin(review, line.number), "blank line in the roff source: separate paragraphs with "
                                                       ".PP, or remove the line", "")


# -- cross-references -----------------------------------------------------------------------

_SECTION_ARG_RE = re.compile(r"^\(([1-9][a-z]*)\)(.*)$")
_PAGE_NAME_RE = re.compile(r"^[A-Za-z_][\w.+:-]*$")
_GLUED_REF_RE = re.compile(r"^([A-Za-z_][\w.+:-]*)\(([1-9][a-z]*)\)([.,;:]*)$")
_INLINE_REF_RE = re.compile(r"\\f[BI3]([A-Za-z_][\w.+:-]*)\\f[RP1]\(([1-9][a-z]*)\)")
_PUNCTUATION_RE = re.compile(r"^[.,;:]+$")
_LEADING_PUNCTUATION_RE = re.compile(r"^(?:\\&)?([.,;:])")
_FONT_MACROS = frozenset({"B", "I", "BR", "IR", "RB", "RI", "BI", "IB"})


@rule("MM503", "warning", "style")
def check_cross_reference_format(ctx):
    """A reference to another page is not written ``.BR name (N)`` with its punctuation (lint-patch only).

    man-pages(7), "Formatting conventions (general)": a reference is the page name
    in bold followed by the section number in roman, without a space, written as
    ``.BR name (N)``. Punctuation that follows the reference belongs to the roman
    argument of the same ``.BR``: on a line of its own it would be set after a
    space, and as a third argument it would be set in bold.

    Bad:  .BR mlock (2)          Bad:  .BR mlock (2) ,      Bad:  .B mlock(2)
          , and so on
    Good: .BR mlock (2),
    """
    review = _review(ctx)
    if review is None:
        return
    lines = list(_lines(review))
    for index, line in enumerate(lines):
        if line.literal:
            continue
        if line.request in _FONT_MACROS:
            yield from _macro_reference(review, lines, index, line)
        elif line.request is None and line.number in review.lines:
            for m in _INLINE_REF_RE.finditer(line.text):
                yield Report(_origin(review, line.number, m.start() + 1),
                             f"write the reference to {m.group(1)}({m.group(2)}) as \".BR {m.group(1)} "
                             f"({m.group(2)})\" on a line of its own", f"{m.group(1)}({m.group(2)})")


def _macro_reference(review: Review, lines: list, index: int, line: _Line):
    args = [(line.text[a:b], a) for a, b, _ in _args(line)]
    if not args:
        return
    name = line.request
    if name == "BR" and len(args) >= 2 and _PAGE_NAME_RE.match(args[0][0]):
        section = _SECTION_ARG_RE.match(args[1][0])
        if section is None:
            return
        page, number, tail = args[0][0], section.group(1), section.group(2)
        ref = f"{page}({number})"
        if len(args) >= 3 and _PUNCTUATION_RE.match(args[2][0]) and not tail:
            if line.number in review.lines:
                yield Report(_origin(review, line.number, args[2][1] + 1),
                             f"the \"{args[2][0]}\" after {ref} is a third argument, set in bold: write "
                             f"\".BR {page} ({number}){args[2][0]}\"", ref)
            return
        following = lines[index + 1] if index + 1 < len(lines) else None
        if (len(args) == 2 and not tail and following is not None and following.request is None
                and not following.literal):
            punct = _LEADING_PUNCTUATION_RE.match(following.text)
            if punct and (following.number in review.lines or line.number in review.lines):
                where = following.number if following.number in review.lines else line.number
                yield Report(_origin(review, where),
                             f"the \"{punct.group(1)}\" after {ref} starts the next line, so it is set after a "
                             f"space: write \".BR {page} ({number}{tail}){punct.group(1)}\"", ref)
        return
    if line.number not in review.lines:
        return
    glued = _GLUED_REF_RE.match(args[0][0]) if len(args) == 1 else None
    spaced = (len(args) >= 2 and name in ("B", "I", "IR") and _PAGE_NAME_RE.match(args[0][0])
              and _SECTION_ARG_RE.match(args[1][0]))
    if glued or spaced:
        page = glued.group(1) if glued else args[0][0]
        number = glued.group(2) if glued else _SECTION_ARG_RE.match(args[1][0]).group(1)
        yield Report(_origin(review, line.number),
                     f"write the reference to {page}({number}) as \".BR {page} ({number})\": the name in bold, "
                     f"the section in roman", f"{page}({number})")


# -- version notes --------------------------------------------------------------------------

#: A parenthesised version note: "(since Linux 3.7)", and the ways it gets miswritten.
_NOTE_RE = re.compile(r"\((?P<body>(?P<verb>since|added in|new in|introduced in)[ \t]+"
                      r"(?:(?P<who>linux[ \t]+kernel|linux|kernel|version|glibc)[ \t]+)?"
                      r"(?P<version>v?\d+(?:\.\d+)*(?:\.x)?\+?))[ \t]*(?P<end>[);,])", re.IGNORECASE)
_GOOD_NOTE_RE = re.compile(r"since (?:Linux|glibc) \d+\.\d+(?:\.\d+)?")


def _good_note(m: re.Match) -> str:
    """The note as man-pages writes it."""
    version = m.group("version").lstrip("vV").rstrip("+")
    who = "glibc" if (m.group("who") or "").lower() == "glibc" else "Linux"
    return f"since {who} {version}"


@rule("MM504", "warning", "style")
def check_since_format(ctx):
    """A version note is not written "(since Linux X.Y)" as man-pages writes it (lint-patch only).

    man-pages(7) notes the version that brought a flag or behaviour as "(since Linux
    3.7)" (or "(since glibc 2.27)"): lower-case "since", the word Linux, the version
    without a "v". On a ``.TP`` tag the note is a separate roman
    argument with a leading space, so that only the name is bold.

    Bad:  .B MAP_FOO (since Linux 3.7)     Bad:  (since kernel v3.7)
    Good: .BR MAP_FOO " (since Linux 3.7)"
    """
    review = _review(ctx)
    if review is None:
        return
    for line in _lines(review):
        if line.literal or line.number not in review.lines:
            continue
        for m in _NOTE_RE.finditer(line.text):
            body = m.group("body")
            if m.group("end") != ")" and not body.startswith("since"):
                continue  # "(Since Linux 2.6.23, the flag ...)": a sentence in parentheses
            good = _good_note(m)
            origin = _origin(review, line.number, m.start() + 1)
            if not _GOOD_NOTE_RE.fullmatch(body) or (m.group("end") == ")" and m.group(0)[-2] in " \t"):
                yield Report(origin, f"write the version note as \"({good})\", not \"({body})\"", good)
                continue
            if line.request in _FONT_MACROS:
                problem = _note_argument(line, m.start(), m.end() - 1)
                if problem:
                    yield Report(origin, f"{problem}: write it as a roman argument with a leading space, "
                                         f"\" ({good})\" (.BR NAME \" ({good})\")", good)


def _note_argument(line: _Line, offset: int, last: int) -> str | None:
    """What is wrong with where a font macro line puts the note at text[offset:last + 1], if anything."""
    args = _args(line)
    for n, (a, b, quoted) in enumerate(args):
        if not a - (1 if quoted else 0) <= offset < b:
            continue
        roman = line.request in ("BR", "IR") and n % 2 == 1 or line.request in ("RB", "RI") and n % 2 == 0
        if not roman:
            return "the version note is set in bold or italics"
        if not quoted or last >= b:
            return "the version note is split into several arguments"
        if not line.text[a:b].startswith(" "):
            return "the version note is glued to the name"
        return None
    return None


# -- preferred terms ------------------------------------------------------------------------

#: man-pages(7) "Preferred terms" and "Terms to avoid": (pattern, what to write).
#: Left out, because telling the right uses apart needs more than the word: "epoch"
#: (only the UNIX Epoch takes a capital), "x86_64" (right when quoting uname -m), and
#: "tty" and "pty" (device names: /dev/tty, tty(4)).
TERMS = (
    (r"bitmasks?", "bit mask"),
    (r"builtins?", "built-in"),
    (r"file names?", "filename"),
    (r"file systems?", "filesystem"),
    (r"host names?", "hostname"),
    (r"i-nodes?", "inode"),
    (r"lower[- ]case", "lowercase"),
    (r"non-zero", "nonzero"),
    (r"path names?", "pathname"),
    (r"pseudo-terminals?", "pseudoterminal"),
    (r"(?:reserved|system) ports?", "privileged port"),
    (r"realtime|real time", "real-time"),
    (r"runtime", "run time"),
    (r"saved (?:group ID|set-GID)", "saved set-group-ID"),
    (r"saved (?:user ID|set-UID)", "saved set-user-ID"),
    (r"set-GID|setgid", "set-group-ID"),
    (r"set-UID|setuid", "set-user-ID"),
    (r"super[- ]users?", "superuser"),
    (r"super[- ]blocks?", "superblock"),
    (r"symlinks?", "symbolic link"),
    (r"time stamps?", "timestamp"),
    (r"time zones?", "timezone"),
    (r"upper[- ]case", "uppercase"),
    (r"useable", "usable"),
    (r"userspace", "user space"),
    (r"user names?", "username"),
    (r"zeroes", "zeros"),
    (r"current process", "calling process"),
    (r"manpages?", "man page"),
    (r"minus infinity", "negative infinity"),
    (r"plus infinity", "positive infinity"),
    (r"non-root|non-superuser", "unprivileged user"),
    (r"nonprivileged", "unprivileged"),
    (r"(?-i:OS)", "operating system"),
    (r"Unices|Unixes", "UNIX systems"),
    (r"(?-i:NULL) pointers?", "null pointer"),
    (r"(?-i:NUL)-terminated", "null-terminated"),
) + tuple((rf"{bits}bit", f"{bits}-bit") for bits in (8, 16, 32, 64, 128))
_TERM_RES = tuple((re.compile(rf"(?<![\w/.\\-])(?:{pattern})(?![\w(/-])", re.IGNORECASE), good)
                  for pattern, good in TERMS)


def _term_matches(text: str):
    for regex, good in _TERM_RES:
        for m in regex.finditer(text):
            yield m, good


@rule("MM505", "info", "style")
def check_preferred_term(ctx):
    """New text uses a term man-pages(7) asks to avoid (lint-patch only).

    The list is man-pages(7)'s "Preferred terms" and "Terms to avoid" tables:
    "bit mask" not "bitmask", "filesystem" not "file system", "run time" not
    "runtime", "calling process" not "current process", and so on. A word followed
    by "(" is a function or page name (setuid(2)) and is left alone.
    """
    review = _review(ctx)
    if review is None:
        return
    for span in _prose(ctx.document):
        for m, good in _term_matches(span.text):
            origin = span.origin_at(m.start())
            if origin.path == review.path and origin.line in review.lines:
                yield Report(origin, f"man-pages(7) prefers \"{good}\" to \"{m.group(0)}\"", m.group(0).lower())
