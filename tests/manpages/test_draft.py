"""mmsem draft: the pages it writes, read back, and judged by mandoc, groff and mmsem lint.

Every modelled page is drafted once per session. Each is parsed back with the
project's roff parser and checked against the spec directly (not through the
drafter's own queries): NAME lists the page's calls, SYNOPSIS holds their
prototypes, every flag of their flag sets has a tagged paragraph with the spec's
"since" version, and every errno the spec lets a call fail with has an ERRORS entry
that applies to that call. The house style is checked line by line (semantic
newlines, no over-long text lines, sections in man-pages order), and the page must
pass mandoc -Tlint and groff -ww as man-pages itself uses them.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmsem.manpages.draft import SECTION_ORDER, Drafter, literal_line, prototype_lines, with_subject, write
from mmsem.manpages.draft_roff import Vocabulary, fit, paragraph, pieces, sentences, styled_line
from mmsem.manpages.roff import parse_text
from mmsem.spec import InputError, default_spec

SPEC = default_spec()
PAGES = sorted({entry.page for entry in SPEC.syscalls.values() if entry.kind == "syscall" and entry.page})

#: What man-pages' own lint target filters out of `mandoc -man -Tlint` (its make rules grep
#: these away): the lower-case .TH title and the "(date)" placeholder man-pages keeps
#: in its sources, tbl macros mandoc cannot format, and three messages about markup
#: the drafts never use. Anything else mandoc says about a draft fails the test.
MANDOC_IGNORED = (
    "STYLE: lower case character in document title:",
    "UNSUPP: ignoring macro in table:",
    "WARNING: cannot parse date, using it verbatim: TH (date)",
    "WARNING: empty block: UR",
    'WARNING: missing date, using "": TH',
    "WARNING: undefined escape, printing literally: \\\\",
)


@pytest.fixture(scope="module")
def drafter() -> Drafter:
    return Drafter()


@pytest.fixture(scope="module")
def drafts(drafter) -> dict[str, str]:
    return {page: drafter.page(page) for page in PAGES}


def page_calls(page: str) -> list:
    return [entry for entry in SPEC.syscalls.values() if entry.kind == "syscall" and entry.page == page]


def spec_errnos(entry) -> set[str]:
    """The errnos a call can fail with, read from the spec here rather than through the drafter:
    checks, raises of effects, procedures, and rejects of its flag sets' values."""
    found, pending, seen = set(), [entry], set()
    while pending:
        record = pending.pop()
        for step in record.program:
            if step.op == "check" and step.errno:
                found.add(step.errno)
            for raised in step.raises:
                found.add(raised.errno)
            if step.op == "call" and step.id not in seen:
                seen.add(step.id)
                pending.append(SPEC.procedures[step.id])
    for arg in entry.args:
        name = arg.flagset or ("prot" if arg.kind == "prot" else None)
        for flag in SPEC.flagsets[name].flags if name in SPEC.flagsets else ():
            found.update(reject.errno for reject in flag.rejects)
    return found


def spec_flags(entry) -> list:
    out = []
    for arg in entry.args:
        name = arg.flagset or ("prot" if arg.kind == "prot" else None)
        if name in SPEC.flagsets:
            out.extend(SPEC.flagsets[name].flags)
    return out


def text_lines(source: str) -> list[tuple[int, str]]:
    """(line number, line) of the lines roff fills: not requests, comments, or no-fill blocks."""
    out, literal = [], False
    for number, line in enumerate(source.split("\n"), 1):
        if line.startswith((".nf", ".EX")):
            literal = True
        elif line.startswith((".fi", ".EE")):
            literal = False
        elif not literal and line and not line.startswith((".", "'")):
            out.append((number, line))
    return out


# ---------------------------------------------------------------------------- pages

