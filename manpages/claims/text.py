"""Sentences of a man page paragraph, and the kernel versions a sentence speaks about.

Claims are matched one sentence at a time, on normalised text
(:func:`mmsem.spec.properties.normalise`), and every character of a sentence keeps its
offset in the paragraph's :class:`~mmsem.manpages.document.Span`, so a match is
reported at its source line and column.

A sentence can restrict itself to some kernels ("Before Linux 4.12, ...", "(Linux 2.6.9
and later)") or to other systems ("POSIX specifies that ..."); :func:`applies` tells
whether it speaks about the kernel version being judged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from mmsem.manpages.document import Origin, Span
from mmsem.spec.model import parse_version
from mmsem.spec.properties import normalise

# A period ends a sentence when a capital, digit, quote or parenthesis follows, unless it
# ends one of these abbreviations.
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[\"'(A-Z0-9])")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.", "approx.", "al.", "no.", "fig.")

_VERSION = r"v?(\d+\.\d+(?:\.\d+)?)"
_KERNEL = r"(?:linux |kernel |version |kernels? )?"
#: A sentence about kernels older than X (exclusive bound) ...
_BEFORE = re.compile(rf"\b(?:before|prior to|until|earlier than|older than) {_KERNEL}{_VERSION}", re.I)
#: ... up to X inclusive ...
_UP_TO = re.compile(rf"(?:\b(?:linux|kernels?) {_VERSION} and (?:earlier|before|older)\b|\bup to(?: and including)? "
                    rf"{_KERNEL}{_VERSION})", re.I)
#: ... or newer than X. ("glibc 2.27 and later" is not about the kernel: the bare "X and
#: later" form needs the word Linux or kernel.)
_SINCE = re.compile(rf"(?:\b(?:since|from|starting with|as of|beginning with) {_KERNEL}{_VERSION}"
                    rf"|\b(?:linux|kernels?) {_VERSION} and (?:later|newer|above|after)\b)", re.I)
#: A sentence that reports what another system or a standard does, not what Linux does.
_ELSEWHERE = re.compile(r"\b(?:POSIX(?:\.1)?(?:-\d{4})?|SUSv\d|the standard|some (?:other )?implementations|"
                        r"other (?:systems|implementations)|(?:some|other) BSDs?) (?:says|specifies|requires|allows|"
                        r"permits|mandates|describes|states|adds|may)\b|\bnot on linux\b", re.I)


@dataclass(frozen=True)
class Sentence:
    text: str  # normalised
    offsets: object  # for each character of the normalised paragraph, its offset in the span's text
    start: int  # where text starts in the normalised paragraph
    span: Span

    def origin_at(self, index: int) -> Origin:
        """Source position of the character at `index` of the normalised sentence."""
        index = min(max(index, 0), len(self.text) - 1)
        return self.span.origin_at(self.offsets[self.start + index])


def sentences(span: Span) -> list[Sentence]:
    text, offsets = normalise(span.text)
    out, start = [], 0
    for boundary in _BOUNDARY.finditer(text):
        before = text[start:boundary.start()]
        if before.lower().endswith(_ABBREVIATIONS):
            continue
        out.append(Sentence(before, offsets, start, span))
        start = boundary.end()
    if start < len(text):
        out.append(Sentence(text[start:], offsets, start, span))
    return [s for s in out if s.text.strip()]


@dataclass(frozen=True)
class Scope:
    """Kernel versions a piece of text speaks about: lower bounds (inclusive), upper
    bounds (exclusive unless `inclusive`), or none at all (another system)."""

    since: tuple = ()
    before: tuple = ()  # exclusive upper bounds
    up_to: tuple = ()  # inclusive upper bounds
    elsewhere: bool = False

    def covers(self, version: tuple[int, ...]) -> bool:
        if self.elsewhere:
            return False
        return (all(version >= v for v in self.since) and all(version < v for v in self.before)
                and all(version <= v for v in self.up_to))

    def __and__(self, other: "Scope") -> "Scope":
        return Scope(self.since + other.since, self.before + other.before, self.up_to + other.up_to,
                     self.elsewhere or other.elsewhere)


@lru_cache(maxsize=4096)
def scope(text: str) -> Scope:
    """The versions `text` restricts itself to (memoised: tags and qualifiers repeat)."""
    since = tuple(parse_version(m.group(1) or m.group(2)) for m in _SINCE.finditer(text))
    before = tuple(parse_version(m.group(1)) for m in _BEFORE.finditer(text))
    up_to = tuple(parse_version(m.group(1) or m.group(2)) for m in _UP_TO.finditer(text))
    return Scope(since, before, up_to, bool(_ELSEWHERE.search(text)))
