"""The man(7) parser: from roff source to a positioned :class:`~.document.Document`.

Reading a page goes in three steps, each keeping source positions (STYLE 10):

1. :mod:`.source` gives the physical lines (gzip, encodings, ``.so`` and links resolved);
2. :mod:`.lexer` joins escaped newlines, records comments, interprets roff itself
   (escapes, strings, registers, conditionals, user macros) and yields man(7) lines;
3. :class:`Parser` here interprets the man(7) macros into sections, subsections and
   paragraphs (plain, tagged, literal); :mod:`.extract` then derives the NAME list,
   ERRORS entries, SYNOPSIS prototypes and "since Linux" notes.

Entry points for rule authors: :func:`read_page` (a file) and :func:`parse_text` (a
string) return a Document; :func:`tokenize` gives the tokens of a text (font use,
escapes, positions) for rules that look below the document.

The parser is forgiving: what it does not understand (an unknown macro, escape or
special character, a stray ``.RE``) is recorded in ``Document.problems`` with its
position, never raised. Only unreadable input and unsafe or looping ``.so`` requests
are errors (:class:`~mmsem.spec.source.InputError`).

Text is placed as man(7) places it: in fill mode the lines of a paragraph are joined
with spaces (``\\c`` joins without one) and a blank line breaks the paragraph; in
no-fill mode (``.nf``, ``.EX``) and in tbl blocks (``.TS``) lines are kept, joined
with newlines, in a "literal" paragraph. A ``.TP`` takes the next text line as its
tag (``.TQ`` adds more tag lines, joined with newlines); ``.IP tag`` takes its
argument. Paragraphs inside a list item (after an untagged ``.IP``, a literal block,
or inside ``.RS``) point to the item with ``Paragraph.item``.
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager

from .document import Document, Origin, Paragraph, Section, Span, new_origin
from .extract import complete
from .lexer import Lexer, Logical, Token, split_args, tokenize
from .roffchars import FONT_MACROS, LAYOUT_REQUESTS
from .source import Source, SourceFile, load, load_text

#: Origin(...) minus the named tuple's argument handling, in the loops that place every
#: word of a page (document.new_origin, inlined).
_new_tuple = tuple.__new__

__all__ = ["Parser", "Token", "parse", "parse_text", "read_page", "tokenize"]


class _Builder:
    """Accumulates the plain text of a span and its pieces, cheaply."""

    __slots__ = ("parts", "pieces", "length", "named")

    def __init__(self):
        self.parts: list[str] = []
        self.pieces: list = []
        self.length = 0
        self.named: list = []  # (start, end) of text set in a non-roman font

    def add(self, tokens: list, file: SourceFile, sep: str) -> None:
        """Append one line's tokens, after `sep` if there is text already."""
        parts = self.parts
        pieces = self.pieces
        length = self.length
        last_line = last_col = -1  # where the last text token ended: text right after it extends its piece
        started = False
        for kind, text, _raw, line, col, font in tokens:
            if not text:
                continue
            if not started:
                started = True
                if length and sep:
                    parts.append(sep)
                    length += len(sep)
            if kind == "text":
                if col != last_col or line != last_line:
                    pieces.append((length, _new_tuple(Origin, (file.path, line, col, file.via))))
                last_line, last_col = line, col + len(text)
            else:  # an escape's text does not line up with its source
                pieces.append((length, _new_tuple(Origin, (file.path, line, col, file.via))))
                last_line = -1
            if font != "R":
                self.named.append((length, length + len(text)))
            parts.append(text)
            length += len(text)
        self.length = length

    def add_words(self, words: list, text: str, start: int, file: SourceFile, line: int, col0: int,
                  sep: str, fonts: tuple) -> None:
        """Append the arguments of a font macro given as plain words (no quotes, no escapes),
        found in `text` from `start` on, `text` beginning at (line, col0) of `file`.
        Alternating fonts join the words without spaces, a single font with one space."""
        parts = self.parts
        pieces = self.pieces
        length = self.length
        if length and sep:
            parts.append(sep)
            length += len(sep)
        path, via = file.path, file.via
        alternate = len(fonts) == 2
        pos = start
        for n, word in enumerate(words):
            at = text.find(word, pos)
            pos = at + len(word)
            if n and not alternate:
                parts.append(" ")
                length += 1
            pieces.append((length, _new_tuple(Origin, (path, line, col0 + at, via))))
            font = fonts[n % 2] if alternate else fonts[0]
            if font != "R":
                self.named.append((length, length + len(word)))
            parts.append(word)
            length += len(word)
        self.length = length

    def span(self) -> Span:
        return Span("".join(self.parts), self.pieces)


