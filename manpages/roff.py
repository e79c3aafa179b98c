"""The roff lexer and the man(7) parser that builds a :class:`~.document.Document`.

Reading a page goes in three steps, each keeping source positions (STYLE 10):

1. :mod:`.source` gives the physical lines (``.so`` expanded, each line knowing its file);
2. the lexer here joins escaped newlines into logical lines, splits off comments,
   splits requests into arguments, and turns text into :class:`Token` s (text runs and
   escapes with their 1-based line and column and the font they are set in);
3. :class:`Parser` interprets the man(7) macros into sections, paragraphs and tags;
   :mod:`.extract` then derives NAME, ERRORS, SYNOPSIS and "since" facts.

Entry points: :func:`read_page` (a file) and :func:`parse_text` (a string), both
returning a Document; :func:`tokenize` gives the token stream of a text for rules
that look below the document (font use, escapes).

The parser is forgiving by design: what it does not understand (an unknown macro,
escape or special character, a stray ``.RE``) is recorded in ``Document.problems``
with its position and skipped, never raised. Only unreadable input and unsafe or
looping ``.so`` requests are errors (:class:`~mmsem.spec.source.InputError`).

Supported beyond man(7) itself, because real pages rely on them: strings (``.ds``,
``\\*``), number registers (``.nr``, ``\\n``), conditionals (``.if``/``.ie``/``.el``
with the conditions nroff would see), user macros (``.de``, expanded with their
arguments; text from an expansion is placed at the macro call), ``.ig``, and tbl
blocks (kept as literal paragraphs, cells separated by tabs).
"""

from __future__ import annotations

import os
import re

from .document import Comment, Document, Origin, Paragraph, Section, Span
from .roffchars import (
    DELIMITED_ESCAPES,
    FONT_MACROS,
    LAYOUT_REQUESTS,
    NAME_ESCAPES,
    PREDEFINED_STRINGS,
    SIMPLE_ESCAPES,
    SPECIAL_CHARS,
)
from .source import Source, SourceFile, load, load_text

#: Deepest nesting of macro calls and string interpolation before we give up on a line.
MAX_EXPANSION_DEPTH = 20

_ARG_RE = re.compile(r'[ \t]*(?:"((?:[^"]|"")*)("?)|((?:\\.|[^ \t\\])+|\\))')
_NAME_END_RE = re.compile(r"[ \t]|(?<=.)\\")
_MACRO_ARG_RE = re.compile(r"\\\$(?:(\d)|\((\d\d)|\[(\d+)\]|([*@]))")
_DS_RE = re.compile(r"[ \t]*(\S+)[ \t]?")
_WORD_RE = re.compile(r"[ \t]+(\S+)")
_EXPR_RE = re.compile(r"(?:(?!\\\{)[^ \t])*")
_NAMED = frozenset("fns*$") | NAME_ESCAPES
_FONT_NAMES = {"1": "R", "2": "I", "3": "B", "4": "BI", "R": "R", "I": "I", "B": "B",
               "BI": "BI", "IB": "BI", "CW": "CW", "CR": "CW", "C": "CW", "CB": "CB",
               "CI": "CI", "CBI": "CBI", "BR": "B", "IR": "I", "RB": "B", "RI": "I"}
#: Number registers a formatter defines; we answer as groff in nroff mode would.
_REGISTERS = {".g": 1, ".x": 1, ".y": 23, ".H": 24, ".V": 40, ".T": 0, ".A": 1, ".C": 0,
              ".j": 1, ".u": 1, ".l": 1872, ".i": 0, ".v": 40, ".s": 10, ".f": 1}


class Token:
    """One lexical item: a run of literal text, or one escape.

    ``kind`` is "text" (``text`` and ``raw`` are the same characters), "escape"
    (``raw`` is the escape as written, ``text`` what it stands for, possibly empty),
    or "font" (a font change; ``font`` is the new font). ``line``/``col`` are 1-based
    and point at the first character of ``raw``; ``font`` is the font the text is set in.
    """

    __slots__ = ("kind", "text", "raw", "line", "col", "font")

    def __init__(self, kind: str, text: str, raw: str, line: int, col: int, font: str):
        self.kind = kind
        self.text = text
        self.raw = raw
        self.line = line
        self.col = col
        self.font = font

    def __repr__(self) -> str:
        return f"Token({self.kind!r}, {self.text!r}, {self.raw!r}, {self.line}, {self.col}, {self.font!r})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, Token):
            return NotImplemented
        return (self.kind, self.text, self.raw, self.line, self.col, self.font) == (
            other.kind, other.text, other.raw, other.line, other.col, other.font)


class Logical:
    """A logical input line: physical lines joined at escaped newlines.

    Positions map back through ``segs`` (offset in ``text``, line, column at that
    offset). Lines produced by a macro expansion are ``fixed``: every character is
    placed at the macro call.
    """

    __slots__ = ("text", "file", "line", "col", "segs", "fixed", "depth")

    def __init__(self, text: str, file: SourceFile, line: int, col: int = 1,
                 segs: list | None = None, fixed: bool = False, depth: int = 0):
        self.text = text
        self.file = file
        self.line = line
        self.col = col
        self.segs = segs
        self.fixed = fixed
        self.depth = depth

    def pos(self, offset: int) -> tuple[int, int]:
        if self.fixed:
            return self.line, self.col
        if self.segs is None:
            return self.line, self.col + offset
        for start, line, col in reversed(self.segs):
            if offset >= start:
                return line, col + offset - start
        return self.line, self.col + offset

    def origin(self, offset: int) -> Origin:
        line, col = self.pos(offset)
        return Origin(self.file.path, line, col, self.file.via)

    def part(self, start: int, end: int) -> "Logical":
        """text[start:end] as a line of its own (a conditional's body), positions kept."""
        text = self.text[start:end]
        if self.fixed:
            return Logical(text, self.file, self.line, self.col, None, True, self.depth)
        if self.segs is None:
            return Logical(text, self.file, self.line, self.col + start, None, False, self.depth)
        line, col = self.pos(start)
        segs = [(0, line, col)] + [(s - start, ln, c) for s, ln, c in self.segs if start < s < end]
        return Logical(text, self.file, line, col, segs, False, self.depth)


