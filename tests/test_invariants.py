"""The state invariants themselves: each one catches a hand-made violation, by name.

States are built through the engine where that is easy (mmap, mlock) and then
broken by hand, so each test shows exactly the message a violation produces.
"""

from __future__ import annotations

import pytest

from mmsem.semantics.runner import steps_on
from mmsem.semantics.config import Config
from mmsem.semantics.engine import MAIN, Engine
from mmsem.semantics.invariants import INVARIANTS, check_invariants, invariant
from mmsem.semantics.layout import ARENA_BASE
from mmsem.semantics.state import (
    HPAGE_SIZE,
    PAGE_SHIFT,
    VM_HUGETLB,
    VM_LOCKED,
    VM_LOCKONFAULT,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
    MemObject,
    Vma,
)
from mmsem.semantics.trace import parse_trace

ENGINE = Engine()
P = 4096
A = ARENA_BASE
RW = VM_READ | VM_WRITE


def system(kernel: str = "6.18", pool: int = 0):
    return ENGINE.new_system(Config(kernel=kernel, hugetlb_pages=pool), {})


def mm_of(sys_):
    return sys_.processes[MAIN].mm


def test_registry_order_and_names():
    assert list(INVARIANTS) == ["vmas-sorted-disjoint", "resident-within-mappings", "onfault-implies-locked",
                                "locked-vm-matches-mappings", "locked-vm-within-limit", "huge-pool-consistent",
                                "huge-pool-accounted"]
    assert INVARIANTS["huge-pool-consistent"].doc.startswith("The huge page pool satisfies 0 <= reserved")


def test_registration_fails_fast():
    def check_vmas_sorted_disjoint(system):
        """Again."""
        yield from ()

    def vmas_ok(system):
        """No prefix."""
        yield from ()

    def check_undocumented(system):
        yield from ()

    with pytest.raises(ValueError, match="^invariant 'vmas-sorted-disjoint' is registered twice$"):
        invariant(check_vmas_sorted_disjoint)
    with pytest.raises(ValueError, match="^invariant functions are named check_<name>, not vmas_ok$"):
        invariant(vmas_ok)
    with pytest.raises(ValueError, match="^invariant 'undocumented' needs a docstring"):
        invariant(check_undocumented)
    assert len(INVARIANTS) == 7


def test_fresh_system_is_clean():
    assert check_invariants(system()) == []


def test_vmas_sorted_disjoint():
    s = system()
    mm_of(s).vmas = [Vma(A, A + 4 * P, RW), Vma(A + 2 * P, A + 6 * P, RW), Vma(A + 8 * P, A + 8 * P, RW),
                     Vma(A + 9 * P + 1, A + 10 * P, RW)]
    assert check_invariants(s) == [
        "vmas-sorted-disjoint: main: mapping 1 [0x100000002000, 0x100000006000) overlaps or precedes "
        "mapping 0 [0x100000000000, 0x100000004000)",
        "vmas-sorted-disjoint: main: mapping 2 [0x100000008000, 0x100000008000) is empty",
        "vmas-sorted-disjoint: main: mapping 3 [0x100000009001, 0x10000000a000) is not page aligned",
    ]


def test_resident_within_mappings():
    s = system()
    mm = mm_of(s)
    mm.vmas = [Vma(A, A + 2 * P, RW)]
    mm.resident = {A >> PAGE_SHIFT, (A >> PAGE_SHIFT) + 2, (A >> PAGE_SHIFT) + 5}
    assert check_invariants(s) == [
        "resident-within-mappings: main: page 0x100000002000 is resident but not mapped (and 1 more)"]


def test_onfault_implies_locked():
    s = system()
    mm = mm_of(s)
    mm.vmas = [Vma(A, A + P, RW | VM_LOCKONFAULT)]
    mm.def_flags = VM_LOCKONFAULT
    mm.outside.lock_flags = VM_LOCKONFAULT
    assert check_invariants(s) == [
        "onfault-implies-locked: main: mapping 0 [0x100000000000, 0x100000001000) has VM_LOCKONFAULT "
        "without VM_LOCKED",
        "onfault-implies-locked: main: def_flags has VM_LOCKONFAULT without VM_LOCKED",
        "onfault-implies-locked: main: the mappings outside the arena have VM_LOCKONFAULT without VM_LOCKED",
    ]


def test_locked_vm_counts_mappings_and_the_outside_part():
    s = system()
    mm = mm_of(s)
    mm.vmas = [Vma(A, A + 3 * P, RW | VM_LOCKED), Vma(A + 4 * P, A + 5 * P, RW)]
    mm.outside.lockable_pages = 386  # summarised mappings (fillers), locked by mlockall
    mm.outside.lock_flags = VM_LOCKED
    mm.locked_vm = 3 + 386
    assert check_invariants(s) == []
    mm.locked_vm = 3
    assert check_invariants(s) == [
        "locked-vm-matches-mappings: main: locked_vm is 3 pages, expected 389 "
        "(3 in VM_LOCKED mappings + 386 outside the arena)"]


def test_locked_vm_may_exceed_before_4_9_but_not_fall_short():
    s = system("4.8")
    mm = mm_of(s)
    mm.vmas = [Vma(A, A + 3 * P, RW | VM_LOCKED)]
    mm.locked_vm = 6  # relocked once with another mode: charged twice
    assert check_invariants(s) == []
    mm.locked_vm = 2
    assert check_invariants(s) == [
        "locked-vm-matches-mappings: main: locked_vm is 2 pages, expected at least 3 "
        "(3 in VM_LOCKED mappings + 0 outside the arena)"]


