"""The roff lexer: logical lines, comments, requests, arguments and escapes, with positions.

This is the roff language level, below man(7). It joins escaped newlines into
logical lines (:class:`Logical`, which maps every offset back to a source line and
column), collects comments, splits requests into name and arguments, interprets
escapes into :class:`Token` s, and handles the requests that define roff itself
rather than a page's structure: strings (``.ds``/``.as``, ``\\*``), number registers
(``.nr``, ``\\n``), conditionals (``.if``/``.ie``/``.el``, evaluated as nroff would),
user macros (``.de``/``.am``, expanded with their arguments at the call's position),
``.ig`` and ``.do``. What remains — man(7) macros and text lines — is handed to
the parser (:mod:`.roff`) by :meth:`Lexer.next_event`.

Nothing here raises on odd input: problems are appended to a list as (Origin, message).

Internally a token is a plain tuple in :class:`Token` field order (building tuples
is several times cheaper than objects, and the parser touches every token);
:func:`tokenize` returns real :class:`Token` s.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .document import Comment, Origin, new_origin
from .roffchars import DELIMITED_ESCAPES, NAME_ESCAPES, PREDEFINED_STRINGS, SIMPLE_ESCAPES, SPECIAL_CHARS
from .source import Source, SourceFile, load_text

#: Deepest nesting of macro calls and string interpolation before we give up on a line.
MAX_EXPANSION_DEPTH = 20
#: Macro lines and string interpolations one page may expand in all: nesting alone does
#: not stop a macro that calls itself twice (2**20 lines), this does. Real pages expand
#: a few hundred at most.
MAX_EXPANSIONS = 20_000

#: Tokens in one numeric expression (real pages use a handful); evaluation recurses per
#: parenthesis and sign, so this also bounds the recursion.
MAX_EXPR_TOKENS = 200
#: Longest problem message kept.
MAX_PROBLEM = 200
#: groff's registers are C ints; results outside are a numeric overflow.
REGISTER_MIN, REGISTER_MAX = -(1 << 31), (1 << 31) - 1

#: Number registers a formatter defines; we answer as groff 1.23 in nroff mode would.
BUILTIN_REGISTERS = {".g": 1, ".x": 1, ".y": 23, ".H": 24, ".V": 40, ".T": 0, ".A": 1, ".C": 0,
                     ".j": 1, ".u": 1, ".l": 1872, ".i": 0, ".v": 40, ".s": 10, ".f": 1}

_FONT_NAMES = {"1": "R", "2": "I", "3": "B", "4": "BI", "R": "R", "I": "I", "B": "B",
               "BI": "BI", "IB": "BI", "CW": "CW", "CR": "CW", "C": "CW", "CB": "CB",
               "CI": "CI", "CBI": "CBI", "BR": "B", "IR": "I", "RB": "B", "RI": "I"}
_NAMED = frozenset("fns*$") | NAME_ESCAPES
_ARG_RE = re.compile(r'[ \t]*(?:"((?:[^"]|"")*)"?|((?:\\.|[^ \t\\])+|\\))')
_NAME_RE = re.compile(r"[ \t]*([^ \t\\]*)")
_MACRO_ARG_RE = re.compile(r"\\\$(?:(\d)|\((\d\d)|\[(\d+)\]|([*@]))")
_DS_RE = re.compile(r"[ \t]*(\S+)[ \t]?")
_WORD_RE = re.compile(r"[ \t]+(\S+)")
_EXPR_RE = re.compile(r"(?:(?!\\\{)[^ \t])*")
_REGISTER_RE = re.compile(r"\\n(?:\[([^\]]*)\]|\((..)|(.))")
_WIDTH_RE = re.compile(r"\\w'[^']*'")
_EXPR_TOKEN_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+|[-+*/%()]|<=|>=|==|<>|[<>=&:]|[a-zA-Z])")

#: Requests of the roff language itself, handled here rather than by the man(7) parser.
ROFF_REQUESTS = frozenset("ds ds1 as as1 rm nr rr de de1 am am1 ig if ie el do nop so cc c2 ec eo dei ami".split())


class Token(NamedTuple):
    """One lexical item: a run of literal text, or one escape.

    ``kind`` is "text" (``text`` and ``raw`` are the same characters), "escape"
    (``raw`` is the escape as written, ``text`` what it stands for, maybe nothing),
    "font" (a font change; ``font`` is the new font), "request" (``text`` is the
    request name) or "comment" (``text`` follows the comment mark). ``line`` and
    ``col`` are 1-based and point at the first character of ``raw``; ``font`` is the
    font the text is set in.
    """

    kind: str
    text: str
    raw: str
    line: int
    col: int
    font: str


class Logical:
    """A logical input line: physical lines joined at escaped newlines.

    ``pos`` maps an offset in ``text`` back to a source (line, column) through
    ``segs`` (offset, line, column at that offset) when physical lines were joined.
    Lines made by a macro expansion are ``fixed``: all of their text is placed at
    the macro call, the only place in the page it can be pinned to.
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
        if self.segs is None:
            if self.fixed:
                return self.line, self.col
            return self.line, self.col + offset
        for start, line, col in reversed(self.segs):
            if offset >= start:
                return line, col + offset - start
        return self.line, self.col + offset

    def origin(self, offset: int) -> Origin:
        line, col = self.pos(offset)
        return new_origin(self.file.path, line, col, self.file.via)

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