def find_comment(text: str, start: int = 0) -> int:
    """Offset of the ``\\"`` (or ``\\#``) starting a comment, or -1; escapes pair left to right."""
    if '\\"' not in text and "\\#" not in text:
        return -1
    i = text.find("\\", start)
    while i >= 0:
        if i + 1 < len(text) and text[i + 1] in '"#':
            return i
        i = text.find("\\", i + 2)
    return -1


def _continues(text: str) -> bool:
    """True when the line ends with an escaped newline (an odd run of backslashes, no comment)."""
    run = len(text) - len(text.rstrip("\\"))
    return run % 2 == 1 and find_comment(text) < 0


def _special(name: str) -> str | None:
    value = SPECIAL_CHARS.get(name)
    if value is not None:
        return value
    if name.startswith("u") and len(name) >= 5:
        try:
            return "".join(chr(int(part.lstrip("u"), 16)) for part in name.split("_"))
        except ValueError:
            return None
    if name.startswith("char") and name[4:].isdigit():
        return chr(int(name[4:]) % 0x110000)
    if len(name) == 1:
        return name
    return None


def _args(text: str, start: int, end: int) -> list[tuple[int, int, bool]]:
    """Macro arguments of text[start:end] as (start, end, quoted) offsets."""
    out = []
    pos = start
    match = _ARG_RE.match
    while pos < end:
        m = match(text, pos, end)
        if m is None or m.end() == pos:
            break
        if m.group(3) is not None:
            out.append((m.start(3), m.end(3), False))
        elif m.group(1) is not None:
            out.append((m.start(1), m.end(1), True))
        pos = m.end()
    return out


def _unquote(raw: str, quoted: bool) -> str:
    return raw.replace('""', '"') if quoted else raw


class _Builder:
    """Accumulates the plain text of a span with its pieces, cheaply."""

    __slots__ = ("parts", "pieces", "length", "named", "last_file", "last_line", "last_col")

    def __init__(self):
        self.parts: list[str] = []
        self.pieces: list = []
        self.length = 0
        self.named: list = []  # (start, end) of text set in a non-roman font
        # where the last piece's text ends in the source, so adjacent text extends it
        self.last_file = None
        self.last_line = 0
        self.last_col = 0

    def add(self, tokens: list, file: SourceFile, sep: str) -> None:
        parts = self.parts
        pieces = self.pieces
        length = self.length
        last_file, last_line, last_col = self.last_file, self.last_line, self.last_col
        started = False
        for tok in tokens:
            text = tok.text
            if not text:
                continue
            if not started:
                started = True
                if length and sep:
                    parts.append(sep)
                    length += len(sep)
                    last_file = None
            line = tok.line
            col = tok.col
            if tok.kind == "text":
                if col != last_col or line != last_line or file is not last_file:
                    pieces.append((length, Origin(file.path, line, col, file.via)))
                last_file, last_line, last_col = file, line, col + len(text)
            else:  # an escape's text does not line up with its source
                pieces.append((length, Origin(file.path, line, col, file.via)))
                last_file = None
            if tok.font != "R":
                self.named.append((length, length + len(text)))
            parts.append(text)
            length += len(text)
        self.length = length
        self.last_file, self.last_line, self.last_col = last_file, last_line, last_col

    def span(self) -> Span:
        return Span("".join(self.parts), self.pieces)


class _Para:
    """A paragraph being built."""

    __slots__ = ("kind", "body", "tag", "indent", "item", "subsection")

    def __init__(self, kind: str, indent: int, item, subsection: str):
        self.kind = kind
        self.body = _Builder()
        self.tag: _Builder | None = None
        self.indent = indent
        self.item = item
        self.subsection = subsection


