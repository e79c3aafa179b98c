"""Apply the hunks of one file diff to a page's lines, in memory, remembering every line.

A hunk applies where its context and removed lines match the page exactly. Like
``git apply``, a hunk may sit at another line than its header says (the page has
moved on since the patch was made, or the installed page is another release):
the match nearest to the expected place wins, and no hunk may start before the end
of the previous one. There is no fuzz: context is never dropped to make a hunk fit.
A hunk that matches nowhere is a :class:`~.patch_input.PatchError` naming the hunk
and the page line it was expected at.

The result keeps both coordinates of every line of the patch: ``old`` (the page before)
and ``new`` (after), so findings on the patched page map back to the patch file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .patch_input import FileDiff, PatchError


@dataclass(frozen=True)
class Change:
    """One line of a hunk, placed in both versions of the page.

    A removed line's ``new`` is the line that follows the removal in the patched page,
    an added line's ``old`` the page line it was inserted before: both say where the
    change sits in a version that does not hold the line itself.
    """

    kind: str  # "+", "-" or " "
    text: str
    old: int
    new: int
    patch_line: int


@dataclass
class Applied:
    before: list[str]
    after: list[str]
    changes: list = field(default_factory=list)  # Change, in patch order

    @property
    def added(self) -> dict:
        """{line in the patched page: Change} for every added line."""
        return {c.new: c for c in self.changes if c.kind == "+"}

    @property
    def removed(self) -> dict:
        """{line in the page before: Change} for every removed line."""
        return {c.old: c for c in self.changes if c.kind == "-"}


def apply(lines: list[str], diff: FileDiff, source: str) -> Applied:
    """The page `lines` with the hunks of `diff` applied; `source` names the patch in errors."""
    out: list[str] = []
    changes: list[Change] = []
    pos = 0  # lines[:pos] are done
    drift = 0  # where hunks matched, relative to their headers
    for hunk in diff.hunks:
        expected = [line.text for line in hunk.lines if line.kind != "+"]
        # "-N,0" inserts after line N; otherwise the hunk starts at line N
        start = hunk.old_start if hunk.old_length == 0 else hunk.old_start - 1
        at = _find(lines, expected, start + drift, pos)
        if at is None:
            raise PatchError(source, hunk.header_line, 1,
                             f"hunk {hunk.number} of {diff.path} does not apply at page line {start + drift + 1}")
        drift = at - start
        out.extend(lines[pos:at])
        old = at
        for line in hunk.lines:
            if line.kind == "+":
                out.append(line.text)
                changes.append(Change("+", line.text, old + 1, len(out), line.patch_line))
            elif line.kind == "-":
                old += 1
                changes.append(Change("-", line.text, old, len(out) + 1, line.patch_line))
            else:
                old += 1
                out.append(line.text)
                changes.append(Change(" ", line.text, old, len(out), line.patch_line))
        pos = old
    out.extend(lines[pos:])
    return Applied(list(lines), out, changes)


def _find(lines: list[str], expected: list[str], want: int, lowest: int) -> int | None:
    """The start nearest to `want` (not before `lowest`) where `expected` matches `lines`."""
    highest = len(lines) - len(expected)
    if highest < lowest:
        return None
    want = min(max(want, lowest), highest)
    for distance in range(max(want - lowest, highest - want) + 1):
        for at in (want - distance, want + distance) if distance else (want,):
            if lowest <= at <= highest and lines[at:at + len(expected)] == expected:
                return at
    return None
