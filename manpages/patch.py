"""``mmsem lint-patch``: review a man-pages patch, or a series of them, before it is mailed.

    from mmsem.manpages.lint import Linter
    from mmsem.manpages.patch import Reviewer, read_patches
    reviewer = Reviewer(Linter(kernel_version="6.18"), base="~/src/man-pages")
    findings = reviewer.review(read_patches("0001-mmap.2-fix.patch"))

Each patch of the series is applied, in memory, to the page as the previous patches
left it (the first one to the page in ``--base DIR``, or to the installed page found
with ``man -w``). Both versions of the page are linted with the same
:class:`~.lint.Linter`, and a finding is reported when it is new after the patch:

* on a line the patch adds (or changes), at that line, with both coordinates: the
  line in the patched page and the line in the patch file;
* on a line the patch does not touch, when the patch removed what made the page
  right there: an ERRORS entry for an errno the spec lets the call fail with
  (MM201), the description of a flag of the spec (MM203), a "since" note (MM206), a
  statement of a must-know behaviour (MM402), or the text that qualified a claim
  (MM401, MM403). Such a finding is moved to the removed line that documented it
  (or, when nothing the patch removed documented it, to the change nearest to where
  the page documented it) and its message says so. Other findings on untouched lines
  are not the patch's doing as far as we can tell, and are left out.

"New" compares the findings of both versions as a multiset of (rule, subject,
message): text that a patch only moves or rewraps brings no finding along. The style
rules (MM5xx, :mod:`.checks.style`) review the added lines of the patched page and
the removed lines of the page before it, so that the same rule compares the same way.

A patch that deletes a page, or touches files that are not man pages, is not
reviewed there. Nothing is ever written.
"""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, replace

from mmsem.spec.source import InputError

from .checks.coverage import entry_applies, tagged_names
from .checks.style import Review, reviewing
from .document import Origin
from .lint import Linter, man_path
from .patch_apply import Applied, apply
from .patch_input import FileDiff, Patch, PatchError, read_patches
from .roff import parse_text
from .rules import Finding
from .source import read_text, split_lines

__all__ = ["PatchFinding", "Reviewer", "read_patches", "render"]

#: A page of the man-pages tree: man2/mmap.2, man/man2/mmap.2, man/man2const/MAP_FOO.2const.
_PAGE_RE = re.compile(r"(?:^|/)(man(\d)[a-z]*)/([^/]+)\.(\d[a-z]*)$")
#: Rules whose findings sit where a page should document something: when the patch
#: makes one appear on an untouched line, it is moved to what the patch removed.
_OMISSION_RULES = ("MM201", "MM203", "MM206", "MM402")
_CLAIM_RULES = ("MM401", "MM403")


def page_key(path: str) -> str | None:
    """The page a tree path names, as "man2/mmap.2" (None for files that are not pages)."""
    m = _PAGE_RE.search(path)
    if m is None or not m.group(4).startswith(m.group(2)):
        return None
    return f"{m.group(1)}/{m.group(3)}.{m.group(4)}"


@dataclass(frozen=True)
class PatchFinding:
    """A finding of the patched page, located in the page and in the patch."""

    finding: Finding  # origin: the page as the patch names it; line in the patched page
    patch: str  # the patch file ("<stdin>" for -)
    patch_line: int
    patch_col: int
    change: str  # "added": on a line the patch adds; "removed": at a line it removes

    def as_dict(self) -> dict:
        out = {}
        for key, value in self.finding.as_dict().items():
            out[key] = value
            if key == "column":
                out.update(patch=self.patch, patch_line=self.patch_line, patch_column=self.patch_col,
                           change=self.change)
        return out

    def __str__(self) -> str:
        f = self.finding
        return (f"{self.patch}:{self.patch_line}:{self.patch_col}: {f.severity}: {f.message} [{f.rule}] "
                f"({f.origin})")


class Base:
    """Where a page comes from before the first patch: a man-pages checkout, or the installed pages."""

    def __init__(self, directory: str | None = None):
        if directory is not None and not os.path.isdir(directory):
            raise InputError("--base", 1, 1, f"not a directory: {directory}")
        self.directory = directory

    def lint_path(self, path: str) -> str:
        """The path a page is linted under: ``.so`` requests resolve in its tree."""
        return os.path.join(self.directory, path) if self.directory else path

    def find(self, path: str, where: tuple) -> tuple[list, str]:
        """(lines, path read) of the unpatched page; a PatchError at `where` when there is none."""
        if self.directory is None:
            key = page_key(path)
            name, _, section = key.rpartition("/")[2].rpartition(".")
            found = man_path(name, section)
            if found is None:
                raise PatchError(*where, f"{path}: no installed page {name}({section}) to apply the patch to "
                                         f"(man -w {section} {name} finds none); name a man-pages tree with --base")
            return split_lines(read_text(found)[0]), found
        root = os.path.realpath(self.directory)
        alternative = path[len("man/"):] if path.startswith("man/") else f"man/{path}"
        for candidate in (path, path + ".gz", alternative, alternative + ".gz"):
            full = os.path.join(self.directory, candidate)
            if os.path.isfile(full) and os.path.realpath(full).startswith(os.path.join(root, "")):
                return split_lines(read_text(full)[0]), full
        raise PatchError(*where, f"{path}: no such page in {self.directory} to apply the patch to "
                                 f"(nor {alternative})")