class Parser:
    """man(7) interpreter: feed it a :class:`Source`, get a Document from :meth:`parse`."""

    def __init__(self, source: Source):
        self.parts = source.parts
        self.part = -1  # index in parts of the lines being read
        self.lines: list[str] = []
        self.file: SourceFile | None = None
        self.first = 1  # line number of lines[0]
        self.index = 0  # next line to read in lines
        self.pending: list[Logical] = []  # lines from macro expansions, next one last
        self.doc = Document(path=source.path, source=source.resolved)
        self.problems = self.doc.problems
        self.problems.extend(source.notes)
        self.strings = dict(PREDEFINED_STRINGS)
        self.registers = dict(_REGISTERS)
        self.macros: dict[str, list[str]] = {}
        self.ie_stack: list[bool] = []
        # document state
        self.section: Section | None = None
        self.subsection = ""
        self.depth = 0
        self.nofill = False
        self.table = False  # inside .TS/.TE
        self.table_format = False  # reading the tbl options and format lines
        self.para: _Para | None = None
        self.paras: list = []  # finished (Paragraph, named ranges of tag, named of body) for extract
        self.expect_tag = False  # the next text line is a .TP tag
        self.extend_tag = False  # the next text line is one more tag line (.TQ)
        self.next_font: str | None = None  # .B with no arguments sets the next line
        self.next_heading: str | None = None  # .SH with no arguments takes the next line
        self.items: dict[int, Paragraph] = {}  # open tagged items by RS depth
        self.font = "R"
        self.prev_font = "R"
        self.join_next = False  # the last text ended with \c
        self.link: tuple | None = None  # (Logical, arg) of an open .UR/.MT, and whether text followed
        self.link_text = False
        self.warned_before_sh = False

    # ----------------------------------------------------------------- reading lines

    def next_line(self) -> Logical | None:
        if self.pending:
            return self.pending.pop()
        lines = self.lines
        index = self.index
        while index >= len(lines):
            self.part += 1
            if self.part >= len(self.parts):
                return None
            self.file, self.first, lines = self.parts[self.part]
            self.lines = lines
            index = 0
        text = lines[index]
        self.index = index + 1
        if text[-1:] != "\\" or not _continues(text):
            return Logical(text, self.file, self.first + index)
        number = self.first + index
        parts = [text[:-1]]
        segs = [(0, number, 1)]
        length = len(text) - 1
        while self.index < len(lines):  # an escaped newline joins lines of the same file only
            more = lines[self.index]
            segs.append((length, self.first + self.index, 1))
            self.index += 1
            if more[-1:] == "\\" and _continues(more):
                parts.append(more[:-1])
                length += len(more) - 1
                continue
            parts.append(more)
            break
        return Logical("".join(parts), self.file, number, 1, segs)

    # --------------------------------------------------------------------- lexing

    def problem(self, L: Logical, offset: int, message: str) -> None:
        self.problems.append((L.origin(offset), message))

    def tokens(self, L: Logical, start: int, end: int, font: str, quoted: bool = False,
               depth: int = 0) -> tuple[list, str]:
        """Tokens of L.text[start:end] set from `font`; returns them and the font after."""
        text = L.text
        j = text.find("\\", start, end)
        if j < 0 and not (quoted and text.find('""', start, end) >= 0):
            if start >= end:
                return [], font
            line, col = L.pos(start)
            return [Token("text", text[start:end], text[start:end], line, col, font)], font
        out: list[Token] = []
        i = start
        pos = L.pos
        while i < end:
            j = text.find("\\", i, end)
            q = text.find('""', i, end) if quoted else -1
            if q >= 0 and (j < 0 or q < j):
                if q > i:
                    line, col = pos(i)
                    out.append(Token("text", text[i:q], text[i:q], line, col, font))
                line, col = pos(q)
                out.append(Token("escape", '"', '""', line, col, font))
                i = q + 2
                continue
            if j < 0:
                line, col = pos(i)
                out.append(Token("text", text[i:end], text[i:end], line, col, font))
                break
            if j > i:
                line, col = pos(i)
                out.append(Token("text", text[i:j], text[i:j], line, col, font))
            i, font = self._escape(L, j, end, font, out, depth)
        return out, font

    def _escape(self, L: Logical, j: int, end: int, font: str, out: list, depth: int) -> tuple[int, str]:
        """Interpret the escape at L.text[j]; append its token(s); return (next offset, font)."""
        text = L.text
        line, col = L.pos(j)
        if j + 1 >= end:
            out.append(Token("escape", "", "\\", line, col, font))
            return end, font
        c = text[j + 1]
        k = j + 2
        simple = SIMPLE_ESCAPES.get(c)
        if simple is not None:
            out.append(Token("escape", simple, text[j:k], line, col, font))
            return k, font
        if c == "(":
            name, k = text[k:k + 2], min(k + 2, end)
            return k, self._special_token(L, j, k, name, line, col, font, out)
        if c == "[":
            close = text.find("]", k, end)
            if close < 0:
                self.problems.append((L.origin(j), "unterminated escape: \\["))
                return end, font
            name = text[k:close].split(" ")[0]
            return close + 1, self._special_token(L, j, close + 1, name, line, col, font, out)
        if c in _NAMED:
            return self._named_escape(L, j, end, c, line, col, font, out, depth)
        if c in DELIMITED_ESCAPES:
            return self._delimited_escape(L, j, end, c, line, col, font, out, depth)
        if c in "\"#":  # a comment reached inside a string's value: the rest is dropped
            return end, font
        self.problems.append((L.origin(j), f"unknown escape: \\{c}"))
        out.append(Token("escape", c, text[j:k], line, col, font))
        return k, font

    def _named_escape(self, L, j, end, c, line, col, font, out, depth) -> tuple[int, str]:
        """Escapes naming a font, string, register, size or the like: \\fB \\f(CW \\*[lq] \\n+x \\s-1."""
        text = L.text
        k = j + 2
        if c in "ns" and k < end and text[k] in "+-":
            k += 1
        if k >= end:
            self.problems.append((L.origin(j), f"incomplete escape: \\{c}"))
            return end, font
        opener = text[k]
        if opener == "(":
            name, k = text[k + 1:k + 3], min(k + 3, end)
        elif opener == "[":
            close = text.find("]", k, end)
            if close < 0:
                self.problems.append((L.origin(j), f"unterminated escape: \\{c}["))
                return end, font
            name, k = text[k + 1:close], close + 1
        elif c == "s" and opener == "'":
            close = text.find("'", k + 1, end)
            name, k = text[k + 1:close], (close + 1 if close >= 0 else end)
        elif c == "s" and opener in "123" and k + 1 < end and text[k + 1].isdigit():
            name, k = text[k:k + 2], k + 2
        else:
            name, k = opener, k + 1
        raw = text[j:k]
        if c == "f":
            new = self.prev_font if name in ("P", "") else _FONT_NAMES.get(name)
            if new is None:
                self.problems.append((L.origin(j), f"unknown font: {raw}"))
                new = "R"
            self.prev_font = font
            out.append(Token("font", "", raw, line, col, new))
            return k, new
        if c == "*":
            self._string_tokens(L, j, raw, name, line, col, font, out, depth)
        elif c == "n":
            out.append(Token("escape", str(self.registers.get(name, 0)), raw, line, col, font))
        else:  # \s, \Y, \k, \g, \$ (outside a macro) ... print nothing
            out.append(Token("escape", "", raw, line, col, font))
        return k, font

    def _delimited_escape(self, L, j, end, c, line, col, font, out, depth) -> tuple[int, str]:
        """Escapes with a delimited argument: \\h'1n' \\w'text' \\C'em' \\o'ab' \\Z'...'."""
        text = L.text
        k = j + 2
        if k >= end:
            self.problems.append((L.origin(j), f"incomplete escape: \\{c}"))
            return end, font
        delim = text[k]
        close = text.find(delim, k + 1, end)
        if close < 0:
            self.problems.append((L.origin(j), f"unterminated escape: \\{c}{delim}"))
            return end, font
        raw = text[j:close + 1]
        inner = text[k + 1:close]
        value = DELIMITED_ESCAPES[c]
        if c == "C":
            return close + 1, self._special_token(L, j, close + 1, inner, line, col, font, out)
        if value is None:  # \o and \Z print their argument
            inner_tokens, _ = self.tokens(L, k + 1, close, font, depth=depth)
            out.append(Token("escape", "", text[j:k + 1], line, col, font))
            out.extend(inner_tokens)
            return close + 1, font
        out.append(Token("escape", value, raw, line, col, font))
        return close + 1, font

    def _special_token(self, L, j, k, name, line, col, font, out) -> str:
        value = _special(name)
        raw = L.text[j:k]
        if value is None:
            self.problems.append((L.origin(j), f"unknown special character: {raw}"))
            value = "\ufffd"
        out.append(Token("escape", value, raw, line, col, font))
        return font

    def _string_tokens(self, L, j, raw, name, line, col, font, out, depth) -> None:
        name = name.split(" ")[0]
        value = self.strings.get(name)
        if value is None:
            self.problems.append((L.origin(j), f"undefined string: {raw}"))
            value = ""
        out.append(Token("escape", "", raw, line, col, font))
        if not value:
            return
        if depth >= MAX_EXPANSION_DEPTH:
            self.problems.append((L.origin(j), f"string nested too deep: {raw}"))
            return
        inner = Logical(value, L.file, line, col, None, True)
        tokens, _ = self.tokens(inner, 0, len(value), font, depth=depth + 1)
        for tok in tokens:
            if tok.kind == "text":  # text from a string's value is not where the page has it
                tok.kind = "escape"
        out.extend(tokens)

    # ------------------------------------------------------------------- parsing

    def parse(self) -> Document:
        from .extract import complete

        while True:
            L = self.next_line()
            if L is None:
                break
            self.line(L)
        self.finish_para()
        if self.link is not None:
            self.problem(self.link[0], 0, "unclosed .UR/.MT link")
        complete(self.doc, self.paras)
        return self.doc

    def line(self, L: Logical) -> None:
        text = L.text
        end = find_comment(text)
        if end >= 0:
            before = text[:end]
            if not L.depth:  # a macro's comments belong to its definition, not to each call
                at = 0 if before.strip(" \t") in (".", "'") else end
                self.doc.comments.append(Comment(text[end + 2:], L.origin(at)))
            if not before.strip(" \t"):
                return  # a line that is only a comment produces nothing
        else:
            end = len(text)
        if text[:1] in ".'" and end > 0:
            self.request(L, 1, end)
        elif self.table:
            self.table_line(L, end)
        else:
            self.text_line(L, 0, end)

    # ------------------------------------------------------------------- requests

    def request(self, L: Logical, start: int, end: int) -> None:
        text = L.text
        while start < end and text[start] in " \t":
            start += 1
        m = _NAME_END_RE.search(text, start, end)
        name_end = m.start() if m else end
        name = text[start:name_end]
        if not name:
            return  # "." alone, or ".\\}" ending a conditional block that was taken
        if name in self.macros:
            self.expand_macro(L, name, name_end, end)
            return
        handler = _REQUESTS.get(name)
        if handler is not None:
            handler(self, L, name, start, name_end, end)
        elif name in FONT_MACROS:
            self.font_macro(L, name, name_end, end)
        elif name in LAYOUT_REQUESTS:
            return
        else:
            self.problem(L, start, f"unknown macro: .{name}")

    def args(self, L: Logical, start: int, end: int) -> list:
        return _args(L.text, start, end)

    def arg_tokens(self, L: Logical, arg, font: str) -> list:
        tokens, _ = self.tokens(L, arg[0], arg[1], font, arg[2], L.depth)
        return tokens

    def plain(self, L: Logical, arg) -> str:
        return "".join(t.text for t in self.arg_tokens(L, arg, "R"))

    def r_TH(self, L, name, start, name_end, end):
        args = self.args(L, name_end, end)
        self.finish_para()
        if len(args) >= 1:
            self.doc.title = self.plain(L, args[0])
        if len(args) >= 2:
            self.doc.man_section = self.plain(L, args[1])
        self.nofill = False

    def r_SH(self, L, name, start, name_end, end):
        self.finish_para()
        self.items.clear()
        self.depth = 0
        self.nofill = False
        self.expect_tag = self.extend_tag = False
        args = self.args(L, name_end, end)
        if not args:
            self.next_heading = name
            return
        tokens = []
        for n, arg in enumerate(args):
            if n:
                tokens.append(Token("escape", " ", " ", *L.pos(arg[0]), "R"))
            tokens.extend(self.arg_tokens(L, arg, "B"))
        self.heading(name, tokens, L)

    def heading(self, name: str, tokens: list, L: Logical) -> None:
        text = "".join(t.text for t in tokens).strip()
        first = next((t for t in tokens if t.text.strip()), None)
        origin = Origin(L.file.path, first.line, first.col, L.file.via) if first else L.origin(0)
        if name == "SH":
            self.section = Section(text, origin)
            self.doc.sections.append(self.section)
            self.subsection = ""
        else:
            self.subsection = text
            if self.section is None:
                self.problem(L, 0, ".SS before the first .SH")
            else:
                self.section.subsections.append((text, origin))

    def r_break(self, L, name, start, name_end, end):
        """PP, P, LP, HP: a new paragraph at the current indentation, ending any list here."""
        self.finish_para()
        self.close_items(self.depth)
        self.expect_tag = self.extend_tag = False

    def r_TP(self, L, name, start, name_end, end):
        if name == "TQ" and self.para is not None and self.para.tag is not None and not self.para.body.length:
            self.extend_tag = True
            return
        if name == "TQ" and self.expect_tag:
            return
        self.finish_para()
        self.close_items(self.depth)
        self.expect_tag = True
        self.extend_tag = False

    def r_IP(self, L, name, start, name_end, end):
        self.finish_para()
        self.expect_tag = self.extend_tag = False
        args = self.args(L, name_end, end)
        tokens = self.arg_tokens(L, args[0], "R") if args else []
        if any(t.text for t in tokens):
            self.close_items(self.depth)
            self.start_tagged(tokens, L)
        # without a tag: the next text continues the open item at this depth, if any

    def r_RS(self, L, name, start, name_end, end):
        self.finish_para()
        self.expect_tag = self.extend_tag = False
        self.depth += 1

    def r_RE(self, L, name, start, name_end, end):
        self.finish_para()
        self.expect_tag = self.extend_tag = False
        if self.depth == 0:
            self.problem(L, start, ".RE without .RS")
            return
        self.depth -= 1
        self.close_items(self.depth + 1)

    def r_nofill(self, L, name, start, name_end, end):
        self.finish_para()
        self.nofill = name in ("nf", "EX")

    def r_TS(self, L, name, start, name_end, end):
        self.finish_para()
        self.table = name != "TE"
        self.table_format = self.table

    def r_table_format(self, L, name, start, name_end, end):
        if self.table:
            self.table_format = True

    def r_UR(self, L, name, start, name_end, end):
        args = self.args(L, name_end, end)
        self.link = (L, args[0] if args else None)
        self.link_text = False

    def r_UE(self, L, name, start, name_end, end):
        if self.link is None:
            self.problem(L, start, f".{name} without an open link")
            return
        link_line, target = self.link
        self.link = None
        if not self.link_text and target is not None:
            tokens = self.arg_tokens(link_line, target, "R")
            self.add_text(tokens, link_line.file, join=False)
        args = self.args(L, name_end, end)
        if args:
            self.add_text(self.arg_tokens(L, args[0], "R"), L.file, join=True)

    def r_MR(self, L, name, start, name_end, end):
        """groff 1.23 ``.MR page section [punctuation]``: a reference like mmap(2)."""
        args = self.args(L, name_end, end)
        if not args:
            self.problem(L, start, ".MR without a page name")
            return
        tokens = self.arg_tokens(L, args[0], "I")
        if len(args) > 1:
            line, col = L.pos(args[1][0])
            tokens.append(Token("escape", "(", "", line, col, "R"))
            tokens.extend(self.arg_tokens(L, args[1], "R"))
            tokens.append(Token("escape", ")", "", line, col, "R"))
        for arg in args[2:3]:
            tokens.extend(self.arg_tokens(L, arg, "R"))
        self.text_tokens(tokens, L)

    def r_SY(self, L, name, start, name_end, end):
        """groff's synopsis macros; rare in sections 2 and 3, so they are read as text."""
        if name == "YS":
            self.r_break(L, name, start, name_end, end)
            return
        args = self.args(L, name_end, end)
        tokens = []
        for n, arg in enumerate(args):
            if n:
                tokens.append(Token("escape", " ", " ", *L.pos(arg[0]), "R"))
            tokens.extend(self.arg_tokens(L, arg, "B" if n == 0 else "I"))
        if name == "OP" and tokens:
            line, col = L.pos(args[0][0])
            tokens = [Token("escape", "[", "", line, col, "R"), *tokens,
                      Token("escape", "]", "", line, col, "R")]
        if tokens:
            self.text_tokens(tokens, L)

    def r_nop(self, L, name, start, name_end, end):
        rest = name_end
        while rest < end and L.text[rest] in " \t":
            rest += 1
        if rest < end:
            self.text_line(L, rest, end)

    def r_do(self, L, name, start, name_end, end):
        self.request(L, name_end, end)

    def r_ds(self, L, name, start, name_end, end):
        text = L.text
        m = _DS_RE.match(text, name_end, end)
        if m is None:
            self.problem(L, start, f".{name} without a name")
            return
        value = text[m.end():end]
        if value.startswith('"'):
            value = value[1:]
        key = m.group(1)
        if name.startswith("as"):
            self.strings[key] = self.strings.get(key, "") + value
        else:
            self.strings[key] = value

    def r_rm(self, L, name, start, name_end, end):
        for arg in self.args(L, name_end, end):
            key = L.text[arg[0]:arg[1]]
            self.strings.pop(key, None)
            self.macros.pop(key, None)

    def r_nr(self, L, name, start, name_end, end):
        args = self.args(L, name_end, end)
        if len(args) < 2:
            return
        key = L.text[args[0][0]:args[0][1]]
        expr = L.text[args[1][0]:args[1][1]]
        value = self.evaluate(L, expr)
        if value is None:
            self.problem(L, args[1][0], f"cannot evaluate: {expr}")
            return
        if expr[:1] in "+-" and key in self.registers:
            value = self.registers[key] + value
        self.registers[key] = value

    def r_rr(self, L, name, start, name_end, end):
        for arg in self.args(L, name_end, end):
            self.registers.pop(L.text[arg[0]:arg[1]], None)

    def r_de(self, L, name, start, name_end, end):
        args = self.args(L, name_end, end)
        words = [L.text[a:b] for a, b, _ in args]
        if name == "ig":
            self.block(L, words[0] if words else ".")
            return
        key = words[0] if words else ""
        body = self.block(L, words[1] if len(words) > 1 else ".")
        if not key:
            self.problem(L, start, f".{name} without a name")
            return
        if name.startswith("am"):
            self.macros.setdefault(key, []).extend(body)
        else:
            self.macros[key] = body

    def r_unsupported(self, L, name, start, name_end, end):
        self.problem(L, start, f"unsupported request: .{name}")

    def block(self, L: Logical, terminator: str) -> list[str]:
        """Lines up to the one that is just ``.terminator`` (copy mode: not interpreted)."""
        body = []
        while True:
            nxt = self.next_line()
            if nxt is None:
                self.problem(L, 0, f"no .{terminator} before the end of the page")
                return body
            text = nxt.text
            if text[:1] in ".'":
                word = text[1:].strip(" \t").split(" ")[0].split("\t")[0]
                if word == terminator or (terminator == "." and word.startswith('.\\"')):
                    return body
            body.append(text)

    def expand_macro(self, L: Logical, name: str, name_end: int, end: int) -> None:
        if L.depth >= MAX_EXPANSION_DEPTH:
            self.problem(L, 0, f"macro nested too deep: .{name}")
            return
        args = [_unquote(L.text[a:b], q) for a, b, q in self.args(L, name_end, end)]
        line, col = L.pos(0)

        def argument(m: re.Match) -> str:
            number = m.group(1) or m.group(2) or m.group(3)
            if number is None:
                return " ".join(args) if m.group(4) == "*" else " ".join(f'"{a}"' for a in args)
            n = int(number)
            if n == 0:
                return name
            return args[n - 1] if n <= len(args) else ""

        lines = []
        for raw in self.macros[name]:
            text = raw.replace("\\\\", "\\")  # copy mode: \\\\ stands for one backslash
            if "\\$" in text:
                text = _MACRO_ARG_RE.sub(argument, text)
            lines.append(Logical(text, L.file, line, col, None, True, L.depth + 1))
        self.registers[".$"] = len(args)
        self.pending.extend(reversed(lines))

    # ---------------------------------------------------------------- conditionals

    def r_if(self, L, name, start, name_end, end):
        text = L.text
        if name == "el":
            result = self.ie_stack.pop() if self.ie_stack else False
            body = name_end
        else:
            result, body = self.condition(L, name_end, end)
            if name == "ie":
                self.ie_stack.append(not result)
        while body < end and text[body] in " \t":
            body += 1
        opens = text.startswith("\\{", body)
        if not result:
            if opens:
                self.skip_block(text, body, end)
            return
        if opens:
            body += 2
            while body < end and text[body] in " \t":
                body += 1
        if body >= end or text[body:end] == "\\":
            return
        self.line(L.part(body, end))

    def skip_block(self, text: str, start: int, end: int) -> None:
        depth = _brace_balance(text[start:end])
        while depth > 0:
            nxt = self.next_line()
            if nxt is None:
                return
            comment = find_comment(nxt.text)
            depth += _brace_balance(nxt.text if comment < 0 else nxt.text[:comment])

    def condition(self, L: Logical, start: int, end: int) -> tuple[bool, int]:
        """Evaluate an .if/.ie condition as nroff would; returns (result, offset of the body)."""
        text = L.text
        i = start
        while i < end and text[i] in " \t":
            i += 1
        negate = False
        while i < end and text[i] == "!":
            negate = not negate
            i += 1
        c = text[i:i + 1]
        if c in ("n", "t", "o", "e", "v") and (i + 1 >= end or not text[i + 1].isalnum()):
            return (c in ("n", "o")) != negate, i + 1
        if c in ("d", "r", "m", "c", "F", "S") and i + 1 < end and text[i + 1] in " \t":
            m = _WORD_RE.match(text, i + 1, end)
            if m is None:
                return negate, end
            key = m.group(1)
            if c == "d":
                result = key in self.strings or key in self.macros or key in _REQUESTS or key in FONT_MACROS
            elif c == "r":
                result = key in self.registers
            else:
                result = c == "c"  # glyphs exist; colours, fonts and styles are not ours to know
            return result != negate, m.end()
        if c and not (c.isdigit() or c in "(\\+-|"):
            close = text.find(c, i + 1, end)
            close2 = text.find(c, close + 1, end) if close >= 0 else -1
            if close2 < 0:
                self.problem(L, i, "cannot evaluate condition")
                return False, end
            left = "".join(t.text for t in self.tokens(L, i + 1, close, "R")[0])
            right = "".join(t.text for t in self.tokens(L, close + 1, close2, "R")[0])
            return (left == right) != negate, close2 + 1
        m = _EXPR_RE.match(text, i, end)
        expr = m.group(0)
        value = self.evaluate(L, expr)
        if value is None:
            self.problem(L, i, f"cannot evaluate condition: {expr}")
            return False, m.end()
        return (value > 0) != negate, m.end()

    def evaluate(self, L: Logical, expr: str) -> int | None:
        """A roff numeric expression: left to right, parentheses group, units ignored."""
        expr = re.sub(r"\\n(?:\[([^\]]*)\]|\((..)|(.))",
                      lambda m: str(self.registers.get(m.group(1) or m.group(2) or m.group(3), 0)), expr)
        expr = re.sub(r"\\w'[^']*'", "0", expr)
        return _evaluate(expr)

    # ------------------------------------------------------------------------ text

    def font_macro(self, L: Logical, name: str, name_end: int, end: int) -> None:
        fonts = FONT_MACROS[name]
        args = self.args(L, name_end, end)
        if not args:
            self.next_font = fonts[0]
            return
        tokens: list = []
        sep = len(fonts) == 1
        for n, arg in enumerate(args):
            if sep and n:
                tokens.append(Token("escape", " ", " ", *L.pos(arg[0]), fonts[0]))
            tokens.extend(self.arg_tokens(L, arg, fonts[n % len(fonts)]))
        self.text_tokens(tokens, L)

    def text_line(self, L: Logical, start: int, end: int) -> None:
        if not self.nofill:  # trailing blanks do not matter in fill mode (an escaped one does)
            text = L.text
            while end > start and text[end - 1] in " \t" and text[end - 2:end - 1] != "\\":
                end -= 1
        if self.next_font is not None:
            tokens, _ = self.tokens(L, start, end, self.next_font, depth=L.depth)
            self.next_font = None
        else:
            tokens, self.font = self.tokens(L, start, end, self.font, depth=L.depth)
        if start >= end and not self.nofill and not self.table:
            # a blank line in fill mode is a paragraph break (groff spaces it like .sp)
            if not self.expect_tag and not self.next_heading:
                self.finish_para()
            return
        self.text_tokens(tokens, L)

    def text_tokens(self, tokens: list, L: Logical) -> None:
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
        continued = bool(tokens) and tokens[-1].raw == "\\c"
        self.add_text(tokens, L.file, join=self.join_next)
        self.join_next = continued
        if self.link is not None and any(t.text.strip() for t in tokens):
            self.link_text = True

    def table_line(self, L: Logical, end: int) -> None:
        text = L.text[:end]
        if self.table_format:
            if text.rstrip().endswith("."):
                self.table_format = False
            return
        start = 0
        if text.startswith("T}"):
            start = 2
        if text.rstrip().endswith("T{"):
            end = text.rstrip().rfind("T{")
        tokens, _ = self.tokens(L, start, end, "R", depth=L.depth)
        self.add_text(tokens, L.file, join=False)

    def add_text(self, tokens: list, file: SourceFile, join: bool) -> None:
        para = self.para
        if para is None:
            if not any(t.text for t in tokens):
                return
            para = self.start_para(file, tokens)
            if para is None:
                return
        literal = self.nofill or self.table
        if literal:
            para.body.add(tokens, file, "\n")
        else:
            para.body.add(tokens, file, "" if join else " ")

    def start_para(self, file: SourceFile, tokens: list) -> _Para | None:
        if self.section is None:
            first = next((t for t in tokens if t.text), None)
            if first is not None and not self.warned_before_sh:
                self.warned_before_sh = True
                self.problems.append((file.origin(first.line, first.col), "text before the first .SH"))
            return None
        kind = "literal" if (self.nofill or self.table) else "plain"
        self.para = _Para(kind, self.depth, self.enclosing_item(), self.subsection)
        return self.para

    def start_tagged(self, tokens: list, L: Logical) -> None:
        para = self.start_para(L.file, tokens)
        if para is None:
            return
        para.kind = "tagged"
        para.tag = _Builder()
        para.tag.add(tokens, L.file, " ")
        para.item = None
        self.close_items(self.depth)
        self.items[self.depth] = para  # replaced by the finished Paragraph in finish_para

    def enclosing_item(self):
        for depth in range(self.depth, -1, -1):
            item = self.items.get(depth)
            if item is not None:
                return item
        return None

    def close_items(self, depth: int) -> None:
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
            item=para.item,
            subsection=para.subsection,
        )
        if para.tag is not None:
            for depth, open_item in self.items.items():
                if open_item is para:
                    self.items[depth] = paragraph
        self.section.paragraphs.append(paragraph)
        self.paras.append((paragraph, para.tag.named if para.tag is not None else [], para.body.named,
                           self.section))