def test_every_modelled_page_is_drafted(drafter):
    assert list(drafter.pages) == PAGES
    assert [entry.name for entry in drafter.pages["mlock.2"]] == ["mlock", "mlock2", "munlock", "mlockall",
                                                                 "munlockall"]
    assert [entry.name for entry in drafter.pages["mmap.2"]] == ["mmap", "munmap"]
    assert "touch.2" not in drafter.pages and "fork.2" not in drafter.pages  # pseudo-steps have no page


def test_names_resolve_to_pages(drafter):
    assert drafter.resolve("munlock") == "mlock.2"
    assert drafter.resolve("mlock.2") == "mlock.2"
    assert drafter.resolve("munmap") == "mmap.2"
    assert drafter.resolve("mlock") == "mlock.2"
    with pytest.raises(InputError) as info:
        drafter.resolve("mlok")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("mlok:1:1: not a modelled page or system call (did you mean mlock? known: brk, ")
    assert "munlockall" in message and "mmap.2" in message
    with pytest.raises(InputError, match="known: "):
        drafter.resolve("touch")


def test_drafting_is_deterministic(drafts):
    assert Drafter().page("mlock.2") == drafts["mlock.2"]


@pytest.mark.parametrize("page", PAGES)
def test_round_trip(page, drafts):
    doc = parse_text(drafts[page], page)
    calls = page_calls(page)
    assert doc.problems == []
    assert (doc.title, doc.man_section) == tuple(page.rsplit(".", 1))
    assert set(doc.names) == {entry.name for entry in calls}
    names = [section.name for section in doc.sections]
    assert names == sorted(names, key=SECTION_ORDER.index)
    for required in ("NAME", "LIBRARY", "SYNOPSIS", "DESCRIPTION", "RETURN VALUE", "SEE ALSO"):
        assert required in names
    # SYNOPSIS: the spec's prototypes, word for word.
    assert {p.name: p.text for p in doc.prototypes} == {e.name: " ".join(e.prototype.split()) for e in calls}
    # Flags: a tagged paragraph each, with the spec's "since".
    tagged = {m.group(0) for section in doc.sections for p in section.paragraphs if p.tag is not None
              for m in [re.match(r"[A-Z_0-9]+", p.tag.text)] if m}
    since = {(note.subject, note.version) for note in doc.since}
    for entry in calls:
        for flag in spec_flags(entry):
            assert flag.name in tagged, f"{page}: {flag.name} has no tagged paragraph"
            if flag.since:
                assert (flag.name, flag.since_text) in since, f"{page}: {flag.name} lacks its since note"
    # Errors: every errno each call can fail with, in an entry that applies to it.
    for entry in calls:
        for errno in spec_errnos(entry):
            assert any(e.errno == errno and (not e.scope or entry.name in e.scope) for e in doc.errors), \
                f"{page}: {entry.name}() can fail with {errno}, which ERRORS does not document for it"
    errnos = [e.errno for e in doc.errors]
    assert errnos == sorted(errnos)
    for e in doc.errors:
        assert set(e.scope) <= {entry.name for entry in calls}


def test_mlock_page_entries_are_scoped(drafts):
    """A page of several calls says which calls an entry is about; one about all has no prefix."""
    doc = parse_text(drafts["mlock.2"], "mlock.2")
    entries = [(e.errno, e.scope, e.qualifiers) for e in doc.errors]
    assert entries == [
        ("EAGAIN", ("mlock", "mlock2"), ()),
        ("EINVAL", ("mlock", "mlock2", "munlock"), ()),
        ("EINVAL", ("mlock2",), ()),
        ("EINVAL", ("mlockall",), ()),
        ("ENOMEM", ("mlock", "mlock2", "munlock"), ()),
        ("ENOMEM", ("mlock", "mlock2"), ()),
        ("ENOMEM", ("mlockall",), ()),
        ("ENOSYS", ("mlock2",), ("before Linux 4.4",)),
        ("EPERM", ("mlock", "mlock2"), ()),
        ("EPERM", ("mlockall",), ()),
    ]
    assert doc.section("DESCRIPTION").subsections[0][0] == "mlock()"
    assert [name for name, _ in doc.section("DESCRIPTION").subsections] == [
        "mlock()", "mlock2()", "munlock()", "mlockall()", "munlockall()"]
    single = parse_text(Drafter().page("mprotect.2"), "mprotect.2")
    assert all(e.scope == () for e in single.errors)