class Reviewer:
    """One lint-patch run: the linter, the base, and the pages as the series has left them."""

    def __init__(self, linter: Linter, base: str | None = None):
        self.linter = linter
        self.base = Base(base)
        self.pages: dict = {}  # page key -> (lines, lint path), after the patches so far
        self.reviewed = 0  # page versions patched and reviewed

    def review(self, patches: list[Patch]) -> list[PatchFinding]:
        """The findings of a series, patch after patch; a PatchError if a patch does not apply."""
        out: list[PatchFinding] = []
        for patch in patches:
            for diff in patch.files:
                if diff.binary or page_key(diff.path) is None:
                    continue
                out.extend(self._review(patch, diff))
        return out

    def _review(self, patch: Patch, diff: FileDiff) -> list[PatchFinding]:
        old_key = page_key(diff.old_path) if diff.old_path else None
        new_key = page_key(diff.new_path) if diff.new_path else None
        if old_key is None:  # a new page
            lines, lint_path = [], self.base.lint_path(diff.new_path)
        elif old_key in self.pages:
            lines, lint_path = self.pages[old_key]
        else:
            lines, lint_path = self.base.find(diff.old_path, (patch.source, diff.header_line, 1))
        applied = apply(lines, diff, patch.source)
        self.pages.pop(old_key, None)
        if new_key is None:
            return []  # a deleted page: nothing left to review
        self.pages[new_key] = (applied.after, lint_path)
        self.reviewed += 1
        return _PageReview(self.linter, patch, diff.path, lint_path, applied).findings()


class _PageReview:
    """The findings one patch brings to one page."""

    def __init__(self, linter: Linter, patch: Patch, display: str, lint_path: str, applied: Applied):
        self.linter = linter
        self.patch = patch
        self.display = display
        self.lint_path = lint_path
        self.applied = applied
        self.added = applied.added
        self.removed = applied.removed
        self._before_doc = None

    def lint(self, lines: list, reviewed) -> list[Finding]:
        if not lines:
            return []
        with reviewing(Review(self.lint_path, frozenset(reviewed), tuple(lines))):
            found = self.linter.lint_text("\n".join(lines) + "\n", self.lint_path)
        return [f for f in found if f.origin.path == self.lint_path and f.origin.via is None]

    def findings(self) -> list[PatchFinding]:
        before = self.lint(self.applied.before, self.removed)
        after = self.lint(self.applied.after, self.added)
        counted = Counter(_key(f) for f in before)
        grouped = defaultdict(list)
        for f in after:
            grouped[_key(f)].append(f)
        removed_text = Counter(c.text for c in self.removed.values())
        out = []
        for key, found in grouped.items():
            extra = len(found) - counted[key]
            if extra <= 0:
                continue
            # When only some are new, the ones on lines the patch merely moved are the old ones.
            on_added = sorted((f for f in found if f.origin.line in self.added),
                              key=lambda f: self.added[f.origin.line].text in removed_text)
            for f in on_added[:extra]:
                change = self.added[f.origin.line]
                out.append(PatchFinding(self._here(f, f.origin.line, f.origin.col), self.patch.source,
                                        change.patch_line, f.origin.col + 1, "added"))
            elsewhere = [f for f in found if f.origin.line not in self.added]
            for f in elsewhere[:extra - len(on_added[:extra])]:
                moved = self.into_added(f) or self.relocate(f)
                if moved is not None:
                    out.append(moved)
        out.sort(key=lambda p: (p.patch_line, p.patch_col, p.finding.rule, p.finding.message))
        return out

    def into_added(self, f: Finding) -> PatchFinding | None:
        """A claim that starts on an untouched line but is made by words the patch adds
        (".BR mmap ()" kept, "fails with" added), placed on the first such line."""
        if f.rule not in _CLAIM_RULES:
            return None
        line = next((n for n in self.claim_lines(f) if n in self.added), None)
        if line is None:
            return None
        return PatchFinding(self._here(f, line, 1), self.patch.source, self.added[line].patch_line, 2, "added")

    def _here(self, f: Finding, line: int, col: int, message: str | None = None) -> Finding:
        origin = Origin(self.display, line, col)
        return replace(f, origin=origin, message=message or f.message)

    # -- findings the patch causes away from its lines ---------------------------------------

    def relocate(self, f: Finding) -> PatchFinding | None:
        """`f`, which appeared on an untouched line, moved to the change that caused it."""
        if f.rule not in _OMISSION_RULES + _CLAIM_RULES:
            return None
        anchors = self.anchors(f)
        if not anchors:
            return None
        change = next((self.removed[line] for line in anchors if line in self.removed), None)
        if change is None:
            changed = [c for c in self.applied.changes if c.kind != " "]
            if not changed:
                return None
            change = min(changed, key=lambda c: (abs(c.old - anchors[0]), c.kind != "-"))
        if f.rule in _CLAIM_RULES:
            prefix = f"leaves the claim at {self.display}:{f.origin.line} unqualified"
        elif change.kind == "-":
            prefix = "removes required documentation"
        else:
            prefix = "leaves required documentation out"
        line = change.new if change.kind == "+" else max(1, min(change.new, len(self.applied.after)))
        # column 1 of the page line is column 2 of the patch line, after its "+" or "-"
        return PatchFinding(self._here(f, line, 1, f"{prefix}: {f.message}"), self.patch.source,
                            change.patch_line, 2, "added" if change.kind == "+" else "removed")

    @property
    def before_doc(self):
        if self._before_doc is None:
            self._before_doc = parse_text("\n".join(self.applied.before) + "\n", self.lint_path)
        return self._before_doc

    def claims(self, doc):
        from mmsem.manpages.claims import PageClaims
        from mmsem.spec.properties import catalogue_for

        catalogue = catalogue_for(self.linter.spec.directory)
        return catalogue, PageClaims(doc, self.linter.spec, catalogue, self.linter.profile)

    def claim_lines(self, f: Finding) -> list[int]:
        """Lines of the patched page that hold the words of a claim finding, then the rest of its sentence."""
        _, claims = self.claims(parse_text("\n".join(self.applied.after) + "\n", self.lint_path))
        for denial in claims.denials():
            if f"({denial.property.id})" in f.message and denial.origin == f.origin:
                sentence, m = denial.sentence, denial.match
                words = _between(sentence.origin_at(m.start()), sentence.origin_at(m.end() - 1))
                whole = _between(sentence.origin_at(0), sentence.origin_at(len(sentence.text) - 1))
                return list(dict.fromkeys(words + whole))
        return []

    def anchors(self, f: Finding) -> list[int]:
        """Lines of the page before the patch that documented what `f` misses, best first."""
        doc = self.before_doc
        if f.rule == "MM201":
            call, _, errno = f.subject.partition("/")
            return [line for entry in doc.errors
                    if entry.errno == errno and (not entry.scope or call in entry.scope)
                    and entry_applies(entry, self.linter.profile)
                    for line in [entry.origin.line, *_span_lines(entry.body)]]
        if f.rule == "MM203":
            return [line for name, origin, paragraph in tagged_names(doc) if name == f.subject
                    for line in [origin.line, *_span_lines(paragraph.body)]]
        if f.rule == "MM206":
            return [note.origin.line for note in doc.since if note.subject == f.subject]
        return self.assertion_lines(f)

    def assertion_lines(self, f: Finding) -> list[int]:
        """Where the page before stated the property a claim finding names: the words that
        asserted it first, then the rest of those sentences."""
        catalogue, claims = self.claims(self.before_doc)
        prop = next((p for p in catalogue if f"({p.id})" in f.message), None)
        if prop is None:
            return []
        first, rest = [], []
        for passage in claims.passages:
            if not claims.about(prop, passage):
                continue
            for sentence in claims.sentences(passage):
                m = prop.assertion(sentence.text)
                if m is None:
                    continue
                first.extend(_between(sentence.origin_at(m.start()), sentence.origin_at(m.end() - 1)))
                rest.extend(_between(sentence.origin_at(0), sentence.origin_at(len(sentence.text) - 1)))
        return list(dict.fromkeys(first + rest))