def find_comment(text: str) -> int:
    """Offset of the ``\\"`` (or ``\\#``) starting a comment, or -1; escapes pair left to right."""
    if '\\"' not in text and "\\#" not in text:
        return -1
    i = text.find("\\")
    while i >= 0:
        if i + 1 < len(text) and text[i + 1] in '"#':
            return i
        i = text.find("\\", i + 2)
    return -1


def _continues(text: str) -> bool:
    """True when the line ends with an escaped newline (an odd run of backslashes, no comment)."""
    run = len(text) - len(text.rstrip("\\"))
    return run % 2 == 1 and find_comment(text) < 0


def special_char(name: str) -> str | None:
    """The character a special-character name stands for (``em``, ``u00E9``, ``char65``), or None."""
    value = SPECIAL_CHARS.get(name)
    if value is not None:
        return value
    if name.startswith("u") and len(name) >= 5:
        try:
            return "".join(chr(int(part.lstrip("u"), 16)) for part in name.split("_"))
        except (ValueError, OverflowError):
            return None
    digits = name[4:]
    if name.startswith("char") and digits.isascii() and digits.isdigit() and len(digits) <= 7:
        return chr(int(digits) % 0x110000)
    if len(name) == 1:
        return name
    return None


def split_args(text: str, start: int, end: int) -> list[tuple[int, int, bool]]:
    """Macro arguments of text[start:end] as (start, end, quoted) offsets of their contents."""
    out = []
    pos = start
    match = _ARG_RE.match
    while pos < end:
        m = match(text, pos, end)
        if m is None or m.end() == pos:
            break
        if m.group(2) is not None:
            out.append((m.start(2), m.end(2), False))
        elif m.group(1) is not None:
            out.append((m.start(1), m.end(1), True))
        pos = m.end()
    return out


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