def test_mlock_page_sections(drafts):
    text = drafts["mlock.2"]
    assert '.BR MLOCK_ONFAULT " (since Linux 4.4)"' in text
    assert '.BR MCL_ONFAULT " (since Linux 4.4)"' in text
    assert ".RB ( mlockall ())\n" in text
    doc = parse_text(text, "mlock.2")
    assert [s.name for s in doc.sections] == [
        "NAME", "LIBRARY", "SYNOPSIS", "DESCRIPTION", "RETURN VALUE", "ERRORS", "VERSIONS", "STANDARDS",
        "HISTORY", "NOTES", "EXAMPLES", "SEE ALSO"]
    assert doc.section("LIBRARY").paragraphs[0].body.text == "Standard C library (libc, -lc)"
    history = " ".join(p.body.text for p in doc.section("HISTORY").paragraphs)
    assert history == ("Linux 4.4 added mlock2(), MLOCK_ONFAULT, and MCL_ONFAULT; "
                       "earlier kernels reject MLOCK_ONFAULT and MCL_ONFAULT with EINVAL.")
    versions = doc.section("VERSIONS").paragraphs
    assert [p.body.text.split(",")[0] for p in versions[:4]] == [
        "Since Linux 4.9", "Since Linux 4.9", "Since Linux 5.2", "Since Linux 6.11"]
    assert [(p.tag.text, p.body.text) for p in doc.section("STANDARDS").paragraphs] == [
        ("mlock()\nmunlock()\nmlockall()\nmunlockall()", "POSIX.1-2008."), ("mlock2()", "Linux.")]
    assert "FIXME" not in text


@pytest.mark.parametrize("page", PAGES)
def test_house_style(page, drafts):
    """Semantic newlines: one sentence per line (no sentence end inside a text line), no text
    line over 80 bytes, minus signs escaped, no inline font escapes in running text."""
    for number, line in text_lines(drafts[page]):
        assert len(line) <= 80, f"{page}:{number}: {len(line)} bytes"
        assert not re.search(r"[a-z)]\. [A-Z]", line), f"{page}:{number}: two sentences on one line: {line}"
        assert not re.search(r"(?<![\w\\])-\d", line), f"{page}:{number}: unescaped minus sign"
        assert "\\f" not in line, f"{page}:{number}: font escape in text"


# ---------------------------------------------------------------------------- formatters

