"""Exact structure of real installed pages: mlock.2, mmap.2 (and munmap.2, a link to it), madvise.2.

The pages are read at test time from /usr/share/man; nothing of their text is kept
here beyond identifiers, C declarations and positions. The positions are those of
the man-pages 6.03 release; a machine with other pages (or none) skips these tests
and says why, rather than failing on a packaging difference.
"""

from __future__ import annotations

import os
import re

import pytest

from mmsem.manpages.document import Origin
from mmsem.manpages.roff import read_page
from mmsem.manpages.source import read_text

MAN2 = "/usr/share/man/man2"
RELEASE = "Linux man-pages 6.03"


def installed(name: str) -> str:
    path = os.path.join(MAN2, name)
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed")
    text, _ = read_text(path)
    if not re.search(rf'^\.TH .*"{re.escape(RELEASE)}"', text, re.M):
        pytest.skip(f"{path} is not from {RELEASE}; the positions below are")
    return path


def at(path: str, line: int, col: int, via: Origin | None = None) -> Origin:
    return Origin(path, line, col, via)


# ------------------------------------------------------------------- mlock.2


def test_mlock_sections_and_names():
    doc = read_page(installed("mlock.2.gz"))
    assert [s.name for s in doc.sections] == [
        "NAME", "LIBRARY", "SYNOPSIS", "DESCRIPTION", "RETURN VALUE", "ERRORS",
        "VERSIONS", "STANDARDS", "NOTES", "BUGS", "SEE ALSO"]
    assert doc.names == ("mlock", "mlock2", "munlock", "mlockall", "munlockall")
    assert (doc.title, doc.man_section) == ("mlock", "2")
    assert doc.section("DESCRIPTION").subsections == [
        ("mlock(), mlock2(), and munlock()", at(doc.source, 43, 5)),
        ("mlockall() and munlockall()", at(doc.source, 92, 5))]
    assert doc.problems == []


def test_mlock_errors_entries():
    path = installed("mlock.2.gz")
    doc = read_page(path)
    ranged = ("mlock", "mlock2", "munlock")
    assert [(e.errno, e.scope, e.qualifiers, e.origin.line, e.origin.col) for e in doc.errors] == [
        ("EAGAIN", ranged, (), 172, 4),
        ("EINVAL", ranged, (), 179, 4),
        ("EINVAL", ("mlock2",), (), 190, 4),
        ("EINVAL", ("mlockall",), (), 194, 4),
        ("EINVAL", (), ("Not on Linux",), 203, 4),
        ("ENOMEM", ranged, (), 208, 4),
        ("ENOMEM", ranged, (), 216, 4),
        ("ENOMEM", (), ("Linux 2.6.9 and later",), 229, 4),
        ("ENOMEM", (), ("Linux 2.4 and earlier",), 237, 4),
        ("EPERM", (), (), 249, 4),
        ("EPERM", ("munlockall",), ("Linux 2.6.8 and earlier",), 254, 4),
    ]
    assert {e.origin.path for e in doc.errors} == {path}


def test_mlock_prototypes():
    path = installed("mlock.2.gz")
    doc = read_page(path)
    assert [(p.name, p.text, p.origin) for p in doc.prototypes] == [
        ("mlock", "int mlock(const void addr[.len], size_t len);", at(path, 17, 6)),
        ("mlock2", "int mlock2(const void addr[.len], size_t len, unsigned int flags);", at(path, 18, 6)),
        ("munlock", "int munlock(const void addr[.len], size_t len);", at(path, 20, 6)),
        ("mlockall", "int mlockall(int flags);", at(path, 22, 6)),
        ("munlockall", "int munlockall(void);", at(path, 23, 4)),
    ]