def _brace_balance(text: str) -> int:
    """Opened minus closed conditional blocks (``\\{`` / ``\\}``) in a line, escapes paired."""
    balance = 0
    i = text.find("\\")
    while i >= 0 and i + 1 < len(text):
        c = text[i + 1]
        if c == "{":
            balance += 1
        elif c == "}":
            balance -= 1
        i = text.find("\\", i + 2)
    return balance


_TOKEN_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+|[-+*/%()]|<=|>=|==|<>|[<>=&:]|[a-zA-Z])")


def _evaluate(expr: str) -> int | None:
    tokens = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN_RE.match(expr, pos)
        if m is None:
            return None
        tok = m.group(1)
        pos = m.end()
        if tok.isalpha():
            continue  # a scaling unit: the number stands
        tokens.append(tok)
    if not tokens:
        return None
    try:
        value, rest = _eval_seq(tokens, 0)
    except (IndexError, ValueError, ZeroDivisionError):
        return None
    return value if rest == len(tokens) else None


def _eval_seq(tokens: list, i: int) -> tuple[int, int]:
    value, i = _eval_term(tokens, i)
    while i < len(tokens) and tokens[i] != ")":
        op = tokens[i]
        right, i = _eval_term(tokens, i + 1)
        if op == "+":
            value += right
        elif op == "-":
            value -= right
        elif op == "*":
            value *= right
        elif op == "/":
            value = int(value / right)
        elif op == "%":
            value = value % right
        elif op == "<":
            value = int(value < right)
        elif op == ">":
            value = int(value > right)
        elif op == "<=":
            value = int(value <= right)
        elif op == ">=":
            value = int(value >= right)
        elif op in ("=", "=="):
            value = int(value == right)
        elif op == "<>":
            value = int(value != right)
        elif op == "&":
            value = int(value > 0 and right > 0)
        elif op == ":":
            value = int(value > 0 or right > 0)
        else:
            raise ValueError(op)
    return value, i


