"""lint-patch never points at a line the patch leaves alone.

Random patches to the installed mmap.2 and mlock.2: lines inserted, deleted and
replaced, drawn from the page's own lines and from sentences that set rules off
(claims, style slips, ERRORS and flag tags). Each patch is a real unified diff
(difflib); unidiff, read independently of lint-patch, says which lines it adds and
removes. Every finding on an added line must name that line in both coordinates, and
every removal finding must sit on a removed line of the patch.
"""

from __future__ import annotations

import difflib
import gzip
import os

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from unidiff import PatchSet

from mmsem.manpages.lint import Linter
from mmsem.manpages.patch import Reviewer
from mmsem.manpages.patch_input import parse_patches

MAN2 = "/usr/share/man/man2"
PAGES = ("mmap", "mlock")

#: Lines that make rules fire, in our words.
SENTENCES = (
    "The range is locked. Then the call returns.",
    "",
    ".BR mmap ()",
    "fails with",
    ".B ENOMEM",
    "when the range cannot be populated.",
    "MAP_LOCKED guarantees that all pages of the mapping are resident when mmap() returns.",
    "The call does not fail if the range cannot be populated, so major faults may happen later.",
    ".TP",
    ".B EPERM",
    ".B MAP_LOCKED",
    ".BR MAP_LOCKED \" (since Linux 2.5.37)\"",
    ".B MAP_FOO (since kernel 6.1)",
    "Set a bitmask in the file system.",
    ".BR mlock (2)",
    ", and so on.",
    ".SH ERRORS",
    ".PP",
)


def _page(name: str) -> list[str]:
    path = os.path.join(MAN2, f"{name}.2.gz")
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("base")
    (base / "man2").mkdir()
    pages = {}
    for name in PAGES:
        pages[name] = _page(name)
        (base / "man2" / f"{name}.2").write_text("\n".join(pages[name]) + "\n", encoding="utf-8")
    return base, pages, Linter(kernel_version="6.18")


@st.composite
def edited(draw, lines: list[str]) -> list[str]:
    out = list(lines)
    pool = st.one_of(st.sampled_from(lines), st.sampled_from(SENTENCES))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(("insert", "delete", "replace")))
        # edits cluster in the parts where rules have most to say, and anywhere else
        at = draw(st.one_of(st.integers(0, len(out) - 1),
                            st.sampled_from([i for i, line in enumerate(out)
                                             if line.startswith((".SH", ".TP"))] or [0])))
        if op == "insert":
            out.insert(at, draw(pool))
        elif op == "delete":
            del out[at:at + draw(st.integers(1, 8))]
        else:
            out[at] = draw(pool)
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_findings_point_only_at_lines_the_patch_changes(world, data):
    base, pages, linter = world
    name = data.draw(st.sampled_from(PAGES))
    before = pages[name]
    after = data.draw(edited(before))
    diff = "\n".join(difflib.unified_diff(before, after, f"a/man2/{name}.2", f"b/man2/{name}.2",
                                          lineterm="")) + "\n"
    if diff.strip() == "":
        return
    note(diff)
    truth = PatchSet(diff.splitlines(keepends=True))
    added = {(line.target_line_no, line.diff_line_no) for hunk in truth[0] for line in hunk if line.is_added}
    removed = {line.diff_line_no for hunk in truth[0] for line in hunk if line.is_removed}

    findings = Reviewer(linter, str(base)).review(parse_patches(diff.encode(), "random.patch"))
    for f in findings:
        note(str(f))
        assert f.finding.origin.path == f"man2/{name}.2"
        if f.change == "added":
            assert (f.finding.origin.line, f.patch_line) in added, str(f)
            assert f.patch_col == f.finding.origin.col + 1
        else:
            assert f.change == "removed" and f.patch_line in removed, str(f)
            assert f.patch_col == 2
            assert 1 <= f.finding.origin.line <= max(len(after), 1)
