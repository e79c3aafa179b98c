"""The catalogue of behaviour properties (spec/properties/*.yaml) and its phrase grammar.

A property is one fact about the modelled system calls that users must get right and
that man pages have got wrong: its subject (a syscall, flag or errno), a statement in
our words, the kernel versions it holds for, whether a page documenting the subject
must state it (``must_know``), a witness trace whose expectations demonstrate it, and
phrasings: patterns that *assert* it and patterns that *deny* it. The claims lint rules
(manpages/checks/claims.py) look for those phrasings in man pages.

Phrase grammar. A pattern is a regular expression over one normalised sentence
(:func:`normalise`: one space between words, plain quotes and hyphens), matched
without regard to case, with three additions:

* ``<name>`` stands for the term ``name`` (the ``terms:`` of any catalogue file), so
  vocabulary such as ``<populate>`` or ``<resident>`` is written once;
* `` ... `` (spaces around three dots) is a gap of at most :data:`GAP_WORDS` words;
* a pattern that starts or ends with a word character gets a word boundary there; a
  run of spaces is one space, as in the normalised text.

Negation is the pattern's business (the ``<pos>`` term is a guard that the next word
is not negated: ``<pos>fails`` does not match "does not fail"). A denial is also void
when the sentence puts it under a hedge (the ``hedge`` term: "it is not guaranteed
that ...") or matches one of the property's ``unless`` patterns.

Loading checks the files against spec/schema/property.schema.json, compiles every
pattern, and tries each property's ``examples`` (sentences we wrote: ``denies`` must be
denials, ``asserts`` assertions, ``neutral`` neither). Errors are ``file:line:col``.
Loading the witness traces needs the engine's trace loader; ``mmsem check-spec`` does
that (semantics/specchecks.py).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from mmsem.spec import source
from mmsem.spec.model import parse_version
from mmsem.spec.source import ErrorSink, InputError, Located

PACKAGE_DIR = Path(__file__).resolve().parent
#: The longest gap `` ... `` bridges, in words: a clause, not a paragraph.
GAP_WORDS = 15
_GAP = r"(?:\W+\w+){0,%d}?\W+" % GAP_WORDS
_TERM_REF = re.compile(r"<([a-z][a-z0-9_]*)>")
_MAX_TERM_DEPTH = 8
_TRANSLATE = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u00ad": "",
})


_DROPPED = frozenset(chr(code) for code, to in _TRANSLATE.items() if not to)  # maketrans keys are ordinals
_WORD = re.compile(r"\S+")


class WordOffsets:
    """Where each character of a normalised text comes from in the original, kept per
    word: a word is copied whole, and the space after it stands for the first blank of
    the run that followed it, so one (start in the normalised text, start in the
    original) pair per word places every character. Indexing gives an offset."""

    __slots__ = ("plain_starts", "starts", "length")

    def __init__(self, plain_starts: list[int], starts: list[int], length: int):
        self.plain_starts = plain_starts
        self.starts = starts
        self.length = length

    def __getitem__(self, index: int) -> int:
        if not 0 <= index < self.length:
            raise IndexError(index)
        word = bisect.bisect_right(self.plain_starts, index) - 1
        return self.starts[word] + index - self.plain_starts[word]

    def __len__(self) -> int:
        return self.length


def normalise(text: str) -> tuple[str, WordOffsets | list[int]]:
    """Text with plain punctuation and single spaces, and for each of its characters the
    offset in `text` it comes from (so a match can be placed in the source).

    A run of white space becomes one space, placed at the run's first character;
    white space at either end goes.
    """
    if _DROPPED.intersection(text):
        return _normalise_slowly(text)
    plain = text.translate(_TRANSLATE)  # one character for one: offsets are kept
    spans = [match.span() for match in _WORD.finditer(plain)]
    plain_starts = []
    at = 0
    for start, end in spans:
        plain_starts.append(at)
        at += end - start + 1
    words = " ".join([plain[start:end] for start, end in spans])
    return words, WordOffsets(plain_starts, [start for start, _ in spans], len(words))


def _normalise_slowly(text: str) -> tuple[str, list[int]]:
    """:func:`normalise` for text with characters that translate to nothing (soft hyphens)."""
    out: list[str] = []
    where: list[int] = []
    space = True  # drop leading space
    for i, char in enumerate(text):
        char = char.translate(_TRANSLATE)
        if not char:
            continue
        if char.isspace():
            if not space:
                out.append(" ")
                where.append(i)
            space = True
            continue
        out.append(char)
        where.append(i)
        space = False
    if out and out[-1] == " ":
        out.pop()
        where.pop()
    return "".join(out), where


def first_sentence(text: str) -> str:
    """The first sentence of a statement: what a finding's message quotes."""
    match = re.search(r"\.(?=\s)", text)
    return " ".join((text[: match.start()] if match else text.rstrip(".")).split())