def _eval_term(tokens: list, i: int) -> tuple[int, int]:
    tok = tokens[i]
    if tok == "(":
        value, i = _eval_seq(tokens, i + 1)
        if tokens[i] != ")":
            raise ValueError("(")
        return value, i + 1
    if tok in "+-" and len(tok) == 1:
        value, i = _eval_term(tokens, i + 1)
        return (value if tok == "+" else -value), i
    return int(float(tok)), i + 1


_REQUESTS = {
    "TH": Parser.r_TH, "SH": Parser.r_SH, "SS": Parser.r_SH,
    "PP": Parser.r_break, "P": Parser.r_break, "LP": Parser.r_break, "HP": Parser.r_break,
    "TP": Parser.r_TP, "TQ": Parser.r_TP, "IP": Parser.r_IP,
    "RS": Parser.r_RS, "RE": Parser.r_RE,
    "nf": Parser.r_nofill, "fi": Parser.r_nofill, "EX": Parser.r_nofill, "EE": Parser.r_nofill,
    "TS": Parser.r_TS, "TE": Parser.r_TS, "T&": Parser.r_table_format,
    "UR": Parser.r_UR, "UE": Parser.r_UE, "MT": Parser.r_UR, "ME": Parser.r_UE,
    "MR": Parser.r_MR, "SY": Parser.r_SY, "YS": Parser.r_SY, "OP": Parser.r_SY,
    "nop": Parser.r_nop, "do": Parser.r_do,
    "ds": Parser.r_ds, "ds1": Parser.r_ds, "as": Parser.r_ds, "as1": Parser.r_ds,
    "rm": Parser.r_rm, "nr": Parser.r_nr, "rr": Parser.r_rr,
    "de": Parser.r_de, "de1": Parser.r_de, "am": Parser.r_de, "am1": Parser.r_de, "ig": Parser.r_de,
    "if": Parser.r_if, "ie": Parser.r_if, "el": Parser.r_if,
    "cc": Parser.r_unsupported, "c2": Parser.r_unsupported, "ec": Parser.r_unsupported,
    "eo": Parser.r_unsupported, "dei": Parser.r_unsupported, "ami": Parser.r_unsupported,
}