def test_mlock_since_note_of_mcl_onfault():
    path = installed("mlock.2.gz")
    doc = read_page(path)
    assert [(n.subject, n.version, n.origin) for n in doc.since] == [("MCL_ONFAULT", "4.4", at(path, 119, 19))]
    [tagged] = [p for p in doc.section("DESCRIPTION").paragraphs if p.tag and p.tag.text.startswith("MCL_ONFAULT")]
    assert (tagged.tag.text, tagged.tag.origin, tagged.subsection) == (
        "MCL_ONFAULT (since Linux 4.4)", at(path, 119, 5), "mlockall() and munlockall()")


# -------------------------------------------------------------------- mmap.2

MMAP_TAGS = [
    ("PROT_EXEC", 94), ("PROT_READ", 97), ("PROT_WRITE", 100), ("PROT_NONE", 103),
    ("MAP_SHARED", 116), ("MAP_SHARED_VALIDATE (since Linux 4.15)", 125), ("MAP_PRIVATE", 142),
    ("MAP_32BIT (since Linux 2.4.20, 2.6)", 162), ("MAP_ANON", 178), ("MAP_ANONYMOUS", 183),
    ("MAP_DENYWRITE", 208), ("MAP_EXECUTABLE", 216), ("MAP_FILE", 224), ("MAP_FIXED", 230),
    ("MAP_FIXED_NOREPLACE (since Linux 4.17)", 256), ("MAP_GROWSDOWN", 282),
    ("MAP_HUGETLB (since Linux 2.6.32)", 296), ("MAP_HUGE_2MB, MAP_HUGE_1GB (since Linux 3.8)", 302),
    ("MAP_LOCKED (since Linux 2.5.37)", 330), ("MAP_NONBLOCK (since Linux 2.5.46)", 351),
    ("MAP_NORESERVE", 368), ("MAP_POPULATE (since Linux 2.5.46)", 383), ("MAP_STACK (since Linux 2.6.27)", 396),
    ("MAP_SYNC (since Linux 4.15)", 416), ("MAP_UNINITIALIZED (since Linux 2.6.33)", 437),
]


def mmap_structure(doc) -> dict:
    description = doc.section("DESCRIPTION")
    return {
        "sections": [s.name for s in doc.sections],
        "subsections": [name for name, _ in description.subsections],
        "tags": [(p.tag.text, p.tag.origin.line) for p in description.paragraphs if p.kind == "tagged"],
        "names": doc.names,
        "prototypes": [(p.name, p.text, p.origin.line, p.origin.col) for p in doc.prototypes],
    }


def test_mmap_flags_are_tagged_paragraphs_of_description():
    path = installed("mmap.2.gz")
    doc = read_page(path)
    structure = mmap_structure(doc)
    assert structure["tags"] == MMAP_TAGS
    assert structure["subsections"] == ["The flags argument", "munmap()"]
    assert structure["names"] == ("mmap", "munmap")
    assert structure["prototypes"] == [
        ("mmap", "void *mmap(void addr[.length], size_t length, int prot, int flags, int fd, off_t offset);", 31, 6),
        ("munmap", "int munmap(void addr[.length], size_t length);", 34, 6),
    ]
    assert (doc.path, doc.source) == (path, path)
    assert all(s.origin.via is None for s in doc.sections)
    # the continuation of MAP_FIXED (.IP) belongs to its item; the next item does not
    description = doc.section("DESCRIPTION").paragraphs
    continuation = next(p for p in description if p.body.origin.line == 248)
    assert continuation.item.tag.text == "MAP_FIXED"
    assert [p.kind for p in description if p.item is not None and p.item.tag.text.startswith("MAP_HUGE_2MB")] == [
        "plain", "literal", "plain"]


def test_munmap_is_the_mmap_document_read_through_its_link():
    mmap = installed("mmap.2.gz")
    munmap = os.path.join(MAN2, "munmap.2.gz")
    if not os.path.exists(munmap):
        pytest.skip(f"{munmap} is not installed")
    doc = read_page(munmap)
    direct = read_page(mmap)
    assert (doc.path, doc.source) == (munmap, mmap)
    assert mmap_structure(doc) == mmap_structure(direct)
    via = at(munmap, 1, 1)  # Debian links the file; a page holding ".so man2/mmap.2" gives its line
    assert doc.sections[0].origin == at(mmap, 22, 5, via)
    assert doc.prototypes[1].origin == at(mmap, 34, 6, via)
    assert {n.origin.via for n in doc.since} == {via}