class Lexer:
    """Reads a :class:`Source` and hands man(7)-level lines to the parser; see :meth:`next_event`."""

    def __init__(self, source: Source, problems: list, comments: list):
        self.parts = source.parts
        self.part = -1  # index in parts of the lines being read
        self.lines: list[str] = []
        self.file: SourceFile | None = None
        self.first = 1  # line number of lines[0]
        self.index = 0  # next line to read in lines
        self.pending: list[Logical] = []  # lines from macro expansions and conditionals, next one last
        self.problems = problems
        self.comments = comments
        self.strings = dict(PREDEFINED_STRINGS)
        self.registers = dict(BUILTIN_REGISTERS)
        self.macros: dict[str, list[str]] = {}
        self.ie_stack: list[bool] = []
        self.prev_font = "R"
        self.expansions = MAX_EXPANSIONS  # left for this page
        self.too_deep: set[str] = set()  # macros and strings already reported as nested too deep
        self.known_macros: frozenset = frozenset()  # the parser's macros, for the condition "d name"

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

    def problem(self, L: Logical, offset: int, message: str) -> None:
        if len(message) > MAX_PROBLEM:  # names quoted in it come from the page, and may be huge
            message = message[:MAX_PROBLEM] + "..."
        self.problems.append((L.origin(offset), message))

    def next_event(self) -> tuple | None:
        """The next man(7)-level line as (Logical, name, start, name_end, end), or None at the end.

        `name` is the request or macro name, or None for a text line; the name is
        L.text[start:name_end] and the arguments lie in L.text[name_end:end] (`end`
        stops before any comment). Comments, roff requests, conditionals and macro
        calls are dealt with on the way.
        """
        next_line = self.next_line
        while True:
            L = next_line()
            if L is None:
                return None
            text = L.text
            end = len(text)
            if "\\" in text and ('\\"' in text or "\\#" in text):
                comment = find_comment(text)
                if comment >= 0:
                    end = comment
                    before = text[:end].strip(" \t")
                    if not L.depth:  # a macro's comments belong to its definition, not to each call
                        at = 0 if before in (".", "'") else end
                        self.comments.append(Comment(text[end + 2:], L.origin(at)))
                    if not before or before in (".", "'"):
                        continue  # a line that is only a comment produces nothing
            first = text[:1]
            if first != "." and first != "'":
                return L, None, 0, 0, end
            m = _NAME_RE.match(text, 1, end)
            start, name_end = m.start(1), m.end(1)
            name = text[start:name_end]
            while name == "do":
                m = _NAME_RE.match(text, name_end, end)
                start, name_end = m.start(1), m.end(1)
                name = text[start:name_end]
            if not name:
                continue  # "." alone, or ".\}" ending a conditional block that was taken
            if name in self.macros:
                self.expand_macro(L, name, name_end, end)
            elif name in ROFF_REQUESTS:
                if name == "nop":
                    rest = name_end + 1 if text[name_end:name_end + 1] in (" ", "\t") else name_end
                    return L, None, rest, rest, end
                self.roff_request(L, name, start, name_end, end)
            else:
                return L, name, start, name_end, end

    # ------------------------------------------------------------ roff requests

    def roff_request(self, L: Logical, name: str, start: int, name_end: int, end: int) -> None:
        text = L.text
        if name in ("if", "ie", "el"):
            self.conditional(L, name, name_end, end)
        elif name in ("ds", "ds1", "as", "as1"):
            m = _DS_RE.match(text, name_end, end)
            if m is None:
                self.problem(L, start, f".{name} without a name")
                return
            value = text[m.end():end]
            if value.startswith('"'):
                value = value[1:]
            key = m.group(1)
            self.strings[key] = (self.strings.get(key, "") if name.startswith("as") else "") + value
        elif name in ("rm", "rr"):
            table = self.registers if name == "rr" else self.strings
            for a, b, _ in split_args(text, name_end, end):
                table.pop(text[a:b], None)
                if name == "rm":
                    self.macros.pop(text[a:b], None)
        elif name == "nr":
            args = split_args(text, name_end, end)
            if len(args) < 2:
                return
            key = text[args[0][0]:args[0][1]]
            expr = text[args[1][0]:args[1][1]]
            value = self.evaluate(expr)
            if value is None:
                self.problem(L, args[1][0], f"cannot evaluate: {expr}")
                return
            if expr[:1] in "+-" and key in self.registers:
                value += self.registers[key]
            if not REGISTER_MIN <= value <= REGISTER_MAX:
                self.problem(L, args[1][0], f"numeric overflow: {expr[:40]}")
                return
            self.registers[key] = value
        elif name in ("de", "de1", "am", "am1", "ig"):
            words = [text[a:b] for a, b, _ in split_args(text, name_end, end)]
            if name == "ig":
                self.block(L, words[0] if words else ".")
                return
            body = self.block(L, words[1] if len(words) > 1 else ".")
            if not words:
                self.problem(L, start, f".{name} without a name")
            elif name.startswith("am"):
                self.macros.setdefault(words[0], []).extend(body)
            else:
                self.macros[words[0]] = body
        elif name == "so":  # source.py follows .so lines; one met here came from a macro or conditional
            self.problem(L, start, ".so inside a macro or conditional is not followed")
        else:  # cc c2 ec eo dei ami: they change how the rest of the page reads
            self.problem(L, start, f"unsupported request: .{name}")

    def block(self, L: Logical, terminator: str) -> list[str]:
        """Lines up to the one that is just ``.terminator``, uninterpreted (roff's copy mode)."""
        body = []
        while True:
            nxt = self.next_line()
            if nxt is None:
                self.problem(L, 0, f"no .{terminator} before the end of the page")
                return body
            text = nxt.text
            if text[:1] in (".", "'"):
                word = text[1:].strip(" \t").split(" ")[0].split("\t")[0]
                if word == terminator or (terminator == "." and word.startswith('.\\"')):
                    return body
            body.append(text)

    def spend(self, L: Logical, offset: int, count: int) -> bool:
        """Take `count` expansions from the page's allowance; False (noted once) when it is spent."""
        if self.expansions >= count:
            self.expansions -= count
            return True
        if self.expansions >= 0:
            self.problem(L, offset, f"more than {MAX_EXPANSIONS} macro lines and strings expanded; no more are")
            self.expansions = -1
        return False

    def expand_macro(self, L: Logical, name: str, name_end: int, end: int) -> None:
        if L.depth >= MAX_EXPANSION_DEPTH:
            if name not in self.too_deep:
                self.too_deep.add(name)
                self.problem(L, 0, f"macro nested too deep: .{name}")
            return
        if not self.spend(L, 0, len(self.macros[name]) or 1):
            return
        args = [L.text[a:b].replace('""', '"') if q else L.text[a:b]
                for a, b, q in split_args(L.text, name_end, end)]
        line, col = L.pos(0)

        def argument(m: re.Match) -> str:
            number = m.group(1) or m.group(2) or m.group(3)
            if number is None:
                return " ".join(args) if m.group(4) == "*" else " ".join(f'"{a}"' for a in args)
            if len(number) > 9:  # no macro has that many arguments
                return ""
            n = int(number)
            if n == 0:
                return name
            return args[n - 1] if n <= len(args) else ""

        lines = []
        for raw in self.macros[name]:
            text = raw.replace("\\\\", "\\")  # copy mode stored \\ for one backslash
            if "\\$" in text:
                text = _MACRO_ARG_RE.sub(argument, text)
            lines.append(Logical(text, L.file, line, col, None, True, L.depth + 1))
        self.registers[".$"] = len(args)
        self.pending.extend(reversed(lines))

    def text_of(self, L: Logical, start: int, end: int, quoted: bool = False) -> str:
        """The plain text of L.text[start:end] (escapes interpreted, fonts dropped)."""
        return "".join(t[1] for t in self.tokens(L, start, end, "R", quoted)[0])

    # ---------------------------------------------------------------- conditionals

    def conditional(self, L: Logical, name: str, name_end: int, end: int) -> None:
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
                depth = _brace_balance(text[body:end])
                while depth > 0:
                    nxt = self.next_line()
                    if nxt is None:
                        return
                    comment = find_comment(nxt.text)
                    depth += _brace_balance(nxt.text if comment < 0 else nxt.text[:comment])
            return
        if opens:
            body += 2
            while body < end and text[body] in " \t":
                body += 1
        if body < end and text[body:end] != "\\":
            self.pending.append(L.part(body, end))

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
                result = key in self.strings or key in self.macros or key in self.known_macros
            elif c == "r":
                result = key in self.registers
            else:  # glyphs exist; colours, fonts and styles are not ours to know
                result = c == "c"
            return result != negate, m.end()
        if c and not (c.isdigit() or c in "(\\+-|."):
            close = text.find(c, i + 1, end)
            close2 = text.find(c, close + 1, end) if close >= 0 else -1
            if close2 < 0:
                self.problem(L, i, "cannot evaluate condition")
                return False, end
            left = self.text_of(L, i + 1, close)
            right = self.text_of(L, close + 1, close2)
            return (left == right) != negate, close2 + 1
        m = _EXPR_RE.match(text, i, end)
        expr = m.group(0)
        value = self.evaluate(expr)
        if value is None:
            self.problem(L, i, f"cannot evaluate condition: {expr}")
            return False, m.end()
        return (value > 0) != negate, m.end()

    def evaluate(self, expr: str) -> int | None:
        """A roff numeric expression: left to right, parentheses group, scaling units ignored."""
        registers = self.registers
        expr = _REGISTER_RE.sub(lambda m: str(registers.get(m.group(1) or m.group(2) or m.group(3), 0)), expr)
        return _evaluate(_WIDTH_RE.sub("0", expr))

    # ---------------------------------------------------------------------- escapes

    def tokens(self, L: Logical, start: int, end: int, font: str, quoted: bool = False,
               depth: int = 0) -> tuple[list, str]:
        """Tokens (tuples in Token order) of L.text[start:end] set from `font`, and the font after."""
        text = L.text
        if start >= end:
            return [], font
        if L.segs is None and text.find("\\", start, end) < 0 and not (quoted and '""' in text[start:end]):
            piece = text[start:end]
            return [("text", piece, piece, L.line, L.col if L.fixed else L.col + start, font)], font
        out: list = []
        i = start
        while i < end:
            j = text.find("\\", i, end)
            q = text.find('""', i, end) if quoted else -1
            if q >= 0 and (j < 0 or q < j):
                if q > i:
                    self._text(L, i, q, font, out)
                line, col = L.pos(q)
                out.append(("escape", '"', '""', line, col, font))
                i = q + 2
                continue
            if j < 0:
                self._text(L, i, end, font, out)
                break
            if j > i:
                self._text(L, i, j, font, out)
            i, font = self._escape(L, j, end, font, out, depth)
        return out, font

    @staticmethod
    def _text(L: Logical, i: int, j: int, font: str, out: list) -> None:
        """A run of literal text, split where joined physical lines meet."""
        text = L.text
        if L.segs is not None:
            for start, _, _ in L.segs:
                if i < start < j:
                    line, col = L.pos(i)
                    out.append(("text", text[i:start], text[i:start], line, col, font))
                    i = start
        line, col = L.pos(i)
        out.append(("text", text[i:j], text[i:j], line, col, font))

    def _escape(self, L: Logical, j: int, end: int, font: str, out: list, depth: int) -> tuple[int, str]:
        """Interpret the escape at L.text[j]; append its token(s); return (next offset, font)."""
        text = L.text
        line, col = L.pos(j)
        if j + 1 >= end:
            out.append(("escape", "", "\\", line, col, font))
            return end, font
        c = text[j + 1]
        k = j + 2
        if c == "f" and k < end and text[k] not in "([":  # \fB, \fI, \fR, \fP: the most common escapes
            name = text[k]
            new = self.prev_font if name == "P" else _FONT_NAMES.get(name)
            if new is not None:
                self.prev_font = font
                out.append(("font", "", text[j:k + 1], line, col, new))
                return k + 1, new
        simple = SIMPLE_ESCAPES.get(c)
        if simple is not None:
            out.append(("escape", simple, text[j:k], line, col, font))
            return k, font
        if c == "(":
            k = min(k + 2, end)
            self._special(L, j, k, text[j + 2:k], line, col, font, out)
            return k, font
        if c == "[":
            close = text.find("]", k, end)
            if close < 0:
                self.problems.append((L.origin(j), "unterminated escape: \\["))
                return end, font
            self._special(L, j, close + 1, text[k:close].split(" ")[0], line, col, font, out)
            return close + 1, font
        if c in _NAMED:
            return self._named_escape(L, j, end, c, line, col, font, out, depth)
        if c in DELIMITED_ESCAPES:
            return self._delimited_escape(L, j, end, c, line, col, font, out, depth)
        if c in "\"#":  # a comment met inside a string's value: the rest is dropped
            return end, font
        self.problems.append((L.origin(j), f"unknown escape: \\{c}"))
        out.append(("escape", c, text[j:k], line, col, font))
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
            out.append(("font", "", raw, line, col, new))
            return k, new
        if c == "*":
            self._string(L, j, raw, name, line, col, font, out, depth)
        elif c == "n":
            out.append(("escape", str(self.registers.get(name, 0)), raw, line, col, font))
        else:  # \s, \Y, \k, \g, \$ (outside a macro) ...: they print nothing
            out.append(("escape", "", raw, line, col, font))
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
        value = DELIMITED_ESCAPES[c]
        if c == "C":
            self._special(L, j, close + 1, text[k + 1:close], line, col, font, out)
        elif value is None:  # \o and \Z print their argument
            out.append(("escape", "", text[j:k + 1], line, col, font))
            out.extend(self.tokens(L, k + 1, close, font, depth=depth)[0])
        else:
            out.append(("escape", value, text[j:close + 1], line, col, font))
        return close + 1, font

    def _special(self, L, j, k, name, line, col, font, out) -> None:
        value = special_char(name)
        raw = L.text[j:k]
        if value is None:
            self.problems.append((L.origin(j), f"unknown special character: {raw}"))
            value = "\ufffd"
        out.append(("escape", value, raw, line, col, font))

    def _string(self, L, j, raw, name, line, col, font, out, depth) -> None:
        name = name.split(" ")[0]
        value = self.strings.get(name)
        if value is None:
            self.problems.append((L.origin(j), f"undefined string: {raw}"))
            value = ""
        out.append(("escape", "", raw, line, col, font))
        if not value:
            return
        if depth >= MAX_EXPANSION_DEPTH:
            if name not in self.too_deep:
                self.too_deep.add(name)
                self.problems.append((L.origin(j), f"string nested too deep: {raw}"))
            return
        if not self.spend(L, j, 1):
            return
        inner = Logical(value, L.file, line, col, None, True)
        for tok in self.tokens(inner, 0, len(value), font, depth=depth + 1)[0]:
            # a string's text is not where the page has it: mark it as coming from the escape
            out.append(("escape",) + tok[1:] if tok[0] == "text" else tok)


