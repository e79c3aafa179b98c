"""Facts derived from a parsed page: NAME list, ERRORS entries, SYNOPSIS prototypes, since-notes.

These read the structure the parser built (sections, tagged paragraphs) and the plain
text of spans; every fact keeps the source position of the text it came from.
The forms recognised are those of the man-pages project (see man-pages(7)):

- NAME: ``a, b, c \\- summary``;
- ERRORS: ``.TP`` + errno tag (``EAGAIN``, ``EAGAIN or EWOULDBLOCK``, ``ENOSPC, EDQUOT``,
  ``EINVAL (clone3() only)``); parenthesised prefixes at the start of the body are a
  scope when they list functions (``(mlock(), mlock2(), and munlock())``) and
  qualifiers otherwise (``(Linux 2.6.9 and later)``, ``(for MADV_COLLAPSE)``);
- SYNOPSIS: C declarations ending in ``;``, one or more lines each, in no-fill text
  (or, on a page that left no-fill mode too early, in filled text);
- "(since Linux X.Y)" in a tag qualifies the names the tag line starts with; in running
  text it qualifies the flag or function named just before it on the same line, or,
  when it starts its line, the enclosing tagged paragraph's tag.
"""

from __future__ import annotations

import re

from .document import Document, ErrorEntry, Prototype, SinceNote, Span

_SINCE_RE = re.compile(r"\([Ss]ince Linux (\d+(?:\.\d+)*)")
_NAME_SPLIT_RE = re.compile(r"\s+[-\u2010\u2013\u2014]\s+")
_LEAD_NAME_RE = re.compile(r'\s*"?([A-Za-z_]\w*)(?:\(\))?"?')
_LEAD_SEP_RE = re.compile(r"\s*(?:,\s*(?:(?:or|and)\b)?|\bor\b|\band\b)")
_GROUP_RE = re.compile(r"\s*\(((?:[^()]|\(\))*)\)\s*:?")
_SCOPE_ITEM_SPLIT_RE = re.compile(r"\s*,\s*(?:(?:and|or)\s+)?|\s+(?:and|or)\s+")
_FUNCTION_RE = re.compile(r"([A-Za-z_]\w*)\(\)")
_ERRNO_RE = re.compile(r"E[A-Z0-9]{2,}")
_WORD_BEFORE_RE = re.compile(r"\b([A-Za-z_]\w*)(\(\))?[\s,]*$")
#: Words that may stand between a name and its note: "the MAP_FOO flag (since Linux 4.2)".
_GENERIC_NOUNS = frozenset("flag constant option operation value field argument call function macro "
                           "command request feature mode".split())
_PROTO_NAME_RE = re.compile(r"([A-Za-z_]\w*)\s*\((?!\s*\*)")
_SPACE_RE = re.compile(r"\s+")
_C_DECLARATION_RE = re.compile(r"(?:[A-Za-z_]\w*[\s*]+)+[A-Za-z_]\w*\s*\(")  # type words, then name(
#: Longest text taken for one C declaration; real prototypes are far shorter.
MAX_STATEMENT = 2000
_C_KEYWORDS = frozenset("if while for switch return sizeof typeof alignof _Alignof _Generic "
                        "__attribute__ __typeof__ defined".split())


def complete(doc: Document, paragraphs: list) -> None:
    """Fill names, errors, prototypes and since-notes from the parsed paragraphs.

    `paragraphs` holds (Paragraph, ranges of its body set in bold or italic, Section)
    in page order: the font tells a name ("the MAP_FOO flag") from a plain word.
    """
    doc.names = names(doc)
    for paragraph, body_named, section in paragraphs:
        if section.name == "ERRORS" and paragraph.tag is not None:
            doc.errors.extend(error_entries(paragraph))
        if section.name == "SYNOPSIS" and paragraph.tag is None:
            doc.prototypes.extend(prototypes(paragraph.body, paragraph.kind == "literal"))
        if paragraph.kind != "literal":
            doc.since.extend(since_notes(paragraph, body_named))