class _Para:
    """A paragraph being built."""

    __slots__ = ("kind", "body", "tag", "indent", "item", "subsection", "done")

    def __init__(self, kind: str, indent: int, item, subsection: str):
        self.kind = kind
        self.body = _Builder()
        self.tag: _Builder | None = None
        self.indent = indent
        self.item = item
        self.subsection = subsection
        self.done: Paragraph | None = None  # the Paragraph once finished


class Parser:
    """man(7) interpreter: feed it a :class:`Source`, get a Document from :meth:`parse`."""

    def __init__(self, source: Source):
        self.doc = Document(path=source.path, source=source.resolved)
        self.problems = self.doc.problems
        self.problems.extend(source.notes)
        self.lexer = Lexer(source, self.problems, self.doc.comments)
        self.lexer.known_macros = frozenset(_MACROS) | frozenset(FONT_MACROS)
        self.tokens = self.lexer.tokens
        self.section: Section | None = None
        self.subsection = ""
        self.depth = 0  # .RS nesting
        self.nofill = False
        self.table = False  # inside .TS/.TE
        self.table_format = False  # reading tbl's options and format lines
        self.para: _Para | None = None
        self.finished: list = []  # (Paragraph, body's non-roman ranges, Section), for extract
        self.expect_tag = False  # the next text line is a .TP tag
        self.extend_tag = False  # the next text line is one more tag line (.TQ)
        self.next_font: str | None = None  # .B with no arguments sets the next line
        self.next_heading: str | None = None  # .SH with no arguments takes the next line
        self.items: dict[int, _Para] = {}  # the open list item at each .RS depth
        self.font = "R"  # font escapes in text lines carry over to the next line
        self.join_next = False  # the last text ended with \c
        self.link: tuple | None = None  # (Logical, argument) of an open .UR/.MT
        self.link_text = False  # whether text followed the open .UR/.MT
        self.warned_before_sh = False

    def problem(self, L: Logical, offset: int, message: str) -> None:
        self.problems.append((L.origin(offset), message))

    def parse(self) -> Document:
        macros = _MACROS
        lexer = self.lexer
        next_event = lexer.next_event
        while True:
            if (self.section is not None and not lexer.pending and not self.table and not self.join_next
                    and not (self.extend_tag or self.next_font or self.next_heading or self.link)):
                self.plain_lines()
            event = next_event()
            if event is None:
                break
            L, name, start, name_end, end = event
            if name is None:
                if self.table:
                    self.table_line(L, start, end)
                else:
                    self.text_line(L, start, end)
                continue
            handler = macros.get(name)
            if handler is not None:
                handler(self, L, name, start, name_end, end)
            elif name in FONT_MACROS:
                self.font_macro(L, name, name_end, end)
            elif name not in LAYOUT_REQUESTS:
                self.problem(L, start, f"unknown macro: .{name}")
        self.finish_para()
        if self.link is not None:
            self.problem(self.link[0], 0, "unclosed .UR/.MT link")
        complete(self.doc, self.finished)
        return self.doc

    def plain_lines(self) -> None:
        """Take the lines that need no lexing straight into the document.

        Most lines of a man-pages page are sentences without escapes, or simple
        font macros (``.B MAP_FIXED``, ``.BR mmap (2),``). Running them through
        the lexer's events costs more than placing them, so they are read here
        directly from the lexer's current lines, until the first line that needs
        more: an escape or comment (a backslash anywhere), a quote, a tab, another
        request, or a blank line (a paragraph break in fill mode). Such a line may
        open a paragraph, or be the tag a ``.TP`` waits for.
        """
        lexer = self.lexer
        lines = lexer.lines
        i = lexer.index
        n = len(lines)
        if i >= n:
            return
        text = lines[i]  # a quick look first: often the next line is a request for the lexer
        if "\\" in text or (text[:1] in (".", "'") and text[1:text.find(" ")] not in FONT_MACROS):
            return
        file = lexer.file
        path, via, first = file.path, file.via, lexer.first
        nofill = self.nofill
        sep = "\n" if nofill else " "
        roman = self.font == "R"
        fonts_of = FONT_MACROS.get
        para = self.para
        while i < n:
            text = lines[i]
            if "\\" in text:
                break
            lead = text[:1]
            if lead == ".":
                space = text.find(" ")
                fonts = fonts_of(text[1:space]) if space > 1 else None
                if fonts is None or '"' in text or "\t" in text:
                    break
                words = text[space:].split()
                if not words:
                    break
            elif lead == "'":
                break
            else:
                fonts = None
                if not nofill and text[-1:] in (" ", "\t"):
                    text = text.rstrip(" \t")
                if not text and not nofill:
                    break
            if self.expect_tag:
                self.expect_tag = False
                self.finish_para()
                para = self.open_para(True)
                builder = para.tag
                line_sep = " "
            else:
                if para is None:
                    para = self.open_para(False)
                builder = para.body
                line_sep = sep
            if fonts is not None:
                builder.add_words(words, text, space, file, first + i, 1, line_sep, fonts)
            else:
                length = builder.length
                if length:
                    builder.parts.append(line_sep)
                    length += 1
                builder.pieces.append((length, _new_tuple(Origin, (path, first + i, 1, via))))
                if not roman:
                    builder.named.append((length, length + len(text)))
                builder.parts.append(text)
                builder.length = length + len(text)
            i += 1
        lexer.index = i

    def open_para(self, tagged: bool) -> _Para:
        """A new paragraph in the current section (tagged: the item of a list)."""
        if tagged:
            self.close_items(self.depth)
            para = _Para("tagged", self.depth, None, self.subsection)
            para.tag = _Builder()
            self.items[self.depth] = para
        else:
            kind = "literal" if (self.nofill or self.table) else "plain"
            para = _Para(kind, self.depth, self.enclosing_item() if self.items else None, self.subsection)
        self.para = para
        return para

    # ------------------------------------------------------------------- macros

    def args(self, L: Logical, start: int, end: int) -> list:
        return split_args(L.text, start, end)

    def arg_tokens(self, L: Logical, arg, font: str) -> list:
        return self.tokens(L, arg[0], arg[1], font, arg[2], L.depth)[0]

    def joined(self, L: Logical, args: list, fonts: tuple) -> list:
        """Tokens of arguments joined by spaces, the first in fonts[0], the rest in fonts[-1]."""
        tokens = []
        for n, arg in enumerate(args):
            if n:
                line, col = L.pos(arg[0])
                tokens.append(("escape", " ", "", line, col, "R"))
            tokens.extend(self.arg_tokens(L, arg, fonts[min(n, len(fonts) - 1)]))
        return tokens

    def m_TH(self, L, name, start, name_end, end):
        self.finish_para()
        args = self.args(L, name_end, end)
        if len(args) >= 1:
            self.doc.title = self.lexer.text_of(L, *args[0])
        if len(args) >= 2:
            self.doc.man_section = self.lexer.text_of(L, *args[1])
        self.nofill = False

    def m_SH(self, L, name, start, name_end, end):
        """SH and SS; man-pages never leaves no-fill mode or an indent open across them."""
        self.finish_para()
        self.items.clear()
        self.depth = 0
        self.nofill = self.table = False
        self.expect_tag = self.extend_tag = False
        args = self.args(L, name_end, end)
        if args:
            self.heading(name, self.joined(L, args, ("B",)), L)
        else:
            self.next_heading = name

    def heading(self, name: str, tokens: list, L: Logical) -> None:
        text = "".join(t[1] for t in tokens).strip()
        first = next((t for t in tokens if t[1].strip()), None)
        origin = L.file.origin(first[3], first[4]) if first else L.origin(0)
        if name == "SH":
            self.section = Section(text, origin)
            self.doc.sections.append(self.section)
            self.subsection = ""
        elif self.section is None:
            self.problem(L, 0, ".SS before the first .SH")
        else:
            self.subsection = text
            self.section.subsections.append((text, origin))

    def m_PP(self, L, name, start, name_end, end):
        """PP, P, LP, HP: a new paragraph at the current indentation, ending a list there."""
        self.finish_para()
        self.close_items(self.depth)
        self.expect_tag = self.extend_tag = False

    def m_TP(self, L, name, start, name_end, end):
        para = self.para
        if name == "TQ" and para is not None and para.tag is not None and not para.body.length:
            self.extend_tag = True
            return
        if name == "TQ" and self.expect_tag:
            return
        self.finish_para()
        self.close_items(self.depth)
        self.expect_tag = True
        self.extend_tag = False

    def m_IP(self, L, name, start, name_end, end):
        self.finish_para()
        self.expect_tag = self.extend_tag = False
        args = self.args(L, name_end, end)
        tokens = self.arg_tokens(L, args[0], "R") if args else []
        if any(t[1] for t in tokens):
            self.start_tagged(tokens, L)
        # without a tag, the next text continues the open item at this depth, if any

    def m_RS(self, L, name, start, name_end, end):
        self.finish_para()
        self.expect_tag = self.extend_tag = False
        self.depth += 1

    def m_RE(self, L, name, start, name_end, end):
        self.finish_para()
        self.expect_tag = self.extend_tag = False
        if self.depth == 0:
            self.problem(L, start, ".RE without .RS")
            return
        self.depth -= 1
        self.close_items(self.depth + 1)

    def m_nf(self, L, name, start, name_end, end):
        """nf/fi and EX/EE: no-fill text is a literal paragraph of its own."""
        self.finish_para()
        self.nofill = name in ("nf", "EX")

    def m_TS(self, L, name, start, name_end, end):
        self.finish_para()
        self.table = self.table_format = name == "TS"

    def m_T_and(self, L, name, start, name_end, end):
        if self.table:
            self.table_format = True

    def m_UR(self, L, name, start, name_end, end):
        args = self.args(L, name_end, end)
        self.link = (L, args[0] if args else None)
        self.link_text = False

    def m_UE(self, L, name, start, name_end, end):
        if self.link is None:
            self.problem(L, start, f".{name} without an open link")
            return
        link_line, target = self.link
        self.link = None
        if not self.link_text and target is not None:  # no link text: the address stands for it
            self.add_text(self.arg_tokens(link_line, target, "R"), link_line.file, join=False)
        args = self.args(L, name_end, end)
        if args:
            self.add_text(self.arg_tokens(L, args[0], "R"), L.file, join=True)

    def m_MR(self, L, name, start, name_end, end):
        """groff 1.23 ``.MR page section [punctuation]``: a reference such as mmap(2)."""
        args = self.args(L, name_end, end)
        if not args:
            self.problem(L, start, ".MR without a page name")
            return
        tokens = self.arg_tokens(L, args[0], "I")
        if len(args) > 1:
            line, col = L.pos(args[1][0])
            tokens.append(("escape", "(", "", line, col, "R"))
            tokens.extend(self.arg_tokens(L, args[1], "R"))
            tokens.append(("escape", ")", "", line, col, "R"))
        if len(args) > 2:
            tokens.extend(self.arg_tokens(L, args[2], "R"))
        self.place(tokens, L)

    def m_SY(self, L, name, start, name_end, end):
        """groff's synopsis macros SY/OP/YS; rare in sections 2 and 3, so read as text."""
        if name == "YS":
            self.m_PP(L, name, start, name_end, end)
            return
        args = self.args(L, name_end, end)
        tokens = self.joined(L, args, ("B", "I"))
        if name == "OP" and tokens:
            line, col = L.pos(args[0][0])
            tokens = [("escape", "[", "", line, col, "R"), *tokens, ("escape", "]", "", line, col, "R")]
        if tokens:
            self.place(tokens, L)

    def font_macro(self, L: Logical, name: str, name_end: int, end: int) -> None:
        """B, I, SM, SB (arguments joined by spaces) and BR, IR, ... (fonts alternate, no spaces)."""
        fonts = FONT_MACROS[name]
        text = L.text
        para = self.para
        if (para is not None and not self.expect_tag and not self.extend_tag and self.next_heading is None
                and self.link is None and L.segs is None and not L.fixed
                and text.find("\\", name_end, end) < 0 and text.find('"', name_end, end) < 0):
            # the common case, kept fast: plain words, text going to the open paragraph
            words = text[name_end:end].split()
            if words:
                sep = "\n" if (self.nofill or self.table) else ("" if self.join_next else " ")
                para.body.add_words(words, text, name_end, L.file, L.line, L.col, sep, fonts)
                self.join_next = False
                return
        args = split_args(text, name_end, end)
        if not args:
            self.next_font = fonts[0]
            return
        if len(fonts) == 1:
            tokens = self.joined(L, args, fonts)
        else:
            tokens = []
            tokens_of = self.tokens
            depth = L.depth
            for n, (a, b, quoted) in enumerate(args):
                tokens.extend(tokens_of(L, a, b, fonts[n % 2], quoted, depth)[0])
        self.place(tokens, L)

    # --------------------------------------------------------------------- text

    def text_line(self, L: Logical, start: int, end: int) -> None:
        text = L.text
        nofill = self.nofill
        if not nofill and end > start and text[end - 1] in " \t":
            # trailing blanks do not matter in fill mode (an escaped one does)
            while end > start and text[end - 1] in " \t" and text[end - 2:end - 1] != "\\":
                end -= 1
        if start >= end:
            if not nofill:  # a blank line in fill mode breaks the paragraph, like .sp
                if not self.expect_tag and self.next_heading is None:
                    self.finish_para()
                return
        para = self.para
        if (para is not None and L.segs is None and not L.fixed and text.find("\\", start, end) < 0
                and not (self.expect_tag or self.extend_tag or self.next_font or self.next_heading or self.link)):
            # the common case, kept fast: a line of plain text going to the open paragraph
            body = para.body
            length = body.length
            if length:
                sep = "\n" if nofill else ("" if self.join_next else " ")
                if sep:
                    body.parts.append(sep)
                    length += 1
            file = L.file
            col = L.col + start
            body.pieces.append((length, new_origin(file.path, L.line, col, file.via)))
            piece = text[start:end] if start or end < len(text) else text
            if self.font != "R":
                body.named.append((length, length + len(piece)))
            body.parts.append(piece)
            body.length = length + len(piece)
            self.join_next = False
            return
        if self.next_font is not None:
            tokens = self.tokens(L, start, end, self.next_font, False, L.depth)[0]
            self.next_font = None
        else:
            tokens, self.font = self.tokens(L, start, end, self.font, False, L.depth)
        self.place(tokens, L)

    def table_line(self, L: Logical, start: int, end: int) -> None:
        """A line of a tbl block: format lines are skipped, data kept with its tabs."""
        text = L.text[:end]
        if self.table_format:
            if text.rstrip().endswith("."):
                self.table_format = False
            return
        if text.startswith("T}"):
            start = 2
        stripped = text.rstrip()
        if stripped.endswith("T{"):
            end = len(stripped) - 2
        self.add_text(self.tokens(L, start, end, "R", False, L.depth)[0], L.file, join=False)

    def place(self, tokens: list, L: Logical) -> None:
        """Place one line's worth of text: a heading, a tag, or paragraph text."""
        if self.next_heading is not None:
            name, self.next_heading = self.next_heading, None
            self.heading(name, tokens, L)
            return
        if self.expect_tag:
            self.expect_tag = False
            self.finish_para()
            self.start_tagged(tokens, L)
            return
        if self.extend_tag and self.para is not None and self.para.tag is not None:
            self.extend_tag = False
            self.para.tag.add(tokens, L.file, "\n")
            return
        continued = bool(tokens) and tokens[-1][2] == "\\c"
        para = self.para
        if para is not None and not (self.nofill or self.table):
            para.body.add(tokens, L.file, "" if self.join_next else " ")
        else:
            self.add_text(tokens, L.file, join=self.join_next)
        self.join_next = continued
        if self.link is not None and any(t[1].strip() for t in tokens):
            self.link_text = True

    def add_text(self, tokens: list, file: SourceFile, join: bool) -> None:
        para = self.para
        if para is None:
            if not any(t[1] for t in tokens):
                return
            para = self.start_para(file, tokens)
            if para is None:
                return
        if self.nofill or self.table:
            para.body.add(tokens, file, "\n")
        else:
            para.body.add(tokens, file, "" if join else " ")

    # --------------------------------------------------------------- paragraphs

    def start_para(self, file: SourceFile, tokens: list) -> _Para | None:
        if self.section is None:
            first = next((t for t in tokens if t[1].strip()), None)
            if first is not None and not self.warned_before_sh:
                self.warned_before_sh = True
                self.problems.append((file.origin(first[3], first[4]), "text before the first .SH"))
            return None
        return self.open_para(False)

    def start_tagged(self, tokens: list, L: Logical) -> None:
        if self.section is None:
            self.start_para(L.file, tokens)  # notes the text out of place
            return
        self.open_para(True).tag.add(tokens, L.file, " ")

    def enclosing_item(self) -> _Para | None:
        for depth in range(self.depth, -1, -1):
            item = self.items.get(depth)
            if item is not None:
                return item
        return None

    def close_items(self, depth: int) -> None:
        if self.items:
            for key in [k for k in self.items if k >= depth]:
                del self.items[key]

    def finish_para(self) -> None:
        para = self.para
        if para is None:
            return
        self.para = None
        self.join_next = False
        if para.tag is None and not para.body.length:
            return
        paragraph = Paragraph(
            kind=para.kind,
            body=para.body.span(),
            tag=para.tag.span() if para.tag is not None else None,
            indent=para.indent,
            item=para.item.done if para.item is not None else None,
            subsection=para.subsection,
        )
        para.done = paragraph
        self.section.paragraphs.append(paragraph)
        self.finished.append((paragraph, para.body.named, self.section))


