"""The style rules (MM5xx) on the lines a patch adds, each with the cases it must and must not report."""

from __future__ import annotations

import difflib

import pytest

from mmsem.cli import main
from mmsem.manpages.lint import Linter
from mmsem.manpages.patch import Reviewer
from mmsem.manpages.patch_input import parse_patches

PAGE = """\
.TH TEST 2 2026-01-02 "mmsem tests"
.SH NAME
test \\- a page for style tests
.SH DESCRIPTION
First paragraph.
.PP
Second paragraph.
""".splitlines()
INSERTED_AT = 5  # new lines come after "First paragraph."


@pytest.fixture(scope="module")
def linter():
    return Linter(kernel_version="6.18", select=["style"])


@pytest.fixture
def base(tmp_path):
    (tmp_path / "man2").mkdir()
    (tmp_path / "man2" / "test.2").write_text("\n".join(PAGE) + "\n")
    return tmp_path


def review(linter, base, new_lines: list[str], page=PAGE) -> list[tuple]:
    """(rule, page line, column, message) of each finding on the inserted lines; lines count from 1."""
    after = page[:INSERTED_AT] + new_lines + page[INSERTED_AT:]
    diff = "\n".join(difflib.unified_diff(page, after, "a/man2/test.2", "b/man2/test.2", lineterm="")) + "\n"
    found = Reviewer(linter, str(base)).review(parse_patches(diff.encode(), "t.patch"))
    return [(f.finding.rule, f.finding.origin.line - INSERTED_AT, f.finding.origin.col, f.finding.message)
            for f in found]


def rules(findings) -> list[tuple]:
    return [(rule, line, col) for rule, line, col, _ in findings]


def test_semantic_newlines(linter, base):
    assert review(linter, base, ["The range is locked. Pages are faulted in."]) == [
        ("MM501", 1, 22, 'a sentence starts mid-line ("Pages are faulted ..."): start each sentence on a new '
                         'source line (semantic newlines)')]
    assert rules(review(linter, base, ["Since Linux 2.6. The flag is ignored."])) == [("MM501", 1, 18)]
    assert rules(review(linter, base, ['It said "stop." Then it stopped.'])) == [("MM501", 1, 17)]
    # abbreviations, initials, a sentence per line, and code are fine
    assert review(linter, base, ["Flags (e.g. MAP_LOCKED) and cf. NOTES matter.", "Ask J. Smith.",
                                 "One sentence.", "Another one.", ".EX", "x = 1; y = 2. Z = 3;", ".EE"]) == []


def test_blank_lines(linter, base):
    assert review(linter, base, ["Third paragraph.", ""]) == [
        ("MM502", 2, 1, "blank line in the roff source: separate paragraphs with .PP, or remove the line")]
    assert review(linter, base, [".EX", "int a;", "", "int b;", ".EE"]) == []
    assert review(linter, base, [".PP", "Third paragraph."]) == []


def test_cross_references(linter, base):
    assert review(linter, base, ["See", ".BR mlock (2)", ", and so on."]) == [
        ("MM503", 3, 1, 'the "," after mlock(2) starts the next line, so it is set after a space: write '
                        '".BR mlock (2),"')]
    assert review(linter, base, ["See", ".BR mlock (2) ."]) == [
        ("MM503", 2, 15, 'the "." after mlock(2) is a third argument, set in bold: write ".BR mlock (2)."')]
    assert review(linter, base, ["See", ".B mlock(2)."]) == [
        ("MM503", 2, 1, 'write the reference to mlock(2) as ".BR mlock (2)": the name in bold, the section in '
                        'roman')]
    assert rules(review(linter, base, ["See", ".I mlock (2)"])) == [("MM503", 2, 1)]
    assert rules(review(linter, base, [r"See \fBmlock\fP(2) too."])) == [("MM503", 1, 5)]
    assert review(linter, base, ["See", ".BR mlock (2),", "and", ".BR mmap ()", "and", ".BR mlock (2)",
                                 "and so on."]) == []


def test_since_notes(linter, base):
    bold = review(linter, base, [".TP", ".B MAP_FOO (since Linux 3.7)", "Text."])
    assert bold == [("MM504", 2, 12, 'the version note is set in bold or italics: write it as a roman argument '
                                     'with a leading space, " (since Linux 3.7)" (.BR NAME " (since Linux 3.7)")')]
    assert rules(review(linter, base, [".TP", '.BR MAP_FOO "(since Linux 3.7)"', "Text."])) == [("MM504", 2, 14)]
    assert review(linter, base, [".TP", ".BR MAP_FOO (since Linux 3.7)", "Text."])[0][3].startswith(
        "the version note is split into several arguments")
    assert review(linter, base, ["It came (since kernel v3.7)."]) == [
        ("MM504", 1, 9, 'write the version note as "(since Linux 3.7)", not "(since kernel v3.7)"')]
    assert rules(review(linter, base, ["It came (Since Linux 3.7)."])) == [("MM504", 1, 9)]
    assert rules(review(linter, base, ["It came (since glibc 2.27 )."])) == [("MM504", 1, 9)]
    assert review(linter, base, [".TP", '.BR MAP_FOO " (since Linux 3.7)"', "Text (since Linux 2.6.23; see NOTES).",
                                 "(Since Linux 2.6, the flag is ignored.)", "It is there (since glibc 2.27)."]) == []


def test_preferred_terms(linter, base):
    assert review(linter, base, ["Give a bitmask on the file system."]) == [
        ("MM505", 1, 8, 'man-pages(7) prefers "bit mask" to "bitmask"'),
        ("MM505", 1, 23, 'man-pages(7) prefers "filesystem" to "file system"')]
    assert [message for *_, message in review(linter, base, ["The current process has 64bit words on this OS."])] == [
        'man-pages(7) prefers "calling process" to "current process"',
        'man-pages(7) prefers "64-bit" to "64bit"', 'man-pages(7) prefers "operating system" to "OS"']
    assert review(linter, base, ["See setuid(2), CLOCK_REALTIME, a bit mask and the filesystem.",
                                 "Use chaos for os."]) == []


def test_only_new_text_is_judged(linter, base):
    old = PAGE[:INSERTED_AT] + ["Give a bitmask."] + PAGE[INSERTED_AT:]
    (base / "man2" / "test.2").write_text("\n".join(old) + "\n")
    # the line moves two lines down: not new
    moved = old[:INSERTED_AT] + old[INSERTED_AT + 1:INSERTED_AT + 3] + ["Give a bitmask."] + old[INSERTED_AT + 3:]
    diff = "\n".join(difflib.unified_diff(old, moved, "a/man2/test.2", "b/man2/test.2", lineterm="")) + "\n"
    assert Reviewer(linter, str(base)).review(parse_patches(diff.encode(), "t.patch")) == []
    # a removed line is not reviewed
    removed = old[:INSERTED_AT] + old[INSERTED_AT + 1:]
    diff = "\n".join(difflib.unified_diff(old, removed, "a/man2/test.2", "b/man2/test.2", lineterm="")) + "\n"
    assert Reviewer(linter, str(base)).review(parse_patches(diff.encode(), "t.patch")) == []


def test_mmsem_lint_does_not_run_them_on_whole_pages(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "test.2"
    page.write_text("\n".join(PAGE[:INSERTED_AT] + ["A bitmask. Then", ""] + PAGE[INSERTED_AT:]) + "\n")
    assert main(["lint", "--kernel-version", "6.18", "--select", "style", str(page)]) == 0
    assert capsys.readouterr().out == ""
