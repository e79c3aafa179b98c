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
from functools import cached_property

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


_VOCABULARY: dict = {}  # (id(spec), id(catalogue)) -> (spec, catalogue, Vocabulary)


_WORDS = re.compile(r"\w+").findall


@dataclass(frozen=True)
class Vocabulary:
    """Every name a passage must have among its topics for some property to be about it:
    the properties' topics, subjects and errnos, and the flags of any of those calls (a
    passage naming MAP_LOCKED is about mmap too)."""

    names: frozenset

    @cached_property
    def screen(self) -> re.Pattern:
        """Text naming one of the names holds one of these pieces of them: a constant's
        prefix up to its first underscore (``MAP_``), or the whole name. Nine texts in
        ten of man2 hold none, and this one search rules them out at a third of the
        cost of cutting them into words."""
        keys = {name[:name.index("_") + 1] if "_" in name else name for name in self.names}
        keys = sorted(key for key in keys if not any(other != key and other in key for other in keys))
        return re.compile("|".join(map(re.escape, keys)) or "(?!)")

    def named_in(self, *texts: str) -> bool:
        """Whether one of `texts` names one of the names as a whole word. (Cutting the text
        into words and looking them up is several times faster than one regex of all
        the names, which Python's re tries at every position.)"""
        search = self.screen.search
        return any(not self.names.isdisjoint(_WORDS(text)) for text in texts if text and search(text))


def vocabulary(spec, catalogue) -> Vocabulary:
    """The :class:`Vocabulary` of a catalogue, built once per spec and catalogue."""
    key = (id(spec), id(catalogue))
    found = _VOCABULARY.get(key)
    if found is None or found[0] is not spec or found[1] is not catalogue:
        names = set()
        for prop in catalogue:
            names.update(prop.topics)
            names.add(prop.subject)
            if prop.errno:
                names.add(prop.errno)
        for flagset in spec.flagsets.values():
            if flagset.name in names:
                names.update(flag.name for flag in flagset.flags)
        found = (spec, catalogue, Vocabulary(frozenset(names)))
        _VOCABULARY[key] = found
    return found[2]


def _functions(text: str) -> set[str]:
    return {m.group(1) for m in _FUNCTION.finditer(text)}


_FLAG_CALLS: dict = {}  # id(spec) -> (spec, {flag name: the call whose flag set it is in})


def _flag_calls(spec) -> dict:
    """For each flag, the call named like its flag set (spec.flag's first set), if any."""
    found = _FLAG_CALLS.get(id(spec))
    if found is None or found[0] is not spec:
        calls: dict = {}
        for flagset in spec.flagsets.values():
            for flag in flagset.flags:
                calls.setdefault(flag.name, flagset.name if flagset.name in spec.syscalls else None)
        found = _FLAG_CALLS[id(spec)] = (spec, {name: call for name, call in calls.items() if call})
    return found[1]


def passages(document: Document, spec, words: Vocabulary | None = None) -> list[Passage]:
    """Every prose paragraph of the document, with its topics, in page order.

    With `words`, only the passages that can be about a property of that vocabulary:
    the others are not built at all (their text names none of its names, and neither
    their ERRORS entry nor the functions they would fall back on do), which spares
    most of the work on pages about other calls.
    """
    errnos = spec.errnos
    entries = {entry.origin.line: entry for entry in document.errors}
    syscalls = spec.syscalls
    flag_calls = _flag_calls(spec)
    page_names = set(document.names)
    functions = set(syscalls) | page_names
    item_names: dict = {}  # id(item) -> names in its tag: continuations share one item
    out: list[Passage] = []
    block_of: dict[int, int] = {}
    for section in document.sections:
        if section.name in SKIPPED_SECTIONS:
            continue
        subsection_functions = {name: _functions(name) for name, _ in section.subsections}
        errors = section.name == "ERRORS"
        errno, errno_scope, entry_functions = None, Scope(), set()
        for paragraph in section.paragraphs:
            if paragraph.kind == "literal":
                continue
            tag_text = paragraph.tag.text if paragraph.tag is not None else ""
            if errors and paragraph.item is None:
                tag_names = names_in(tag_text, errnos)
                if paragraph.tag is None or tag_names:
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
            else:
                tag_names = None
            item = paragraph.item
            item_tag = item.tag.text if item is not None and item.tag is not None else ""
            fallback = subsection_functions.get(paragraph.subsection) or page_names
            if words is not None and not (  # the set tests first: they are the cheap ones
                    not words.names.isdisjoint(fallback)
                    or (errors and errno and (errno in words.names or not words.names.isdisjoint(entry_functions)))
                    or words.named_in(tag_text, item_tag, paragraph.body.text)):
                continue
            if tag_names is None:
                tag_names = names_in(tag_text, errnos)
            if id(item) not in item_names:
                item_names[id(item)] = names_in(item_tag, errnos)
            topics = tag_names | item_names[id(item)] | names_in(paragraph.body.text, errnos)
            if errors and errno:
                topics |= {errno} | entry_functions
            topics |= {flag_calls[name] for name in topics if name in flag_calls}
            if not (topics & functions):
                topics |= fallback
            key = id(item) if item is not None else id(paragraph)
            block = block_of.setdefault(key, len(block_of))
            tag_scope = scope(tag_text) & scope(item_tag)
            out.append(Passage(paragraph, section.name, frozenset(topics), block,
                               errno if errors else None,
                               tag_scope & (errno_scope if errors else Scope())))
    return out