def test_mmap_errors_and_since_notes():
    path = installed("mmap.2.gz")
    doc = read_page(path)
    assert [(e.errno, e.origin.line) for e in doc.errors] == [
        ("EACCES", 501), ("EAGAIN", 519), ("EBADF", 523), ("EEXIST", 529), ("EINVAL", 539),
        ("EINVAL", 547), ("EINVAL", 552), ("ENFILE", 560), ("ENODEV", 568), ("ENOMEM", 572),
        ("ENOMEM", 575), ("ENOMEM", 583), ("ENOMEM", 591), ("EOVERFLOW", 596), ("EPERM", 608),
        ("EPERM", 617), ("EPERM", 621), ("ETXTBSY", 633)]
    assert [e.qualifiers for e in doc.errors if e.qualifiers] == [("since Linux 2.6.12",), ("since Linux 4.7",)]
    assert [(n.subject, n.version, n.origin.line, n.origin.col) for n in doc.since] == [
        ("MAP_SHARED_VALIDATE", "4.15", 125, 27), ("MAP_32BIT", "2.4.20", 162, 17),
        ("MAP_FIXED_NOREPLACE", "4.17", 256, 27), ("MAP_HUGETLB", "2.6.32", 296, 19),
        ("MAP_HUGE_2MB", "3.8", 302, 38), ("MAP_HUGE_1GB", "3.8", 302, 38),
        ("MAP_LOCKED", "2.5.37", 330, 18), ("MAP_NONBLOCK", "2.5.46", 351, 20),
        ("MAP_POPULATE", "2.5.46", 383, 20), ("MAP_STACK", "2.6.27", 396, 17),
        ("MAP_SYNC", "4.15", 416, 16), ("MAP_UNINITIALIZED", "2.6.33", 437, 25),
        ("EINVAL", "2.6.12", 548, 1), ("ENOMEM", "4.7", 584, 1)]


# ----------------------------------------------------------------- madvise.2


def test_madvise_tags_and_since_notes():
    path = installed("madvise.2.gz")
    doc = read_page(path)
    description = doc.section("DESCRIPTION")
    tags = {p.tag.text: (p.tag.origin.line, p.subsection) for p in description.paragraphs if p.kind == "tagged"}
    assert tags["MADV_NORMAL"] == (94, "Conventional advice values")
    assert tags["MADV_DONTNEED"] == (111, "Conventional advice values")
    assert tags["MADV_REMOVE (since Linux 2.6.16)"] == (164, "Linux-specific advice values")
    assert tags["MADV_COLLAPSE (since Linux 6.1)"] == (405, "Linux-specific advice values")
    assert len(tags) == 24
    since = {n.subject: (n.version, n.origin) for n in doc.since}
    assert since["MADV_REMOVE"] == ("2.6.16", at(path, 164, 19))
    assert since["MADV_FREE"] == ("4.5", at(path, 501, 17))
    assert since["MADV_COLLAPSE"] == ("6.1", at(path, 405, 21))
    assert since["MADV_POPULATE_WRITE"] == ("5.14", at(path, 632, 27))
    assert len(doc.since) == 19 and "MADV_NORMAL" not in since
    assert [(e.errno, e.qualifiers) for e in doc.errors if e.qualifiers] == [
        ("EBUSY", ("for MADV_COLLAPSE",)), ("EIO", ("for MADV_WILLNEED",)),
        ("ENOMEM", ("for MADV_WILLNEED",)), ("ENOMEM", ("for MADV_COLLAPSE",))]
    assert doc.problems == []
