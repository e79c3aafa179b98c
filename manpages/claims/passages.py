"""The prose of a page, cut into passages that know what they are about.

A passage is one paragraph of running text with its *topics*: the names it is about.
They come from its tag (``.TP`` + ``.B MAP_LOCKED``) or the tag of the list item it
continues, the names it mentions (flags, errnos, signals, ``func()``), the syscall a
flag belongs to (MAP_LOCKED is about mmap), the errno of the ERRORS entry it belongs to
(bullet items under ``EINVAL`` too), and, when none of that names a function, the
functions of its subsection or of the page. A *block* is a tagged paragraph with the
paragraphs that continue its item, or a paragraph on its own: a claim may be qualified
anywhere in its block.

Literal text (``.nf``/``.EX`` code, tables), NAME, SYNOPSIS, EXAMPLES and SEE ALSO are
not prose about behaviour and are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mmsem.manpages.claims.text import Scope, Sentence, scope, sentences
from mmsem.manpages.document import Document, Origin, Paragraph

SKIPPED_SECTIONS = frozenset({"NAME", "SYNOPSIS", "EXAMPLES", "EXAMPLE", "SEE ALSO", "COLOPHON", "LIBRARY"})
_CONSTANT = re.compile(r"\b(?:(?:MAP|MCL|MLOCK|MADV|MREMAP|PROT|MS|VM|POSIX_MADV|RLIMIT)_[A-Z0-9_]+|"
                       r"SIG[A-Z]{2,}|E[A-Z][A-Z0-9]{2,})\b")
_FUNCTION = re.compile(r"\b([a-z_][a-z0-9_]*)\((?:\d[a-z]*)?\)")
_ERRNO = re.compile(r"^E[A-Z0-9]{3,}$")


def names_in(text: str, known_errnos) -> set[str]:
    """Flags, signals, errnos and functions that `text` names."""
    out = {m.group(1) for m in _FUNCTION.finditer(text)}
    for match in _CONSTANT.finditer(text):
        name = match.group(0)
        if _ERRNO.match(name) and name not in known_errnos:
            continue  # "EXAMPLES", "EOF": words in capitals, not errnos
        out.add(name)
    return out


@dataclass
class Passage:
    paragraph: Paragraph
    section: str
    topics: frozenset[str]
    block: int  # passages with the same block number qualify one another
    errno: str | None  # the ERRORS entry it belongs to
    scope: Scope  # versions the tag or entry restricts the passage to

    @property
    def origin(self) -> Origin:
        return (self.paragraph.tag or self.paragraph.body).origin

    def sentences(self) -> list[Sentence]:
        return sentences(self.paragraph.body)

    @property
    def tag_names(self) -> set[str]:
        tag = self.paragraph.tag
        return {m.group(0) for m in _CONSTANT.finditer(tag.text)} if tag is not None else set()


def _functions(text: str) -> set[str]:
    return {m.group(1) for m in _FUNCTION.finditer(text)}


def passages(document: Document, spec) -> list[Passage]:
    """Every prose paragraph of the document, with its topics, in page order."""
    errnos = spec.errnos
    entries = {entry.origin.line: entry for entry in document.errors}
    syscalls = spec.syscalls
    out: list[Passage] = []
    block_of: dict[int, int] = {}
    for section in document.sections:
        if section.name in SKIPPED_SECTIONS:
            continue
        subsection_functions = {name: _functions(name) for name, _ in section.subsections}
        errno, errno_scope, entry_functions = None, Scope(), set()
        for paragraph in section.paragraphs:
            if paragraph.kind == "literal":
                continue
            tag_text = paragraph.tag.text if paragraph.tag is not None else ""
            tag_names = names_in(tag_text, errnos)
            if section.name == "ERRORS" and paragraph.item is None and (paragraph.tag is None or tag_names):
                # A tag naming an errno opens an entry, which bullet items and continuations
                # below inherit; another tag (SIGBUS) or a plain paragraph closes it.
                tag_errnos = [n for n in tag_names if n in errnos]
                errno, errno_scope, entry_functions = None, Scope(), set()
                if tag_errnos:
                    errno = tag_errnos[0]
                    entry = entries.get(paragraph.tag.origin.line)
                    entry_functions = set(entry.scope) if entry is not None and entry.scope else set()
                    qualifiers = " ".join(f"({q})" for q in entry.qualifiers) if entry is not None else ""
                    errno_scope = scope(qualifiers)
            item = paragraph.item
            item_tag = item.tag.text if item is not None and item.tag is not None else ""
            topics = tag_names | names_in(item_tag, errnos) | names_in(paragraph.body.text, errnos)
            if section.name == "ERRORS" and errno:
                topics |= {errno} | entry_functions
            for name in list(topics):
                found = spec.flag(name)
                if found is not None and found[0].name in syscalls:
                    topics.add(found[0].name)
            if not (topics & (set(syscalls) | set(document.names))):
                topics |= subsection_functions.get(paragraph.subsection) or set(document.names)
            key = id(item) if item is not None else id(paragraph)
            block = block_of.setdefault(key, len(block_of))
            tag_scope = scope(tag_text) & scope(item_tag)
            out.append(Passage(paragraph, section.name, frozenset(topics), block,
                               errno if section.name == "ERRORS" else None,
                               tag_scope & (errno_scope if section.name == "ERRORS" else Scope())))
    return out