@pytest.fixture(scope="module")
def draft_dir(drafts, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("drafts")
    for page, text in drafts.items():
        (directory / page).write_text(text)
    return directory


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("MMSEM_REQUIRE_KERNEL") == "1":
            pytest.fail(f"{name} is required in CI")
        pytest.skip(f"{name} is not installed")
    return path


@pytest.mark.parametrize("page", PAGES)
def test_mandoc_lint_is_clean(page, draft_dir):
    run = subprocess.run([tool("mandoc"), "-man", "-Tlint", str(draft_dir / page)], capture_output=True, text=True)
    messages = [line for line in (run.stdout + run.stderr).splitlines()
                if not any(ignored in line for ignored in MANDOC_IGNORED)]
    assert messages == []


@pytest.mark.parametrize("page", PAGES)
def test_groff_is_silent(page, draft_dir):
    run = subprocess.run([tool("groff"), "-man", "-t", "-ww", "-z", str(draft_dir / page)],
                         capture_output=True, text=True)
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")


@pytest.mark.parametrize("version", ["6.18", "4.3"])
def test_mmsem_lint_is_clean(draft_dir, version):
    """Judged against the newest kernel, and the oldest profile: entries about newer kernels
    carry their "(since Linux X)" qualifiers."""
    pages = [str(draft_dir / page) for page in PAGES]
    run = subprocess.run([sys.executable, "-m", "mmsem", "lint", "--kernel-version", version, *pages],
                         capture_output=True, text=True)
    assert (run.returncode, run.stdout) == (0, ""), run.stdout + run.stderr


# ---------------------------------------------------------------------------- the command

def mmsem(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmsem", *args], capture_output=True, text=True, cwd=cwd)


def test_draft_prints_the_page(drafts):
    run = mmsem("draft", "munlock")
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout == drafts["mlock.2"]


def test_draft_writes_a_file_and_refuses_to_replace_it(tmp_path, drafts):
    target = tmp_path / "mlock.2"
    assert mmsem("draft", "mlock2", "-o", str(target)).returncode == 0
    assert target.read_text() == drafts["mlock.2"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~current_umask())
    target.write_text("edited\n")
    run = mmsem("draft", "mlock2", "-o", str(target))
    assert (run.returncode, run.stdout, run.stderr) == (2, "", f"{target}:1:1: exists; use --force to replace it\n")
    assert target.read_text() == "edited\n"
    run = mmsem("draft", "mlock2", "-o", str(target), "--force")
    assert run.returncode == 0
    assert target.read_text() == drafts["mlock.2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlock.2"]  # no temporary file left behind


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_draft_all_writes_every_page(tmp_path, drafts):
    out = tmp_path / "man2"
    run = mmsem("draft", "--all", "-o", str(out))
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")
    assert sorted(p.name for p in out.iterdir()) == PAGES
    assert all((out / page).read_text() == drafts[page] for page in PAGES)
    for page in PAGES:
        (out / page).unlink()
    (out / "mmap.2").write_text("edited\n")
    run = mmsem("draft", "--all", "-o", str(out))
    assert (run.returncode, run.stderr) == (2, f"{out / 'mmap.2'}:1:1: exists; use --force to replace it\n")
    assert [p.name for p in out.iterdir()] == ["mmap.2"]  # nothing is written when one page would be replaced
    assert mmsem("draft", "--all", "-o", str(out), "--force").returncode == 0
    assert (out / "mmap.2").read_text() == drafts["mmap.2"]


@pytest.mark.parametrize("args, message", [
    (("nosuchcall",), "nosuchcall:1:1: not a modelled page or system call (known: brk, brk.2, "),
    ((), "draft:1:1: give a page or system call NAME, or --all (with -o DIR)"),
    (("mlock", "--all", "-o", "x"), "draft:1:1: give a page or system call NAME, or --all (with -o DIR)"),
    (("--all",), "draft:1:1: --all writes one file per page: give -o DIR"),
    (("mlock", "-o", "/nonexistent/dir/mlock.2"), "/nonexistent/dir/mlock.2:1:1: cannot write it: "),
    (("--all", "-o", "/proc/mmsem-drafts"), "/proc/mmsem-drafts:1:1: cannot make the directory: "),
])
def test_bad_input_is_one_line(args, message):
    run = mmsem("draft", *args)
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.startswith(message) and run.stderr.count("\n") == 1


def test_draft_all_within_two_seconds(tmp_path):
    """The whole command, interpreter start-up included, in CPU time: the wall clock of a shared
    CI machine depends on its load (benchmarks/draft.py reports both)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = mmsem("draft", "--all", "-o", str(tmp_path / "out"))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert run.returncode == 0
    assert cpu <= 2.0, f"mmsem draft --all took {cpu:.2f} s of CPU ({wall:.2f} s wall)"


def test_write_is_atomic(tmp_path):
    target = tmp_path / "page.2"
    write(target, "one\n")
    with pytest.raises(InputError, match="exists; use --force"):
        write(target, "two\n")
    write(target, "three\n", force=True)
    assert target.read_text() == "three\n"
    assert [p.name for p in tmp_path.iterdir()] == ["page.2"]


# ---------------------------------------------------------------------------- prose to roff

VOCABULARY = Vocabulary(functions={"mlock": "()", "mmap": "(2)"}, italic={"addr", "len", "flags", "errno"},
                        bold={"EINVAL"}, rename={"len": "length"})


def test_words_get_man_pages_fonts():
    lines = paragraph("Like mlock, but [addr, addr+len) with MAP_LOCKED|MAP_POPULATE (see mmap) and "
                      "mlockall(MCL_FUTURE | MCL_ONFAULT), VmLck in /proc/self/status and vm.max_map_count.",
                      VOCABULARY)
    assert lines == [
        "Like",
        ".BR mlock (),",
        "but",
        ".RI [ addr ,",
        ".IR addr + length )",
        "with",
        ".BR MAP_LOCKED | MAP_POPULATE",
        "(see",
        ".BR mmap (2))",
        "and",
        '.IR "mlockall(MCL_FUTURE | MCL_ONFAULT)" ,',
        ".I VmLck",
        "in",
        ".I /proc/self/status",
        "and",
        ".IR vm.max_map_count .",
    ]
    assert VOCABULARY.cited == {("mmap", "2")}


def test_an_argument_name_used_as_a_word_stays_roman():
    assert pieces("flags", VOCABULARY, "unknown") == [("flags", "R")]
    assert pieces("flags", VOCABULARY, "with") == [("flags", "I")]
    assert pieces("x86_64", VOCABULARY) == [("x86_64", "R")]
    assert pieces("-1", VOCABULARY) == [("-1", "R")]


def test_sentences_and_clauses_get_lines_of_their_own():
    assert sentences("One, e.g. this. Two (since Linux 5.2). three is lower.") == [
        "One, e.g. this.", "Two (since Linux 5.2).", "three is lower."]
    lines = paragraph("A first clause; a second: a third. -1 is returned.", VOCABULARY)
    assert lines == ["A first clause;", "a second:", "a third.", "\\-1 is returned."]
    assert paragraph("Ends with e.g.", VOCABULARY) == ["Ends with e.g.\\&"]
    assert styled_line([("a", "B"), ("b", "I"), ("c", "R")]) == "\\fBa\\fIb\\fRc\\fR"


def test_long_clauses_break_at_a_boundary():
    words = ("mappings before a hole in the range, and the whole range when faulting in fails, keep their lock "
             "and their charge to the locked memory").split()
    runs = [" ".join(run) for run in fit(words)]
    assert runs == ["mappings before a hole in the range, and the whole range when faulting in fails,",
                    "keep their lock and their charge to the locked memory"]
    words = "a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e f g h i j k l m n o p q r s".split()
    assert [len(" ".join(run)) for run in fit(words)] == [79, 9]  # no boundary: the last space that fits


def test_prototypes_in_bold_and_italic():
    mmap = SPEC.syscalls["mmap"].prototype
    assert prototype_lines(mmap) == [
        '.BI "void *mmap(void *" addr ", size_t " length ", int " prot ", int " flags ", int " fd ,',
        '.BI "           off_t " offset );',
    ]
    assert prototype_lines("int munlockall(void);") == [".B int munlockall(void);"]
    assert prototype_lines(SPEC.syscalls["mremap"].prototype)[-1].endswith('" new_address " */);"')


def test_descriptions_get_a_subject():
    assert with_subject("mlock", "Marks every mapping.") == "mlock() marks every mapping."
    assert with_subject("mlock2", "Like mlock, but with flags.") == "mlock2() is like mlock, but with flags."
    assert with_subject("mlockall", "MCL_CURRENT locks every mapping.") == "MCL_CURRENT locks every mapping."
    assert with_subject("brk", "The raw system call.") == "The raw system call."


def test_literal_lines_are_escaped():
    assert literal_line('printf("%d\\n", -1);') == 'printf("%d\\[rs]n", \\-1);'
    assert literal_line(".hidden") == "\\&.hidden"
