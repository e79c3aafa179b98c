"""Exact findings on the installed man-pages 6.03 pages, judged against Linux 6.18.

Each finding was checked against the page and the kernel facts (shared/FACTS.md);
the comment says why it holds, or which side is short when page and spec disagree
over something real that the spec does not (yet) know.
"""

from __future__ import annotations

import gzip
import os

import pytest

from mmsem.manpages.lint import Linter

MAN2 = "/usr/share/man/man2"

EXPECTED = {
    "mlock": [
        # munlock never faults pages in, so it cannot fail with EAGAIN (FACTS B.12).
        ("MM202", 172, 4, "munlock/EAGAIN"),
    ],
    "mmap": [
        # MAP_DROPPABLE came in 6.11; the 6.03 page predates it.
        ("MM203", 116, 4, "MAP_DROPPABLE"),
        # MAP_SHARED_VALIDATE with an unknown flag fails with EOPNOTSUPP; ERRORS omits it.
        ("MM201", 499, 5, "mmap/EOPNOTSUPP"),
        # (ENFILE, ENODEV and ETXTBSY are real errors the spec declares as left out of
        # the model.)
    ],
    "mremap": [
        # Sealed mappings (6.10) and MREMAP_FIXED below mmap_min_addr give EPERM.
        ("MM201", 152, 5, "mremap/EPERM"),
    ],
    "mprotect": [
        # (PROT_SAO is PowerPC's; the spec declares it as another architecture's.)
        # Sealed mappings give EPERM since 6.10.
        ("MM201", 131, 5, "mprotect/EPERM"),
    ],
    "madvise": [
        # MADV_DONTNEED_LOCKED came in 5.18; the 6.03 page predates it.
        ("MM203", 94, 4, "MADV_DONTNEED_LOCKED"),
        # The page lists EHWPOISON after EPERM. (EBADF, EBUSY, EIO and EHWPOISON are
        # real errors the spec declares as left out of the model.)
        ("MM103", 827, 4, "EHWPOISON"),
    ],
    "brk": [],
    "fork": [],
}


def _page(name: str) -> str:
    path = os.path.join(MAN2, f"{name}.2.gz")
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed")
    with gzip.open(path, "rt", errors="replace") as f:
        head = f.read(4096)
    if "Linux man-pages 6.03" not in head:
        pytest.skip(f"{path} is not the man-pages 6.03 page these findings were checked on")
    return path


FAMILIES = ["structure", "coverage", "synopsis"]  # claim rules are tested on these pages apart


@pytest.fixture(scope="module")
def linter():
    return Linter("6.18", select=FAMILIES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_installed_page_findings(linter, name):
    findings = linter.lint_paths([_page(name)])
    assert [(f.rule, f.origin.line, f.origin.col, f.subject) for f in findings] == EXPECTED[name]


def test_a_link_is_linted_as_its_target():
    linter = Linter("6.18", select=FAMILIES)
    mmap = _page("mmap")
    munmap = os.path.join(MAN2, "munmap.2.gz")
    findings = linter.lint_paths([mmap, munmap])
    assert len(findings) == len(EXPECTED["mmap"])
    assert linter.pages == 1
