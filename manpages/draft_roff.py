"""Spec prose to man(7) source in the man-pages house style.

The spec's texts are plain sentences. A page wants them with semantic newlines
(man-pages(7): each sentence on a line of its own, long ones broken at clause
boundaries) and with the fonts man-pages uses: constants and function names in
bold (``.BR mmap (2)`` for a function of another page, ``.BR mlock ()`` for one of
this page), arguments, paths and C expressions in italic. Fonts are set with the
alternating-font macros (``.BR``, ``.RI``, ...), one styled word per macro line,
never with inline ``\\f`` escapes unless a word mixes three fonts.

:class:`Vocabulary` says which words get which font on one page; :func:`paragraph`
turns a text into source lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Width past which a sentence is broken at its next clause boundary.
LINE_WIDTH = 72
#: No text line is longer (mandoc -Tlint: "input text line longer than 80 bytes").
MAX_LINE = 80
#: Words a long clause may be broken before (man-pages(7): break at clause boundaries).
_CONJUNCTIONS = frozenset("and or but which that when where while unless so because if than then with without "
                          "before after until as from for".split())
#: Abbreviations whose period does not end a sentence.
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "cf.", "vs.")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+")
#: A call with arguments, "mlockall(MCL_FUTURE | MCL_ONFAULT)": one italic unit, spaces included.
_CALL_EXPR_RE = re.compile(r"\b[A-Za-z_]\w*\([^()]+\)")
_PIECE_RE = re.compile(
    r"(?P<call>[A-Za-z_]\w*\(\))"  # name()
    r"|(?P<expr>[A-Za-z_]\w*\([^()]+\))"  # name(args)
    r"|(?P<path>/(?:[a-z0-9_.-]+/)*[a-z0-9_-]*[a-z0-9_])"  # /proc/self/status
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"  # MAP_LOCKED, vm.max_map_count
)
_CONSTANT_RE = re.compile(r"[A-Z][A-Z0-9]*_[A-Z0-9_]*")  # MAP_LOCKED, and a prefix: MAP_
#: locked_vm, vm.max_map_count; not x86_64 or e.g.
_SNAKE_RE = re.compile(r"[a-z][a-z]*[0-9]*(?:_[a-z][a-z0-9]*)+|[a-z]{2,}\.[a-z_][a-z_.]*")
_CAMEL_RE = re.compile(r"[A-Z][a-z]+[A-Z][a-z]+")  # VmLck, VmFlags
#: Words before which an argument's name is an ordinary word: "unknown flags", "default mapping flags".
_MODIFIERS = frozenset("the unknown other default both lock mapping these those its their new any some all no "
                       "valid more two".split())
_MINUS_RE = re.compile(r"(?<![\w)])-(?=\d)")


@dataclass
class Vocabulary:
    """The fonts of one page's words.

    ``functions`` maps a function name to what follows it in bold-roman pairs:
    ``"()"`` for a call of this page, ``"(2)"`` for a page elsewhere. ``italic`` are
    argument names (``rename`` maps a spec argument name to the prototype's
    parameter name, so prose and SYNOPSIS agree); ``bold`` are names that are not
    spelled like constants but are (errno and signal names).
    """

    functions: dict = field(default_factory=dict)
    italic: set = field(default_factory=set)
    bold: set = field(default_factory=set)
    rename: dict = field(default_factory=dict)
    #: Functions of other pages the text referred to, ``(name, section)``: for SEE ALSO.
    cited: set = field(default_factory=set)

    def function(self, name: str) -> str:
        """What follows a function name: ``()`` on its own page, else its section."""
        suffix = self.functions.get(name, "(2)")
        if suffix != "()":
            self.cited.add((name, suffix.strip("()")))
        return suffix

    def font(self, word: str, previous: str = "") -> tuple[str, str]:
        """(text, font) of an identifier; `previous` is the word before it."""
        argument = word in self.rename or word in self.italic
        if argument and previous.lower() in _MODIFIERS:
            return word, "R"
        if word in self.rename:
            return self.rename[word], "I"
        if word in self.italic:
            return word, "I"
        if word in self.bold or _CONSTANT_RE.fullmatch(word):
            return word, "B"
        if _SNAKE_RE.fullmatch(word) or _CAMEL_RE.fullmatch(word):
            return word, "I"
        return word, "R"


# -- escaping -----------------------------------------------------------------------------

def escape(text: str) -> str:
    """Plain text as roff text: backslashes, minus signs, dashes and quotes made safe."""
    text = text.replace("\\", "\\e")
    text = _MINUS_RE.sub(r"\\-", text)
    return (text.replace("\u2014", "\\[em]").replace("\u2013", "\\[en]")
            .replace("\u2018", "'").replace("\u2019", "'").replace("\u201c", "\\[lq]").replace("\u201d", "\\[rq]"))


def text_line(text: str) -> str:
    """A text line: one that roff could take for a request is protected with ``\\&``, and one
    that ends in an abbreviation gets ``\\&`` so that the period does not end a sentence."""
    text = escape(text)
    if text[:1] in (".", "'"):
        text = "\\&" + text
    if text.endswith(_ABBREVIATIONS):
        text += "\\&"
    return text


def macro_argument(text: str) -> str:
    text = escape(text).replace('"', "\\[dq]")
    return f'"{text}"' if (" " in text or not text) else text


# -- styled words -------------------------------------------------------------------------

_SOURCE_REF_RE = re.compile(r"([\w.-]+(?:/[\w.-]+)+\.[ch](?::\w+)?)([.,;:)]*)")


def pieces(word: str, vocabulary: Vocabulary, previous: str = "") -> list[tuple[str, str]]:
    """A whitespace-free word (or one call expression) as (text, font) pieces, merged by font;
    `previous` is the word before it."""
    out: list[list[str]] = []

    def add(text: str, font: str) -> None:
        if out and out[-1][1] == font:
            out[-1][0] += text
        else:
            out.append([text, font])

    source = _SOURCE_REF_RE.fullmatch(word)
    if source:  # a kernel source reference (mm/mmap.c:brk) reads as one file name
        return [(source.group(1), "I")] + ([(source.group(2), "R")] if source.group(2) else [])
    pos = 0
    for m in _PIECE_RE.finditer(word):
        if m.start() > pos:
            add(word[pos:m.start()], "R")
        pos = m.end()
        if m.group("call"):
            name = m.group("call")[:-2]
            add(name, "B")
            add(vocabulary.function(name), "R")
        elif m.group("expr"):
            add(m.group("expr"), "I")
        elif m.group("path"):
            add(m.group("path"), "I")
        else:
            name = m.group("word")
            if name in vocabulary.functions:
                add(name, "B")
                add(vocabulary.function(name), "R")
            else:
                add(*vocabulary.font(name, previous if m.start() == 0 else ""))
    if pos < len(word):
        add(word[pos:], "R")
    return [(text, font) for text, font in out]


def styled_line(parts: list[tuple[str, str]]) -> str:
    """One macro line setting `parts` in their fonts: ``.B X``, ``.BR X ,`` or, when a word
    mixes three fonts, a text line with font escapes."""
    fonts = [font for _, font in parts]
    if len(parts) == 1:
        return f".{fonts[0]} {macro_argument(parts[0][0])}"
    if len(set(fonts)) == 2:
        return f".{fonts[0]}{fonts[1]} " + " ".join(macro_argument(text) for text, _ in parts)
    return "".join(f"\\f{font}{escape(text)}" for text, font in parts) + "\\fR"


def _words(sentence: str) -> list[str]:
    """Whitespace-separated words, a call expression with spaces in it kept whole."""
    protected = _CALL_EXPR_RE.sub(lambda m: m.group(0).replace(" ", "\0"), sentence)
    return [word.replace("\0", " ") for word in protected.split()]


def styled(sentence: str, vocabulary: Vocabulary) -> list[str]:
    """A sentence (or clause) as source lines: runs of plain words, and one macro line per
    styled word."""
    lines: list[str] = []
    plain: list[str] = []
    previous = ""
    for word in _words(sentence):
        parts = pieces(word, vocabulary, previous)
        previous = word
        if all(font == "R" for _, font in parts):
            plain.append(word)
            continue
        if plain:
            lines.extend(text_line(" ".join(run)) for run in fit(plain))
            plain = []
        lines.append(styled_line(parts) if len(parts) > 1 or parts[0][1] != "R" else text_line(word))
    if plain:
        lines.extend(text_line(" ".join(run)) for run in fit(plain))
    return lines


def fit(words: list[str]) -> list[list[str]]:
    """Plain words as lines of at most MAX_LINE bytes (escapes counted), each broken at
    the last clause boundary that fits: after a comma, or before a conjunction."""
    def width(run: list[str]) -> int:
        return len(text_line(" ".join(run)))

    out: list[list[str]] = []
    rest = list(words)
    while rest and width(rest) > MAX_LINE:
        fits = 1
        while fits < len(rest) and width(rest[:fits + 1]) <= MAX_LINE:
            fits += 1
        cut = fits
        for i in range(fits, 0, -1):
            if i < len(rest) and (rest[i - 1].endswith((",", ";", ":")) or rest[i] in _CONJUNCTIONS) \
                    and width(rest[:i]) >= MAX_LINE // 3:
                cut = i
                break
        out.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        out.append(rest)
    return out


# -- sentences ----------------------------------------------------------------------------

def sentences(text: str) -> list[str]:
    """The sentences of a text, abbreviations kept inside theirs."""
    out: list[str] = []
    for part in _SENTENCE_END_RE.split(" ".join(text.split())):
        if out and out[-1].endswith(_ABBREVIATIONS):
            out[-1] += " " + part
        elif part:
            out.append(part)
    return out


def clauses(sentence: str) -> list[str]:
    """A sentence broken after semicolons and colons, and after commas once it runs long
    (man-pages(7): "start a new line at clause breaks")."""
    out: list[str] = []
    current = ""
    for token in re.split(r"(?<=[;:,])\s+", sentence):
        if current and (current.endswith((";", ":")) or (current.endswith(",") and len(current) > LINE_WIDTH // 2
                                                          and len(current) + len(token) > LINE_WIDTH)):
            out.append(current)
            current = token
        else:
            current = f"{current} {token}" if current else token
    if current:
        out.append(current)
    return out


def paragraph(text: str, vocabulary: Vocabulary) -> list[str]:
    """A spec text as source lines with semantic newlines."""
    lines: list[str] = []
    for sentence in sentences(text):
        for clause in clauses(sentence):
            lines.extend(styled(clause, vocabulary))
    return lines


def capitalized(text: str) -> str:
    """A brief ("lock pages as ...") as a sentence; identifiers keep their case."""
    text = text.strip()
    first = text.split(" ", 1)[0]
    if first.islower() and "_" not in first and "(" not in first:
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def uncapitalized(text: str) -> str:
    """A sentence to follow a lead-in ("Since Linux 4.9, the ..."): a capitalised common
    word loses its capital, an identifier keeps it."""
    first = text.split(" ", 1)[0]
    if first.isalpha() and first[0].isupper() and (len(first) == 1 or first[1:].islower()):
        return text[0].lower() + text[1:]
    return text


def listing(items: list[str], conjunction: str = "and") -> str:
    """'a and b', 'a, b, and c' (the serial comma, as man-pages writes lists)."""
    if len(items) <= 2:
        return f" {conjunction} ".join(items)
    return ", ".join(items[:-1]) + f", {conjunction} " + items[-1]