def parse(source: Source) -> Document:
    """The Document of a loaded source."""
    return Parser(source).parse()


def read_page(path: str | os.PathLike) -> Document:
    """Read and parse the man page at `path` (plain or gzip; ``.so`` and symbolic links followed)."""
    return parse(load(path))


def parse_text(text: str, path: str = "<string>") -> Document:
    """Parse roff given as a string; `path` is used in positions and to resolve ``.so``."""
    return parse(load_text(text, path))


def tokenize(text: str, path: str = "<string>") -> list[tuple[str, list]]:
    """The lexer's view of a text, line by line: ("request", [name token, argument tokens...]),
    ("text", tokens) or ("comment", [token]). Conditionals, macros and strings are not
    interpreted (escapes are); positions are 1-based."""
    parser = Parser(load_text(text, path))
    out = []
    while True:
        L = parser.next_line()
        if L is None:
            return out
        text_ = L.text
        end = find_comment(text_)
        comment = None
        if end >= 0:
            line, col = L.pos(end)
            comment = Token("comment", text_[end + 2:], text_[end:], line, col, "R")
        else:
            end = len(text_)
        if text_[:1] in ".'" and text_[1:end].strip(" \t"):
            start = 1
            while text_[start] in " \t":
                start += 1
            m = _NAME_END_RE.search(text_, start, end)
            name_end = m.start() if m else end
            line, col = L.pos(start)
            items = [Token("request", text_[start:name_end], text_[start:name_end], line, col, "R")]
            for arg in _args(text_, name_end, end):
                items.extend(parser.arg_tokens(L, arg, "R"))
            out.append(("request", items))
        elif end > 0 and not (text_[:1] in ".'" and not text_[1:end].strip(" \t")):
            out.append(("text", parser.tokens(L, 0, end, "R")[0]))
        if comment is not None:
            out.append(("comment", [comment]))