def _key(f: Finding) -> tuple:
    return f.rule, f.subject, f.message


def _span_lines(span) -> list[int]:
    return list(dict.fromkeys(origin.line for _, origin in span.pieces if origin.via is None))


def _between(start: Origin, end: Origin) -> list[int]:
    return list(range(start.line, end.line + 1)) if start.path == end.path else [start.line]


# -- output ---------------------------------------------------------------------------------

def render(fmt: str, findings: list[PatchFinding], rules: list) -> str:
    """The findings in format `fmt` (text, json, sarif, github); `rules` are the rules that ran."""
    import json

    from . import output

    if fmt == "json":
        return json.dumps({"findings": [f.as_dict() for f in findings]}, indent=2)
    if fmt == "sarif":
        log = output.as_sarif([f.finding for f in findings], rules)
        for result, f in zip(log["runs"][0]["results"], findings):
            result["relatedLocations"] = [{
                "id": 1,
                "message": {"text": "the line in the patch"},
                "physicalLocation": {"artifactLocation": {"uri": _uri(f.patch)},
                                     "region": {"startLine": f.patch_line, "startColumn": f.patch_col}},
            }]
            result["properties"].update({"patch": f.patch, "patch_line": f.patch_line, "change": f.change})
        return json.dumps(log, indent=2)
    if fmt == "github":
        return "\n".join(output.github_line(f.finding) for f in findings)
    lines = []
    for f in findings:
        lines.append(str(f))
        evidence = f.finding.evidence
        if evidence is not None:
            where = f"{f.patch}:{f.patch_line}:{f.patch_col}"
            lines.append(f"{where}: note: {evidence.engine}")
            if evidence.kernel:
                lines.append(f"{where}: note: {evidence.kernel}")
    return "\n".join(lines)


def _uri(path: str) -> str:
    from urllib.parse import quote

    return quote(path)