def test_locked_vm_through_the_engine():
    # Relocking in another mode double-charges before 4.9 only (trait relock_not_recharged).
    trace = parse_trace(
        "steps:\n"
        "  - mmap: {len: 4p, prot: [PROT_READ], flags: [MAP_PRIVATE, MAP_ANONYMOUS]}\n"
        "    as: A\n"
        "  - mlock: {addr: A, len: 4p}\n"
        "  - mlock2: {addr: A, len: 2p, flags: [MLOCK_ONFAULT]}\n")
    for kernel, locked_vm in (("6.18", 4), ("4.8", 6)):
        s = system(kernel)
        for _, done in steps_on(ENGINE, s, trace):
            assert done.outcome.ok
        assert (mm_of(s).locked_vm, check_invariants(s)) == (locked_vm, [])


def test_locked_vm_within_limit():
    s = ENGINE.new_system(Config(kernel="6.18", privileged=False, rlimit_memlock=2 * P + 100), {})
    mm = mm_of(s)
    mm.vmas = [Vma(A, A + 3 * P, RW | VM_LOCKED)]
    mm.locked_vm = 3
    assert check_invariants(s) == [
        "locked-vm-within-limit: main: locked_vm is 3 pages, above RLIMIT_MEMLOCK (2 pages) without CAP_IPC_LOCK"]
    s.processes[MAIN].privileged = True
    assert check_invariants(s) == []


def test_huge_pool_consistent():
    s = system(pool=2)
    s.pool.reserved = 3
    assert check_invariants(s) == [
        "huge-pool-consistent: reserved 3, free 2, total 2: expected 0 <= reserved <= free <= total",
        "huge-pool-accounted: reserved is 3, but mappings and objects hold 0 reservations (0 private, 0 shared)",
    ]
    s.pool.reserved, s.pool.free = 0, 3
    assert check_invariants(s) == [
        "huge-pool-consistent: reserved 0, free 3, total 2: expected 0 <= reserved <= free <= total",
        "huge-pool-accounted: -1 huge pages are in use (total 2 - free 3), but mappings and objects hold 0 "
        "(0 private, 0 shared)",
    ]


def test_huge_pool_accounted():
    s = system(pool=4)
    mm = mm_of(s)
    private = Vma(A, A + 2 * HPAGE_SIZE, RW | VM_HUGETLB, MemObject("anon", 2 * HPAGE_SIZE, True, True))
    private.resv = {1}
    mm.vmas = [private]
    mm.resident = set(range(A >> PAGE_SHIFT, (A + HPAGE_SIZE) >> PAGE_SHIFT))  # huge page 0 is in use
    s.pool.free, s.pool.reserved = 3, 1
    assert check_invariants(s) == []
    shared_obj = MemObject("H", HPAGE_SIZE, True)
    s.fds[1000] = shared_obj
    mm.vmas.append(Vma(A + 4 * HPAGE_SIZE, A + 5 * HPAGE_SIZE, RW | VM_HUGETLB | VM_SHARED, shared_obj))
    shared_obj.resv = {0}
    assert check_invariants(s) == [
        "huge-pool-accounted: reserved is 1, but mappings and objects hold 2 reservations (1 private, 1 shared)"]
    s.pool.reserved = 2
    shared_obj.resv, shared_obj.huge_pages = set(), {0}
    assert check_invariants(s) == [
        "huge-pool-accounted: reserved is 2, but mappings and objects hold 1 reservations (1 private, 0 shared)",
        "huge-pool-accounted: 1 huge pages are in use (total 4 - free 3), but mappings and objects hold 2 "
        "(1 private, 1 shared)",
    ]


def test_huge_page_shared_since_fork_is_counted_once():
    # Seed 4875740 of test_invariants_hold_after_every_step: after fork, parent and child map
    # the one private huge page of a pool of one until either writes to it.
    trace = parse_trace(
        "config: {hugetlb_pages: 1}\n"
        "steps:\n"
        "  - mmap: {len: 1h, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS, MAP_HUGETLB]}\n"
        "    as: A\n"
        "  - touch: {addr: A, write: true}\n"
        "  - fork: {}\n"
        "    as: child\n")
    s = system(pool=1)
    for _, done in steps_on(ENGINE, s, trace):
        assert done.outcome.ok
    assert (len(s.processes), s.pool.total - s.pool.free, check_invariants(s)) == (2, 1, [])


# -- engine bugs the invariants found -------------------------------------------------------

HUGETLB_FILE_TWICE = """\
config: {hugetlb_pages: 2}
files:
  H: {size: 1h, hugetlb: true}
steps:
  - mmap: {len: 1h, prot: [PROT_READ, PROT_WRITE], flags: [MAP_SHARED], fd: H}
  - mmap: {len: 1h, prot: [PROT_READ, PROT_WRITE], flags: [MAP_SHARED], fd: H}
"""


def test_second_shared_mapping_of_a_hugetlb_file_reserves_nothing():
    trace = parse_trace(HUGETLB_FILE_TWICE)
    s = ENGINE.new_system(trace.config, trace.files)
    for _, done in steps_on(ENGINE, s, trace):
        assert done.outcome.ok
        assert check_invariants(s) == []
    assert (s.pool.free, s.pool.reserved) == (2, 1)