def names(doc: Document) -> tuple[str, ...]:
    """The names NAME lists before its dash: ``mlock, mlock2 \\- ...`` gives ("mlock", "mlock2")."""
    section = doc.section("NAME")
    if section is None:
        return ()
    text = " ".join(p.body.text for p in section.paragraphs if p.kind != "literal")
    head = _NAME_SPLIT_RE.split(text, maxsplit=1)[0]
    return tuple(name for name in (part.strip() for part in head.split(",")) if name)


def leading_names(text: str, start: int = 0) -> list[tuple[str, int]]:
    """The list of names a tag starts with (``MAP_A, MAP_B (since ...)``), with offsets."""
    out = []
    pos = start
    while True:
        m = _LEAD_NAME_RE.match(text, pos)
        if m is None:
            return out
        out.append((m.group(1), m.start(1)))
        pos = m.end()
        sep = _LEAD_SEP_RE.match(text, pos)
        if sep is None or sep.end() == pos:
            return out
        pos = sep.end()


def _classify(groups: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split parenthesised remarks into a function scope and other qualifiers."""
    scope: list[str] = []
    qualifiers: list[str] = []
    for group in groups:
        text = group.strip()
        items = [item for item in _SCOPE_ITEM_SPLIT_RE.split(text.removesuffix(" only")) if item]
        functions = [_FUNCTION_RE.fullmatch(item) for item in items]
        if items and all(functions):
            scope.extend(m.group(1) for m in functions)
        else:
            qualifiers.append(text)
    return tuple(scope), tuple(qualifiers)


def error_entries(paragraph) -> list[ErrorEntry]:
    """The ERRORS entries of one tagged paragraph: one per errno its tag names."""
    tag = paragraph.tag
    errnos = [(name, at) for name, at in leading_names(tag.text) if _ERRNO_RE.fullmatch(name)]
    if not errnos:
        return []
    groups = [m.group(1) for m in _GROUP_RE.finditer(tag.text, errnos[-1][1] + len(errnos[-1][0]))]
    body = paragraph.body.text
    pos = 0
    while True:
        m = _GROUP_RE.match(body, pos)
        if m is None:
            break
        groups.append(m.group(1))
        pos = m.end()
    scope, qualifiers = _classify(groups)
    return [ErrorEntry(name, paragraph.body, tag.origin_at(at), scope, qualifiers) for name, at in errnos]


def prototypes(body: Span, literal: bool = True) -> list[Prototype]:
    """Function prototypes in a SYNOPSIS paragraph: statements ending in ``;``.

    man-pages sets them in no-fill mode, one declaration per line or continued on
    the next; preprocessor lines, blank lines and comments before a statement are
    skipped (remarks such as "documented separately" go there), comments inside a
    statement are kept as part of its text. A filled paragraph (a page that closed
    no-fill mode too early) is cut at semicolons, and only what reads as a plain
    declaration (type words, a name, its parameters, ``);``) is taken, so that prose
    is not mistaken for C.
    """
    if not literal:
        out = []
        offset = 0
        for piece in body.text.split(";")[:-1]:
            statement = piece.lstrip()
            start = offset + len(piece) - len(statement)
            offset += len(piece) + 1
            if statement.endswith(")") and len(statement) < MAX_STATEMENT and _C_DECLARATION_RE.match(statement):
                prototype = _prototype(statement + ";", body, start)
                if prototype is not None:
                    out.append(prototype)
        return out
    out = []
    text = body.text
    parts: list[str] = []
    start = 0
    braces = 0
    offset = 0
    in_comment = False
    for line in text.split("\n"):
        here, offset = offset, offset + len(line) + 1
        if not parts:
            if in_comment:
                close = line.find("*/")
                if close < 0:
                    continue
                in_comment = False
                here, line = here + close + 2, line[close + 2:]
            while line.lstrip().startswith("/*"):
                opening = here + len(line) - len(line.lstrip())
                close = line.find("*/", opening - here + 2)
                if close < 0:
                    in_comment = True
                    line = ""
                    break
                here, line = here + close + 2, line[close + 2:]
        stripped = line.strip()
        if not stripped or (not parts and stripped.startswith("#")):
            parts = []
            continue
        if not parts:
            start = here + len(line) - len(line.lstrip())
        parts.append(stripped)
        braces += stripped.count("{") - stripped.count("}")
        if stripped.endswith(";"):
            statement = " ".join(parts)
            parts = []
            if braces == 0 and "{" not in statement:
                prototype = _prototype(statement, body, start)
                if prototype is not None:
                    out.append(prototype)
    return out


def _prototype(statement: str, body: Span, start: int) -> Prototype | None:
    if statement.startswith(("typedef ", "#")):
        return None
    text = _SPACE_RE.sub(" ", statement)
    text = text.replace("( ", "(").replace(" )", ")").replace(" ,", ",").replace(" ;", ";")
    for m in _PROTO_NAME_RE.finditer(text):
        if m.group(1) not in _C_KEYWORDS:
            return Prototype(m.group(1), text, body.origin_at(start), body, start)
    return None


def since_notes(paragraph, body_named: list) -> list[SinceNote]:
    """The "(since Linux X.Y)" notes of a paragraph, tag first, each with its subject."""
    out = []
    tag = paragraph.tag
    if tag is not None and "ince Linux" in tag.text:
        for m in _SINCE_RE.finditer(tag.text):
            line_start = tag.text.rfind("\n", 0, m.start()) + 1
            origin = tag.origin_at(m.start())
            for name, _ in leading_names(tag.text[:m.start()], line_start):
                out.append(SinceNote(name, m.group(1), origin))
    body = paragraph.body
    if "since Linux" not in body.text and "Since Linux" not in body.text:
        return out
    enclosing = tag if tag is not None else (paragraph.item.tag if paragraph.item is not None else None)
    tag_names = [name for name, _ in leading_names(enclosing.text.split("\n", 1)[0])] if enclosing else []
    for m in _SINCE_RE.finditer(body.text):
        origin = body.origin_at(m.start())
        if tag_names and _only_groups(body.text, m.start()):
            subjects = tag_names  # the note opens the item's text, maybe after its scope "(f())"
        else:
            subjects = _named_before(body, m.start(), origin, body_named)
            if not subjects and _starts_line(body, m.start(), origin):
                subjects = tag_names
        out.extend(SinceNote(subject, m.group(1), origin) for subject in subjects)
    return out


def _only_groups(text: str, end: int) -> bool:
    """True when text[:end] is nothing but parenthesised remarks (or nothing at all)."""
    pos = 0
    while True:
        m = _GROUP_RE.match(text, pos, end)
        if m is None or m.end() == pos:
            return not text[pos:end].strip()
        pos = m.end()


def _named_before(body: Span, offset: int, origin, named: list) -> list[str]:
    """The flag or function named just before `offset`: on the same source line, or on
    the line before when it is set in bold or italic (``.B MAP_FOO`` then ``flag (since ...``)."""
    m = _WORD_BEFORE_RE.search(body.text, max(0, offset - 80), offset)
    if m is not None and m.group(1) in _GENERIC_NOUNS and m.group(2) is None:
        m = _WORD_BEFORE_RE.search(body.text, max(0, m.start() - 80), m.start())
    if m is None:
        return []
    word, call = m.group(1), m.group(2)
    where = body.origin_at(m.start(1))
    in_font = any(a < m.end(1) and m.start(1) < b for a, b in named)
    if where.path != origin.path or not (where.line == origin.line or (in_font and where.line == origin.line - 1)):
        return []
    if in_font or call or "_" in word:
        return [word]
    return []


def _starts_line(body: Span, offset: int, origin) -> bool:
    """True when nothing precedes `offset` on its source line (or in the paragraph)."""
    before = body.text[:offset].rstrip()
    if not before:
        return True
    where = body.origin_at(len(before) - 1)
    return (where.path, where.line) != (origin.path, origin.line)
