"""The parsed form of a man page: what the lint rules query.

The roff parser (roff.py) builds a :class:`Document` from man(7) source, keeping a
source position for everything: lines are 1-based, columns are 1-based (the column
of the first character in the source line). Text is "plain": font escapes removed,
special characters resolved (``\\-`` is ``-``, ``\\(em`` is an em dash), requests
and comments dropped; :class:`Span` maps offsets in plain text back to the source.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from operator import itemgetter
from typing import NamedTuple

_piece_offset = itemgetter(0)


class Origin(NamedTuple):
    """A source position; ``via`` is where this file was brought in from, if anywhere: the
    ``.so`` request that included it, or (line 1, column 1 of) the symbolic link it was read through.

    A named tuple rather than a dataclass: the parser makes one per piece of text (over a
    hundred thousand for the man2 pages), and a tuple is built in half the time."""

    path: str
    line: int
    col: int = 1
    via: "Origin | None" = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


_new_tuple = tuple.__new__


def new_origin(path: str, line: int, col: int = 1, via: Origin | None = None) -> Origin:
    """``Origin(path, line, col, via)`` without the keyword handling of the named tuple's
    constructor: what the parser's inner loops call."""
    return _new_tuple(Origin, (path, line, col, via))


@dataclass
class Span:
    """Plain text with the source position of each of its pieces.

    ``pieces`` holds (offset in text, Origin) in increasing offset order: each piece
    of text from that offset up to the next comes from the source position given.
    """

    text: str = ""
    pieces: list = field(default_factory=list)

    def origin_at(self, offset: int) -> Origin:
        """Source position of the character at `offset` of the plain text."""
        if not self.pieces:
            raise ValueError("empty span")
        i = max(bisect.bisect_right(self.pieces, offset, key=_piece_offset) - 1, 0)
        start, origin = self.pieces[i]
        if i + 1 < len(self.pieces) and offset >= self.pieces[i + 1][0]:
            return self.pieces[i + 1][1]
        # within one source line: advance the column by the distance (escapes may make it inexact)
        return Origin(origin.path, origin.line, origin.col + (offset - start), origin.via)

    @property
    def origin(self) -> Origin:
        return self.pieces[0][1]

    def append(self, text: str, origin: Origin, separator: str = " ") -> None:
        """Add text from `origin`, joined to what is there by `separator`."""
        if self.text and text:
            self.text += separator
        self.pieces.append((len(self.text), origin))
        self.text += text


@dataclass
class Paragraph:
    """A run of text: plain (PP/P/LP), tagged (TP/IP with a tag), or literal (nf/EX)."""

    kind: str  # "plain", "tagged", "literal"
    body: Span
    tag: Span | None = None  # the tag line of TP, or the argument of IP
    indent: int = 0  # RS nesting depth when the paragraph started
    # The tagged paragraph this one continues (an untagged .IP, or text after .EE or
    # inside .RS, within the item of a .TP list), so "the text about MAP_FIXED" is the
    # tagged paragraph plus the paragraphs whose item it is.
    item: "Paragraph | None" = field(default=None, repr=False, compare=False)
    subsection: str = ""  # the .SS the paragraph is under, "" before the first one


@dataclass
class ErrorEntry:
    """One item of ERRORS: ``.TP`` + ``.B ENOMEM`` followed by its explanation.

    ``scope`` lists the functions a prefix like "(mlockall())" or "(mlock(),
    mlock2())" restricts the entry to; empty means every function of the page.
    """

    errno: str
    body: Span
    origin: Origin
    scope: tuple[str, ...] = ()
    # Other parenthesised conditions on the entry, from the tag or the start of the body:
    # ("Linux 2.6.9 and later",), ("Not on Linux",), ("since Linux 4.3",), ("for MADV_COLLAPSE",).
    qualifiers: tuple[str, ...] = ()


@dataclass
class Prototype:
    """A function prototype of SYNOPSIS, as C text on one line (continuations joined)."""

    name: str  # the function's name
    # normalised C text, as the page writes it (man-pages 6 writes buffers as
    # "const void addr[.len]"), e.g. "int mlock2(const void addr[.len], size_t len, unsigned int flags);"
    text: str
    origin: Origin
    # The plain text the declaration was read from and where in it the declaration
    # starts, so that a rule can place a finding on one word of it.
    span: Span | None = field(default=None, repr=False, compare=False)
    offset: int = field(default=0, repr=False, compare=False)


@dataclass
class SinceNote:
    """A "(since Linux X.Y)" note and what it qualifies (a flag or function name)."""

    subject: str
    version: str
    origin: Origin


@dataclass
class Section:
    name: str  # as written in .SH, upper case for man-pages (DESCRIPTION)
    origin: Origin
    paragraphs: list = field(default_factory=list)
    subsections: list = field(default_factory=list)  # (name, Origin) of each .SS, in order


@dataclass
class Comment:
    text: str  # the comment without the leading .\\" or \\"
    origin: Origin


@dataclass
class Document:
    path: str
    title: str = ""  # .TH name
    man_section: str = ""  # .TH section
    names: tuple[str, ...] = ()  # the functions the NAME section lists
    sections: list = field(default_factory=list)
    errors: list = field(default_factory=list)  # ErrorEntry, in page order
    prototypes: list = field(default_factory=list)  # Prototype, in SYNOPSIS order
    since: list = field(default_factory=list)  # SinceNote, in page order
    comments: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # (Origin, message): markup the parser could not make sense of
    # The file whose text is the page: `path` itself, or the page it links to (a symbolic
    # link such as munmap.2.gz -> mmap.2.gz, or a page that is only ".so man2/mmap.2").
    source: str = ""

    def section(self, name: str) -> Section | None:
        for section in self.sections:
            if section.name == name:
                return section
        return None
