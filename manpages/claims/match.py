"""Find where a page denies a behaviour property, and which must-know ones it never states.

Judged for one kernel version (a profile):

* a sentence *denies* a property when one of its ``denies`` patterns matches, the
  sentence speaks about that version (:mod:`.text`), its passage is about one of the
  property's topics (and is an ERRORS entry for the property's ``errno``, if it has
  one), and no sentence of the same block asserts the property (the text qualifies its
  own claim: "locked like mlock(2) ... yet mmap() succeeds when population fails");
* a property the version does not have is never denied: text true for that kernel is
  not flagged. Denials of a property with ``old_behaviour`` were true before its
  ``since``: they are *outdated*, not wrong from the start;
* a ``must_know`` property is *undocumented* on a page that documents its subject (a
  function of its NAME section, a flag with its own tagged paragraph, an errno with an
  ERRORS entry) when no passage about its topics asserts it, and the page does not
  deny it either (that is reported as a denial). For an excerpt of a page, only a
  subject whose own tagged paragraph is in the excerpt can be judged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mmsem.manpages.claims.passages import Passage, passages, vocabulary
from mmsem.manpages.claims.text import Sentence, scope
from mmsem.manpages.document import Document, Origin


@dataclass(frozen=True)
class Denial:
    property: object  # mmsem.spec.properties.Property
    passage: Passage
    sentence: Sentence
    match: re.Match
    outdated: bool  # the denied text held before the property's `since`

    @property
    def origin(self) -> Origin:
        return self.sentence.origin_at(self.match.start())

    @property
    def quote(self) -> str:
        return self.match.group(0)


@dataclass(frozen=True)
class Omission:
    property: object
    origin: Origin  # where the page documents the subject


def _version(profile) -> tuple[int, ...]:
    return tuple(profile.version)


def _subject_exists(spec, subject: str, version: tuple) -> bool:
    """The flag or syscall exists in that kernel (MAP_DROPPABLE is not in 6.1)."""
    found = spec.flag(subject)
    if found is not None and found[1].since is not None:
        return version >= found[1].since
    entry = spec.syscalls.get(subject)
    since = getattr(entry, "since", None) if entry is not None else None
    return since is None or version >= tuple(since)


class PageClaims:
    """The claims of one page, judged for one profile.

    The work is done on demand: only the passages that can be about a property are
    built, and a passage is cut into sentences (normalised, with version scopes) only
    when some property is about it.
    """

    def __init__(self, document: Document, spec, catalogue, profile, excerpt: bool = False):
        self.document = document
        self.spec = spec
        self.catalogue = catalogue
        self.version = _version(profile)
        self.excerpt = excerpt
        self.passages = passages(document, spec, vocabulary(spec, catalogue))
        self._by_topic: dict[str, list[int]] = {}  # topic -> indexes of the passages about it
        self._by_block: dict[int, list[Passage]] = {}
        for index, passage in enumerate(self.passages):
            for topic in passage.topics:
                self._by_topic.setdefault(topic, []).append(index)
            self._by_block.setdefault(passage.block, []).append(passage)
        self._sentences: dict[int, list[Sentence]] = {}
        self._denials: list[Denial] | None = None

    def sentences(self, passage: Passage) -> list[Sentence]:
        """The sentences of a passage that speak about the version judged."""
        found = self._sentences.get(id(passage))
        if found is None:
            found = [s for s in passage.sentences() if (passage.scope & scope(s.text)).covers(self.version)]
            self._sentences[id(passage)] = found
        return found

    def about(self, prop, passage: Passage) -> bool:
        if not passage.topics & set(prop.topics):
            return False
        return prop.errno is None or passage.errno == prop.errno

    def passages_about(self, prop) -> list[Passage]:
        """The passages about one of the property's topics (and its errno), in page order."""
        indexes = sorted({i for topic in prop.topics for i in self._by_topic.get(topic, ())})
        return [self.passages[i] for i in indexes
                if prop.errno is None or self.passages[i].errno == prop.errno]

    def asserted_in_block(self, prop, block: int) -> bool:
        return any(prop.assertion(s.text) for p in self._by_block.get(block, ()) if self.about(prop, p)
                   for s in self.sentences(p))

    def denials(self) -> list[Denial]:
        if self._denials is not None:
            return self._denials
        out = []
        for prop in self.catalogue:
            if not prop.denies:
                continue
            if not prop.holds_for(self.version):
                continue
            outdated = prop.old_behaviour and prop.since is not None
            for passage in self.passages_about(prop):
                for sentence in self.sentences(passage):
                    match = prop.denial(sentence.text)
                    if match is None or self.asserted_in_block(prop, passage.block):
                        continue
                    out.append(Denial(prop, passage, sentence, match, outdated))
        out.sort(key=lambda d: (d.origin.line, d.origin.col, d.property.id))
        self._denials = out
        return out

    def omissions(self) -> list[Omission]:
        denied = {d.property.id for d in self.denials()}
        out = []
        for prop in self.catalogue:
            if not prop.must_know or prop.id in denied or not prop.holds_for(self.version):
                continue
            if not _subject_exists(self.spec, prop.subject, self.version):
                continue
            where = self.documents(prop.subject)
            if where is None:
                continue
            stated = any(prop.assertion(s.text) for p in self.passages_about(prop) for s in self.sentences(p))
            if not stated:
                out.append(Omission(prop, where))
        out.sort(key=lambda o: (o.origin.line, o.origin.col, o.property.id))
        return out

    def documents(self, subject: str) -> Origin | None:
        """Where the page documents `subject`, or None if it does not."""
        if subject not in self._by_topic and subject not in self.document.names and subject not in self.spec.errnos:
            return None  # a tag naming it would have made it a topic
        for passage in self.passages:
            if passage.paragraph.tag is not None and subject in passage.tag_names and passage.section != "ERRORS":
                return passage.paragraph.tag.origin
        if self.excerpt:
            return None
        if subject in self.spec.errnos:
            entry = next((e for e in self.document.errors if e.errno == subject), None)
            return entry.origin if entry is not None else None
        if subject not in self.document.names:
            return None
        description = [p for p in self.passages if p.section == "DESCRIPTION"]
        call = re.compile(rf"^{re.escape(subject)}\(\)")
        for passage in description:  # the paragraph that introduces the function
            if call.match(passage.paragraph.body.text):
                return passage.paragraph.body.origin
        for passage in description:
            if subject in passage.topics:
                return passage.paragraph.body.origin
        section = self.document.section("DESCRIPTION")
        return section.origin if section is not None else None