# -- the phrase grammar ---------------------------------------------------------------------

class PhraseError(ValueError):
    """A pattern or term that does not compile."""


def expand(pattern: str, terms: dict, depth: int = 0) -> str:
    """The regular expression a pattern stands for (terms expanded, gaps and spaces made regex)."""
    if depth > _MAX_TERM_DEPTH:
        raise PhraseError("terms nest too deeply (a term refers to itself?)")
    out: list[str] = []
    i, in_class, text = 0, False, pattern
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
            out.append(char)
            i += 1
            continue
        if char == "[":
            in_class = True
            out.append(char)
            i += 1
            continue
        if text.startswith(" ... ", i):
            out.append(_GAP)
            i += 5
            continue
        ref = _TERM_REF.match(text, i)
        if ref:
            name = ref.group(1)
            if name not in terms:
                raise PhraseError(f"unknown term <{name}>")
            out.append("(?:" + expand(terms[name], terms, depth + 1) + ")")
            i = ref.end()
            continue
        if char == " ":  # sentences are normalised to single spaces
            out.append(" ")
            while i < len(text) and text[i] == " ":
                i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out)


class CompiledOnUse:
    """A regular expression that pickles as its source and is compiled again when first used.

    ``mmsem lint`` reads the catalogue from a pickle in every run; compiling all its
    patterns there cost a twentieth of a run over man2, whichever few the pages need
    (pages about other calls need none). It answers ``search``, the one method the
    matching uses, and compares by source like a compiled pattern.
    """

    __slots__ = ("pattern", "flags", "_regex")

    def __init__(self, pattern: str, flags: int, regex: re.Pattern | None = None):
        self.pattern = pattern
        self.flags = flags
        self._regex = regex

    def search(self, string: str, *bounds: int) -> re.Match | None:
        regex = self._regex
        if regex is None:
            regex = self._regex = re.compile(self.pattern, self.flags)
        return regex.search(string, *bounds)

    def __reduce__(self):
        return CompiledOnUse, (self.pattern, self.flags)

    def __eq__(self, other) -> bool:
        return isinstance(other, CompiledOnUse) and (self.pattern, self.flags) == (other.pattern, other.flags)

    def __hash__(self) -> int:
        return hash((self.pattern, self.flags))

    def __repr__(self) -> str:
        return f"CompiledOnUse({self.pattern!r}, {self.flags})"


def compile_phrase(pattern: str, terms: dict) -> CompiledOnUse:
    """The regular expression of a pattern, compiled (so that a bad one fails here)."""
    body = expand(pattern, terms)
    if re.match(r"\w", pattern):
        body = r"\b" + body
    if re.search(r"\w$", pattern):
        body += r"\b"
    try:
        regex = re.compile(body, re.IGNORECASE)
    except re.error as exc:
        raise PhraseError(f"not a valid pattern: {exc}") from None
    return CompiledOnUse(regex.pattern, regex.flags, regex)


@dataclass(frozen=True)
class Phrase:
    text: str  # the pattern as written
    regex: CompiledOnUse
    line: int
    col: int


# -- properties -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Property:
    id: str
    subject: str
    topics: tuple[str, ...]
    statement: str
    must_know: bool
    cite: tuple[str, ...]
    witness: str  # trace YAML
    path: str
    line: int
    col: int
    witness_line: int  # file line of the witness's first line
    witness_col: int  # file column of the witness's first character
    since: tuple[int, ...] | None = None
    until: tuple[int, ...] | None = None
    old_behaviour: bool = False
    errno: str | None = None
    asserts: tuple[Phrase, ...] = ()
    denies: tuple[Phrase, ...] = ()
    unless: tuple[Phrase, ...] = ()
    hedge: CompiledOnUse | None = field(default=None, compare=False)
    examples: dict = field(default_factory=dict, compare=False)

    @property
    def summary(self) -> str:
        return first_sentence(self.statement)

    def holds_for(self, version: tuple[int, ...]) -> bool:
        """The property describes this kernel version."""
        version = tuple(version)
        if self.since is not None and version < self.since:
            return False
        return self.until is None or version < self.until

    def denied_before(self, version: tuple[int, ...]) -> bool:
        """At `version` the denying phrasings were still true (old behaviour)."""
        return self.old_behaviour and self.since is not None and tuple(version) < self.since

    def denial(self, sentence: str) -> re.Match | None:
        """Where a normalised sentence denies the property, if it does and nothing excuses it."""
        for phrase in self.denies:
            match = phrase.regex.search(sentence)
            if match is None:
                continue
            if self.hedge is not None and self.hedge.search(sentence, 0, match.start()):
                continue
            if any(q.regex.search(sentence) for q in self.unless):
                return None
            return match
        return None

    def assertion(self, sentence: str) -> re.Match | None:
        for phrase in self.asserts:
            match = phrase.regex.search(sentence)
            if match is not None:
                return match
        return None

    def relocate(self, error: InputError) -> InputError:
        """An error in the witness trace, placed in the catalogue file."""
        line = self.witness_line + error.line - 1
        col = error.col + (self.witness_col - 1)
        return InputError(self.path, line, col, f"witness of {self.id}: {error.message}")