def _evaluate(expr: str) -> int | None:
    """A numeric expression's value, or None: unreadable, too long, or outside groff's
    integer range (groff reports a numeric overflow and ignores the request)."""
    tokens = []
    pos = 0
    while pos < len(expr):
        m = _EXPR_TOKEN_RE.match(expr, pos)
        if m is None or len(tokens) >= MAX_EXPR_TOKENS:  # the bound keeps _eval_seq's recursion shallow
            return None
        pos = m.end()
        if not m.group(1).isalpha():  # a letter is a scaling unit: the number stands
            tokens.append(m.group(1))
    if not tokens:
        return None
    try:
        value, rest = _eval_seq(tokens, 0)
    except (IndexError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return value if rest == len(tokens) and REGISTER_MIN <= value <= REGISTER_MAX else None


_OPERATORS = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: int(a / b), "%": lambda a, b: a % b,
    "<": lambda a, b: int(a < b), ">": lambda a, b: int(a > b), "<=": lambda a, b: int(a <= b),
    ">=": lambda a, b: int(a >= b), "=": lambda a, b: int(a == b), "==": lambda a, b: int(a == b),
    "<>": lambda a, b: int(a != b), "&": lambda a, b: int(a > 0 and b > 0), ":": lambda a, b: int(a > 0 or b > 0),
}


