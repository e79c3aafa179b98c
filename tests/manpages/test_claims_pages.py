"""The claim rules on the installed man-pages 6.03 pages: the exact findings.

Every finding below was checked against FACTS.md, the kernel sources and the live
kernel; docs/lint-report.md gives the evidence and the judgement for each. The set is
exact: a new finding (true or false) or a lost one fails the test. munmap.2 is a link
to mmap.2 and is linted once, as mmap.2.
"""

from __future__ import annotations

import os
import re

import pytest

from mmsem.manpages.lint import Linter
from mmsem.manpages.source import read_text

MAN2 = "/usr/share/man/man2"
PAGES = ["mlock", "mmap", "munmap", "mremap", "mprotect", "madvise", "brk", "fork", "remap_file_pages"]
PATHS = [f"{MAN2}/{name}.2.gz" for name in PAGES]


def installed_603() -> bool:
    if not all(os.path.exists(path) for path in PATHS):
        return False
    text, _ = read_text(f"{MAN2}/mlock.2.gz")
    return bool(re.search(r'^\.TH .*"Linux man-pages 6\.03"', text, re.M))


pytestmark = pytest.mark.skipif(not installed_603(), reason="the man-pages 6.03 pages are not installed")

#: (rule, page, line, subject) of every claim finding, judged for Linux 6.18.
EXPECTED_6_18 = {
    ("MM402", "mlock.2.gz", 72, "MLOCK_ONFAULT"),  # mlock-onfault-charges-whole-range
    ("MM402", "mlock.2.gz", 93, "mlockall"),  # mlockall-limit-counts-address-space
    ("MM401", "mlock.2.gz", 99, "mlockall"),  # mlockall-ignores-populate-failure
    ("MM401", "mlock.2.gz", 115, "MCL_FUTURE"),  # mcl-future-spares-existing-mappings
    ("MM401", "mlock.2.gz", 164, "mlock"),  # mlock-failure-not-atomic
    ("MM401", "mmap.2.gz", 126, "MAP_SHARED_VALIDATE"),  # map-shared-validate-needs-file
    ("MM401", "mmap.2.gz", 286, "MAP_GROWSDOWN"),  # map-growsdown-returns-start
    ("MM401", "mmap.2.gz", 290, "MAP_GROWSDOWN"),  # map-growsdown-guard-gap
    ("MM402", "mmap.2.gz", 296, "MAP_HUGETLB"),  # hugetlb-private-cow-after-fork
    ("MM401", "mmap.2.gz", 373, "MAP_NORESERVE"),  # map-noreserve-fault-sigbus
    ("MM403", "mmap.2.gz", 554, "MAP_DROPPABLE"),  # map-droppable-is-a-type
    ("MM401", "mmap.2.gz", 689, "fork"),  # fork-drops-locks
    ("MM403", "mremap.2.gz", 107, "MREMAP_DONTUNMAP"),  # mremap-dontunmap-any-mapping
    ("MM403", "mremap.2.gz", 214, "MREMAP_DONTUNMAP"),  # mremap-dontunmap-any-mapping
    ("MM403", "madvise.2.gz", 749, "MADV_DONTNEED"),  # madvise-dontneed-hugetlb
    ("MM402", "brk.2.gz", 49, "brk"),  # brk-locked-under-mcl-future
    ("MM401", "fork.2.gz", 45, "MAP_HUGETLB"),  # hugetlb-private-cow-after-fork
}

#: Judged for Linux 5.1: the 5.2+, 5.13+, 5.18+ and 6.11+ properties do not apply, and
#: the page's rule that MCL_ONFAULT needs MCL_CURRENT or MCL_FUTURE was wrong then.
EXPECTED_5_1 = (EXPECTED_6_18 - {
    ("MM403", "mmap.2.gz", 554, "MAP_DROPPABLE"),
    ("MM403", "mremap.2.gz", 107, "MREMAP_DONTUNMAP"),
    ("MM403", "mremap.2.gz", 214, "MREMAP_DONTUNMAP"),
    ("MM403", "madvise.2.gz", 749, "MADV_DONTNEED"),
}) | {
    ("MM401", "mlock.2.gz", 139, "MCL_ONFAULT"),  # mlockall-onfault-alone-accepted
    ("MM401", "mlock.2.gz", 197, "MCL_ONFAULT"),  # mlockall-onfault-alone-accepted
}


def found(version: str, kernel=None) -> list:
    return Linter(version, select=["claims"], kernel=kernel).lint_paths(PATHS)


def keyed(findings) -> set:
    return {(f.rule, os.path.basename(f.origin.path), f.origin.line, f.subject) for f in findings}


def test_installed_pages_for_6_18():
    findings = found("6.18")
    assert keyed(findings) == EXPECTED_6_18
    assert len(findings) == len(EXPECTED_6_18)  # one finding per place


def test_installed_pages_for_5_1():
    assert keyed(found("5.1")) == EXPECTED_5_1


def test_munmap_is_linted_as_mmap():
    alone = Linter("6.18", select=["claims"]).lint_paths([f"{MAN2}/munmap.2.gz"])
    assert keyed(alone) == {k for k in EXPECTED_6_18 if k[1] == "mmap.2.gz"}


def test_every_finding_carries_the_witness_and_the_engine_outcome():
    for finding in found("6.18"):
        evidence = finding.evidence
        assert evidence is not None and evidence.trace.startswith("name: ")
        assert evidence.engine.startswith("engine (profile 6.18): ")
        assert evidence.engine.endswith("; every expectation met")
        assert evidence.kernel is None


def test_the_live_kernel_confirms_every_finding(live_kernel):
    if live_kernel.profile_name != "6.18":
        pytest.skip(f"the findings are judged for 6.18; this kernel is {live_kernel.name}")
    findings = found("6.18", live_kernel)
    assert keyed(findings) == EXPECTED_6_18
    for finding in findings:
        assert finding.evidence.kernel.startswith(f"{live_kernel.name}: ")
        assert finding.evidence.kernel.endswith("; every expectation met"), finding.evidence.kernel