@dataclass(frozen=True)
class Catalogue:
    properties: tuple[Property, ...]
    terms: dict
    directory: str

    def __iter__(self):
        return iter(self.properties)

    def __len__(self) -> int:
        return len(self.properties)

    def get(self, property_id: str) -> Property | None:
        return next((p for p in self.properties if p.id == property_id), None)


def _block_start(lines: list[str], line: int, col: int) -> tuple[int, int]:
    """Where a YAML scalar's text starts: after a `|`/`>` indicator, on the next line at its indent."""
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    if here[col - 1:col] in ("|", ">"):
        following = lines[line] if line < len(lines) else ""
        return line + 1, len(following) - len(following.lstrip(" ")) + 1
    return line, col


class _Loader:
    def __init__(self, directory: Path, errors: ErrorSink, spec=None):
        self.directory = directory
        self.errors = errors
        self.spec = spec
        self.terms: dict[str, str] = {}
        self.term_origins: dict[str, tuple[Located, tuple]] = {}

    def error(self, located: Located, pointer: tuple, message: str) -> None:
        self.errors.add(located.error(pointer, message))

    def files(self) -> list[Located]:
        from mmsem.spec import schemas  # jsonschema: only when the YAML is read, not from a cache

        out = []
        for path in sorted(self.directory.glob("*.yaml")):
            try:
                located = source.load(path)
                if located.data is None:
                    raise located.error((), "empty document")
                schemas.check(located, "property")
            except InputError as exc:
                self.errors.add(exc)
                continue
            out.append(located)
        return out

    def load(self) -> Catalogue:
        files = self.files()
        for located in files:
            for name, text in (located.data.get("terms") or {}).items():
                if name in self.terms:
                    self.error(located, ("terms", name), f"term <{name}> is defined twice")
                    continue
                self.terms[name] = text
                self.term_origins[name] = (located, ("terms", name))
        for name, (located, pointer) in self.term_origins.items():
            try:
                expand(self.terms[name], self.terms)
            except PhraseError as exc:
                self.error(located, pointer, f"term <{name}>: {exc}")
        hedge = None
        if "hedge" in self.terms:
            try:
                hedge = compile_phrase(self.terms["hedge"], self.terms)
            except PhraseError:
                pass  # reported above
        properties: list[Property] = []
        seen: dict[str, str] = {}
        for located in files:
            lines = Path(located.path).read_text(encoding="utf-8").splitlines()
            for i, data in enumerate(located.data.get("properties") or []):
                prop = self.property(located, lines, i, data, hedge)
                if prop is None:
                    continue
                if prop.id in seen:
                    self.error(located, ("properties", i, "id"), f"property {prop.id} is defined twice "
                                                                  f"(first in {seen[prop.id]})")
                    continue
                seen[prop.id] = f"{located.path}:{prop.line}"
                properties.append(prop)
        return Catalogue(tuple(properties), dict(self.terms), str(self.directory))

    def phrases(self, located: Located, base: tuple, data: dict, key: str) -> tuple[tuple[Phrase, ...], bool]:
        out, ok = [], True
        for j, text in enumerate(data.get(key) or []):
            line, col = located.where(base + (key, j))
            try:
                out.append(Phrase(text, compile_phrase(text, self.terms), line, col))
            except PhraseError as exc:
                self.error(located, base + (key, j), f"{key} pattern {text!r}: {exc}")
                ok = False
        return tuple(out), ok

    def known_name(self, name: str) -> bool:
        spec = self.spec
        if spec is None:
            return True
        return (name in spec.syscalls or spec.flag(name) is not None or name in spec.errnos
                or name in spec.signals)

    def property(self, located: Located, lines: list[str], i: int, data: dict, hedge) -> Property | None:
        base = ("properties", i)
        ok = True
        for key in ("subject", "errno"):
            if key in data and not self.known_name(data[key]):
                self.error(located, base + (key,), f"unknown name {data[key]} (not a syscall, flag, errno or "
                                                   f"signal of the spec)")
                ok = False
        for j, name in enumerate(data.get("topics") or []):
            if not self.known_name(name):
                self.error(located, base + ("topics", j), f"unknown topic {name} (not a syscall, flag, errno or "
                                                          f"signal of the spec)")
                ok = False
        since = parse_version(data["since"]) if "since" in data else None
        until = parse_version(data["until"]) if "until" in data else None
        if since and until and until <= since:
            self.error(located, base + ("until",), f"until {data['until']} is not after since {data['since']}")
            ok = False
        if data.get("old_behaviour") and since is None:
            self.error(located, base + ("old_behaviour",), "old_behaviour needs since: (the version it changed in)")
            ok = False
        asserts, ok_a = self.phrases(located, base, data, "asserts")
        denies, ok_d = self.phrases(located, base, data, "denies")
        unless, ok_u = self.phrases(located, base, data, "unless")
        ok = ok and ok_a and ok_d and ok_u
        if not asserts and not denies:
            self.error(located, base, f"property {data['id']} has neither asserts nor denies")
            ok = False
        if data["must_know"] and not asserts:
            self.error(located, base + ("must_know",), f"property {data['id']} is must_know but has no asserts "
                                                       "(nothing would show that a page states it)")
            ok = False
        if not ok:
            return None
        line, col = located.where(base)
        wline, wcol = _block_start(lines, *located.where(base + ("witness",)))
        prop = Property(
            id=data["id"], subject=data["subject"], topics=tuple(data.get("topics") or [data["subject"]]),
            statement=" ".join(data["statement"].split()), must_know=data["must_know"],
            cite=tuple(data["cite"]), witness=data["witness"], path=located.path, line=line, col=col,
            witness_line=wline, witness_col=wcol, since=since, until=until,
            old_behaviour=bool(data.get("old_behaviour", False)), errno=data.get("errno"),
            asserts=asserts, denies=denies, unless=unless, hedge=hedge, examples=data.get("examples") or {})
        return prop if self.examples_hold(located, base, prop) else None

    def examples_hold(self, located: Located, base: tuple, prop: Property) -> bool:
        """Our own sentences for the property read as they should.

        The statement is an example too: a page that states the property in our words
        (mmsem draft copies must-know statements) must read as stating it.
        """
        ok = True
        statement = [normalise(s)[0] for s in re.split(r"(?<=\.)\s+(?=[A-Z])", prop.statement)]
        asserted = any(prop.assertion(s) for s in statement)
        if prop.asserts and not asserted:
            self.error(located, base + ("statement",), f"the statement of {prop.id} does not read as an assertion")
            ok = False
        denied = [s for s in statement if prop.denial(s)]
        if denied and not asserted:  # a block that asserts qualifies its own denials
            self.error(located, base + ("statement",), f"the statement of {prop.id} reads as a denial: {denied[0]!r}")
            ok = False
        for kind in ("denies", "asserts", "neutral"):
            for j, sentence in enumerate(prop.examples.get(kind) or []):
                text, _ = normalise(sentence)
                denied, asserted = prop.denial(text) is not None, prop.assertion(text) is not None
                # An assertion may quote the claim it qualifies ("... clashes with a mapping, with
                # MAP_FIXED_NOREPLACE"), so only denials must be free of assertions.
                wrong = {"denies": not denied or asserted, "asserts": not asserted,
                         "neutral": denied or asserted}[kind]
                if wrong:
                    got = "a denial" if denied else ""
                    got += (" and " if got and asserted else "") + ("an assertion" if asserted else "")
                    what = {"denies": "denial", "asserts": "assertion", "neutral": "neutral sentence"}[kind]
                    self.error(located, base + ("examples", kind, j),
                               f"example {what} reads as {got or 'neither a denial nor an assertion'}: {sentence!r}")
                    ok = False
        return ok


def load_properties(directory: str | Path | None = None, errors: list | None = None, spec=None) -> Catalogue:
    """The catalogue in `directory` (default: the packaged spec/properties).

    With ``errors=[...]`` every defect is collected and loading carries on; otherwise the
    first one is raised. With `spec`, subjects and topics must be names the spec knows.
    """
    directory = Path(directory) if directory is not None else PACKAGE_DIR / "properties"
    if not directory.is_dir():
        raise InputError(str(directory), 1, 1, "not a property catalogue directory")
    return _Loader(directory, ErrorSink(errors), spec).load()


@lru_cache(maxsize=8)
def catalogue_for(spec_directory: str) -> Catalogue:
    """The catalogue that belongs to a spec directory (its properties/ folder), loaded once.

    Names are not checked against the spec here; ``mmsem check-spec`` does that.
    """
    return load_properties(Path(spec_directory) / "properties")


__all__ = ["Catalogue", "GAP_WORDS", "PACKAGE_DIR", "Phrase", "PhraseError", "Property", "catalogue_for",
           "compile_phrase", "expand", "first_sentence", "load_properties", "normalise"]