def _eval_seq(tokens: list, i: int) -> tuple[int, int]:
    """roff evaluates strictly left to right: 1+2*3 is 9."""
    value, i = _eval_term(tokens, i)
    while i < len(tokens) and tokens[i] != ")":
        operator = _OPERATORS.get(tokens[i])
        if operator is None:
            raise ValueError(tokens[i])
        right, i = _eval_term(tokens, i + 1)
        value = operator(value, right)
    return value, i


def _eval_term(tokens: list, i: int) -> tuple[int, int]:
    tok = tokens[i]
    if tok == "(":
        value, i = _eval_seq(tokens, i + 1)
        if tokens[i] != ")":
            raise ValueError("(")
        return value, i + 1
    if tok in ("+", "-"):
        value, i = _eval_term(tokens, i + 1)
        return (value if tok == "+" else -value), i
    return int(float(tok)), i + 1


def tokenize(text: str, path: str = "<string>") -> list[tuple[str, list[Token]]]:
    """The lexer's view of roff text, one entry per logical line, for rules that look below
    the document: ("request", [request token, argument tokens...]), ("text", tokens) or
    ("comment", [comment token]). Escapes are interpreted (strings expanded); conditionals
    and macro definitions are not evaluated here. Positions are 1-based."""
    lexer = Lexer(load_text(text, path), [], [])
    out: list = []
    while True:
        L = lexer.next_line()
        if L is None:
            return out
        text = L.text
        end = find_comment(text)
        comment = None
        if end >= 0:
            line, col = L.pos(end)
            comment = Token("comment", text[end + 2:], text[end:], line, col, "R")
        else:
            end = len(text)
        if text[:1] in (".", "'") and text[1:end].strip(" \t"):
            m = _NAME_RE.match(text, 1, end)
            line, col = L.pos(m.start(1))
            items = [Token("request", m.group(1), m.group(1), line, col, "R")]
            for a, b, quoted in split_args(text, m.end(1), end):
                items.extend(Token._make(t) for t in lexer.tokens(L, a, b, "R", quoted)[0])
            out.append(("request", items))
        elif end > 0 and text[:1] not in (".", "'"):
            out.append(("text", [Token._make(t) for t in lexer.tokens(L, 0, end, "R")[0]]))
        if comment is not None:
            out.append(("comment", [comment]))
