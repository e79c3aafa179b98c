"""In-page suppression comments, and the rule that checks them (MM100).

Syntax, one roff comment each (rule ids or names, separated by commas or spaces,
ids in any case):

    .\\" mmsem: ignore MM201, undocumented-flag
    .\\" mmsem: ignore-page MM103

``ignore`` on a line of its own silences the rules named for the next line of the
page that carries content: comment lines and paragraph or list requests without
text (``.TP``, ``.PP``, ``.RS 4`` ...) are skipped, so a comment above ``.TP`` covers
the tag under it. At the end of a line (``.B EAGAIN \\" mmsem: ignore MM103``) it
covers that line. ``ignore-page`` silences the rules on the whole page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mmsem.manpages.document import Origin
from mmsem.manpages.rules import RULES, Report, rule

_DIRECTIVE_RE = re.compile(r"^\s*mmsem\s*:\s*(?P<verb>[\w-]*)(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
_SEPARATOR_RE = re.compile(r"[\s,]+")
VERBS = ("ignore", "ignore-page")


@dataclass(frozen=True)
class Suppression:
    origin: Origin  # where the comment starts
    verb: str  # "ignore" or "ignore-page"
    rules: tuple  # rule ids, resolved
    unknown: tuple  # the names given that are no rule


def resolve(name: str) -> str | None:
    """The id of the rule `name` names (an id in any case, or a rule name)."""
    if name.upper() in RULES:
        return name.upper()
    for candidate in RULES.values():
        if candidate.name == name.lower():
            return candidate.id
    return None


def parse(comment) -> Suppression | None:
    """The suppression a comment holds, or None if it is not an ``mmsem:`` comment."""
    m = _DIRECTIVE_RE.match(comment.text)
    if m is None:
        return None
    names = [name for name in _SEPARATOR_RE.split(m.group("rest").strip()) if name]
    ids, unknown = [], []
    for name in names:
        found = resolve(name)
        (ids if found else unknown).append(found or name)
    return Suppression(comment.origin, m.group("verb").lower(), tuple(ids), tuple(unknown))


def suppressions(doc) -> list:
    return [s for s in (parse(comment) for comment in doc.comments) if s is not None]


@rule("MM100", "error", "structure")
def check_bad_suppression(ctx):
    """An ``mmsem:`` comment that mmsem cannot follow.

    The comment must read ``mmsem: ignore RULE ...`` or ``mmsem: ignore-page RULE
    ...``, naming at least one rule by id (MM201) or name (undocumented-errno).

    Bad:  .\\" mmsem: ignore MM999
    Good: .\\" mmsem: ignore MM201
    """
    for suppression in suppressions(ctx.document):
        if suppression.verb not in VERBS:
            yield Report(suppression.origin, f"unknown mmsem comment {suppression.verb!r}: use ignore or ignore-page",
                         suppression.verb)
        elif suppression.unknown:
            for name in suppression.unknown:
                yield Report(suppression.origin, f"{name!r} is not a rule (mmsem lint --list-rules)", name)
        elif not suppression.rules:
            yield Report(suppression.origin, f"{suppression.verb} names no rule", suppression.verb)
