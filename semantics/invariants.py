"""Named invariants of the engine's state (STYLE.md principle 7).

Each invariant is a generator registered with :func:`invariant`; its name is the
function name without ``check_``, in kebab case, and it is the diagnostic id:
a failure reads ``vmas-sorted-disjoint: main: mapping 2 [0x..., 0x...) overlaps
mapping 1 ...``. The docstring says what the invariant means and why it holds.

The invariants state what every reachable state must satisfy, whatever the
trace did; the property tests run random traces and check them after every
step, so a violation points at the step (and the primitive) that broke it.

    from mmsem.semantics.invariants import check_invariants
    assert check_invariants(system) == []
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterator

from mmsem.semantics.state import (
    HPAGE_SIZE,
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_HUGETLB,
    VM_LOCKED,
    VM_LOCKONFAULT,
    VM_SHARED,
    Mm,
    System,
)

#: Invariant names: kebab case, as they appear in failure messages.
NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Invariant:
    name: str
    check: Callable[[System], Iterator[str]]
    doc: str


INVARIANTS: dict[str, Invariant] = {}


def invariant(fn: Callable[[System], Iterator[str]]) -> Callable[[System], Iterator[str]]:
    """Register ``check_<name>(system)``, which yields one detail per violation."""
    if not fn.__name__.startswith("check_"):
        raise ValueError(f"invariant functions are named check_<name>, not {fn.__name__}")
    name = fn.__name__[len("check_"):].replace("_", "-")
    if not NAME_RE.match(name):
        raise ValueError(f"invariant name {name!r} is not kebab case")
    if name in INVARIANTS:
        raise ValueError(f"invariant {name!r} is registered twice")
    if not fn.__doc__:
        raise ValueError(f"invariant {name!r} needs a docstring (it is the help text)")
    INVARIANTS[name] = Invariant(name, fn, fn.__doc__.strip())
    return fn


def check_invariants(system: System) -> list[str]:
    """Every violation in the state, as ``"name: detail"``, invariants in registration order."""
    return [f"{inv.name}: {detail}" for inv in INVARIANTS.values() for detail in inv.check(system)]


def _range(start: int, end: int) -> str:
    return f"[{start:#x}, {end:#x})"


def _mms(system: System) -> Iterator[tuple[str, Mm]]:
    for name, proc in system.processes.items():
        yield name, proc.mm


# -- the address space ----------------------------------------------------------------

@invariant
def check_vmas_sorted_disjoint(system: System) -> Iterator[str]:
    """Each process's mappings are non-empty, page aligned, sorted by address and disjoint.

    The lookups (bisect on start addresses) and every walk over mappings rely on it.
    """
    for proc, mm in _mms(system):
        previous = None
        for i, vma in enumerate(mm.vmas):
            where = f"{proc}: mapping {i} {_range(vma.start, vma.end)}"
            if vma.start % PAGE_SIZE or vma.end % PAGE_SIZE:
                yield f"{where} is not page aligned"
            if vma.start >= vma.end:
                yield f"{where} is empty"
            if previous is not None and previous.end > vma.start:
                yield f"{where} overlaps or precedes mapping {i - 1} {_range(previous.start, previous.end)}"
            previous = vma


@invariant
def check_resident_within_mappings(system: System) -> Iterator[str]:
    """Every resident page of a process lies inside one of its mappings.

    Unmapping zaps page tables; a page left present outside any mapping would show
    as resident where /proc/self/pagemap cannot.
    """
    for proc, mm in _mms(system):
        stray = sorted(page for page in mm.resident if mm.find(page << PAGE_SHIFT) is None)
        if stray:
            more = f" (and {len(stray) - 1} more)" if len(stray) > 1 else ""
            yield f"{proc}: page {stray[0] << PAGE_SHIFT:#x} is resident but not mapped{more}"


@invariant
def check_onfault_implies_locked(system: System) -> Iterator[str]:
    """VM_LOCKONFAULT never appears without VM_LOCKED.

    The kernel sets the pair together (mlock2(MLOCK_ONFAULT), mlockall(MCL_ONFAULT))
    and clears it together (VM_LOCKED_MASK); alone, VM_LOCKONFAULT means nothing.
    This holds for each mapping, for the default flags of new mappings
    (mm->def_flags) and for the lock mode of the mappings outside the arena.
    """
    for proc, mm in _mms(system):
        for i, vma in enumerate(mm.vmas):
            if vma.flags & VM_LOCKONFAULT and not vma.flags & VM_LOCKED:
                yield f"{proc}: mapping {i} {_range(vma.start, vma.end)} has VM_LOCKONFAULT without VM_LOCKED"
        if mm.def_flags & VM_LOCKONFAULT and not mm.def_flags & VM_LOCKED:
            yield f"{proc}: def_flags has VM_LOCKONFAULT without VM_LOCKED"
        if mm.outside.lock_flags & VM_LOCKONFAULT and not mm.outside.lock_flags & VM_LOCKED:
            yield f"{proc}: the mappings outside the arena have VM_LOCKONFAULT without VM_LOCKED"


@invariant
def check_locked_vm_matches_mappings(system: System) -> Iterator[str]:
    """mm.locked_vm is the number of pages in VM_LOCKED mappings, plus the outside part.

    The outside part (the process's own mappings beyond the arena) counts when
    mlockall(MCL_CURRENT) locked it. Kernels before 4.9 charge a range again when
    its lock mode changes from locked to locked-on-fault or back (the profile then
    lacks the trait relock_not_recharged), so there locked_vm may only exceed the
    count. Other over-counts of the kernel are not modelled yet, so everywhere
    else the count must be exact.
    """
    exact = "relock_not_recharged" in system.traits
    for proc, mm in _mms(system):
        in_mappings = sum(vma.pages for vma in mm.vmas if vma.flags & VM_LOCKED)
        outside = mm.outside.lockable_pages if mm.outside.lock_flags & VM_LOCKED else 0
        expected = in_mappings + outside
        if mm.locked_vm == expected or (not exact and mm.locked_vm > expected):
            continue
        relation = "" if exact else "at least "
        yield (f"{proc}: locked_vm is {mm.locked_vm} pages, expected {relation}{expected} "
               f"({in_mappings} in VM_LOCKED mappings + {outside} outside the arena)")


@invariant
def check_locked_vm_within_limit(system: System) -> Iterator[str]:
    """A process without CAP_IPC_LOCK never has more locked memory than RLIMIT_MEMLOCK allows.

    Every way to lock memory tests the limit first (mlock, mlock2, mlockall with
    MCL_CURRENT, mmap of a locked mapping, growth of a locked stack), and the limit
    of a trace does not change while it runs. Kernels before 4.9 charge a relocked
    range twice, but test the limit without crediting it, so the bound holds there too.
    """
    for proc_name, proc in system.processes.items():
        if proc.privileged or proc.memlock_bytes is None:
            continue
        limit = proc.memlock_bytes >> PAGE_SHIFT
        if proc.mm.locked_vm > limit:
            yield (f"{proc_name}: locked_vm is {proc.mm.locked_vm} pages, above RLIMIT_MEMLOCK "
                   f"({limit} pages) without CAP_IPC_LOCK")


# -- the system ----------------------------------------------------------------------

@invariant
def check_huge_pool_consistent(system: System) -> Iterator[str]:
    """The huge page pool satisfies 0 <= reserved <= free <= total.

    Reserved pages are promised to mappings and must still be free; free pages are
    part of the pool.
    """
    pool = system.pool
    if not 0 <= pool.reserved <= pool.free <= pool.total:
        yield (f"reserved {pool.reserved}, free {pool.free}, total {pool.total}: "
               "expected 0 <= reserved <= free <= total")


@invariant
def check_huge_pool_accounted(system: System) -> Iterator[str]:
    """The pool's counters agree with the huge pages and reservations the state records.

    reserved is the number of huge pages promised and not yet faulted in: the
    reservations of private huge page mappings plus those of huge page objects
    (files and shared anonymous memory). total - free is the number of huge pages
    in use: those of huge page objects plus those resident in private mappings (a
    page that processes share since fork counted once).
    """
    objects = {id(obj): obj for obj in list(system.fds.values()) + list(system.live_objects)}
    private_resv = private_used = 0
    forked = set()  # the huge pages several processes share since fork, each counted once
    for mm in (proc.mm for proc in system.processes.values()):
        for vma in mm.vmas:
            if not vma.flags & VM_HUGETLB:
                continue
            if vma.flags & VM_SHARED:
                objects.setdefault(id(vma.obj), vma.obj)
                continue
            private_resv += len(vma.resv)
            for page in (addr >> PAGE_SHIFT for addr in range(vma.start, vma.end, HPAGE_SIZE)):
                if page not in mm.resident:
                    continue
                shared = mm.shared.get(page)
                if shared is None:
                    private_used += 1
                elif id(shared) not in forked:
                    forked.add(id(shared))
                    private_used += 1
    shared_resv = sum(len(obj.resv) for obj in objects.values())
    shared_used = sum(len(obj.huge_pages) for obj in objects.values())
    pool = system.pool
    if pool.reserved != private_resv + shared_resv:
        yield (f"reserved is {pool.reserved}, but mappings and objects hold {private_resv + shared_resv} "
               f"reservations ({private_resv} private, {shared_resv} shared)")
    if pool.total - pool.free != private_used + shared_used:
        yield (f"{pool.total - pool.free} huge pages are in use (total {pool.total} - free {pool.free}), "
               f"but mappings and objects hold {private_used + shared_used} "
               f"({private_used} private, {shared_used} shared)")