_MACROS = {
    "TH": Parser.m_TH, "SH": Parser.m_SH, "SS": Parser.m_SH,
    "PP": Parser.m_PP, "P": Parser.m_PP, "LP": Parser.m_PP, "HP": Parser.m_PP,
    "TP": Parser.m_TP, "TQ": Parser.m_TP, "IP": Parser.m_IP,
    "RS": Parser.m_RS, "RE": Parser.m_RE,
    "nf": Parser.m_nf, "fi": Parser.m_nf, "EX": Parser.m_nf, "EE": Parser.m_nf,
    "TS": Parser.m_TS, "TE": Parser.m_TS, "T&": Parser.m_T_and,
    "UR": Parser.m_UR, "UE": Parser.m_UE, "MT": Parser.m_UR, "ME": Parser.m_UE,
    "MR": Parser.m_MR, "SY": Parser.m_SY, "YS": Parser.m_SY, "OP": Parser.m_SY,
}


def parse(source: Source) -> Document:
    """The Document of a loaded :class:`~.source.Source`."""
    with _without_cycle_collector():
        return Parser(source).parse()


@contextmanager
def _without_cycle_collector():
    """Pause Python's cycle collector while a page is parsed.

    Parsing allocates a few hundred thousand small objects (positions, pieces,
    tuples), which sets the collector off over and over to scan objects that can
    never be garbage: the parser makes no reference cycles (a test checks that),
    so reference counting frees everything. That is an eighth of the parse time.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def read_page(path: str | os.PathLike) -> Document:
    """Read and parse the man page at `path` (plain or gzip; ``.so`` and symbolic links followed)."""
    return parse(load(path))


def parse_text(text: str, path: str = "<string>") -> Document:
    """Parse roff given as a string; `path` is used in positions and to resolve ``.so``."""
    return parse(load_text(text, path))
