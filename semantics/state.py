"""The state the engine transforms: system, processes, address spaces, mappings.

Addresses are bytes; mapping boundaries are page aligned. Residency is per page
of a process (the present bit that /proc/self/pagemap shows). The state is mutable
for speed; :meth:`System.clone` copies it where a run needs a snapshot.
"""

from __future__ import annotations

import bisect
import copy
import functools
import itertools
from dataclasses import dataclass, field

from mmsem.spec import default_spec

_C = default_spec().constants
PAGE_SIZE = _C["PAGE_SIZE"]
PAGE_SHIFT = _C["PAGE_SHIFT"]
HPAGE_SIZE = _C["HPAGE_SIZE"]
VM_READ, VM_WRITE, VM_EXEC = _C["VM_READ"], _C["VM_WRITE"], _C["VM_EXEC"]
VM_SHARED, VM_MAYSHARE = _C["VM_SHARED"], _C["VM_MAYSHARE"]
VM_LOCKED, VM_LOCKONFAULT, VM_LOCKED_MASK = _C["VM_LOCKED"], _C["VM_LOCKONFAULT"], _C["VM_LOCKED_MASK"]
VM_SPECIAL, VM_HUGETLB, VM_DROPPABLE = _C["VM_SPECIAL"], _C["VM_HUGETLB"], _C["VM_DROPPABLE"]
VM_IO, VM_PFNMAP, VM_DONTEXPAND = _C["VM_IO"], _C["VM_PFNMAP"], _C["VM_DONTEXPAND"]
VM_ACCOUNT, VM_NORESERVE = _C["VM_ACCOUNT"], _C["VM_NORESERVE"]
VM_GROWSDOWN = _C["VM_GROWSDOWN"]
VM_SEALED, VM_DONTCOPY, VM_WIPEONFORK = _C["VM_SEALED"], _C["VM_DONTCOPY"], _C["VM_WIPEONFORK"]
VM_ACCESS = VM_READ | VM_WRITE | VM_EXEC
TASK_SIZE = _C["TASK_SIZE"]
MMAP_MIN_ADDR = 4096  # vm.mmap_min_addr, as on the replay machine
TASK_UNMAPPED_BASE_DEFAULT = -(-(TASK_SIZE // 3) // PAGE_SIZE) * PAGE_SIZE  # legacy mm->mmap_base
HPAGE_PAGES = HPAGE_SIZE // PAGE_SIZE

_ids = itertools.count(1)


@dataclass(eq=False)
class MemObject:
    """What a shared or file mapping maps: a memfd, a shmem object or a hugetlb file."""

    name: str
    size: int  # bytes
    hugetlb: bool = False
    writable: bool = True  # the trace's descriptor for it is open for writing
    readable: bool = True  # ... and for reading
    anonymous: bool = False  # made by mmap itself (shared anonymous or MAP_HUGETLB), freed with its last mapping
    # hugetlb MAP_SHARED only, per huge page index: pages allocated, reservations not yet
    # used, and the file's reserve map (indexes reserved or allocated, kept for its life)
    huge_pages: set = field(default_factory=set)
    resv: set = field(default_factory=set)
    resv_map: set = field(default_factory=set)
    cached: set = field(default_factory=set)  # page indexes in the page cache (faulted in by any mapping)
    dirty: set = field(default_factory=set)  # ... of them, those written through a shared mapping

    def pages(self) -> int:
        unit = HPAGE_SIZE if self.hugetlb else PAGE_SIZE
        return -(-self.size // unit) * (unit // PAGE_SIZE)


@dataclass(eq=False)
class Vma:
    start: int
    end: int
    flags: int
    obj: MemObject | None = None  # None for private anonymous memory
    pgoff: int = 0  # page offset of `start` in obj (or start >> PAGE_SHIFT for anonymous)
    # identity of the anon_vma, once private pages exist; negative for one inherited
    # through fork (its chain holds the parent's), which blocks merges with mappings
    # that have none (mm/vma.c:is_mergeable_anon_vma)
    anon: int | None = None
    resv: set = field(default_factory=set)  # hugetlb MAP_PRIVATE: reserved huge page indexes
    own: bool = False  # one of the process's own mappings (Outside.mappings), not the trace's
    # hugetlb MAP_PRIVATE: the reservation owner (the process that mapped it, HPAGE_RESV_OWNER),
    # and whether an owner's COW took pages away from this (child) mapping (HPAGE_RESV_UNMAPPED)
    resv_owner: bool = False
    resv_unmapped: bool = False

    @property
    def pages(self) -> int:
        return (self.end - self.start) >> PAGE_SHIFT

    def pgoff_at(self, addr: int) -> int:
        return self.pgoff + ((addr - self.start) >> PAGE_SHIFT)

    def copy_range(self, start: int, end: int) -> "Vma":
        """The part [start, end) of this mapping, sharing its object and anon_vma."""
        part = Vma(start, end, self.flags, self.obj, self.pgoff_at(start), self.anon, own=self.own,
                   resv_owner=self.resv_owner, resv_unmapped=self.resv_unmapped)
        if self.resv:
            first = (part.pgoff * PAGE_SIZE) // HPAGE_SIZE
            last = ((part.pgoff * PAGE_SIZE) + (end - start)) // HPAGE_SIZE
            part.resv = {i for i in self.resv if first <= i < last}
        return part


@dataclass(frozen=True)
class OwnMapping:
    """A mapping the traced process has of its own (program, stack, vdso), as measured."""

    start: int
    end: int
    flags: int
    file_backed: bool
    pgoff: int


@dataclass
class Outside:
    """What the process has besides the trace's mappings.

    ``mappings`` are the replay agent's own mappings, measured once (the agent runs
    without address randomisation, so they are the same in every child); the
    engine models them as ordinary mappings, so that mlockall locks them, limits
    count them and walks over large ranges meet them. ``vmas``/``pages``/
    ``lockable_pages`` summarise further mappings that are not modelled one by
    one: the filler mappings that bring a trace near vm.max_map_count (or, when
    no layout was measured, the whole process). ``brk`` is the program break.
    """

    vmas: int = 0
    pages: int = 0
    lockable_pages: int = 0
    lock_flags: int = 0  # VM_LOCKED[|VM_LOCKONFAULT] of the summarised mappings after mlockall
    mappings: tuple = ()
    brk: int = 0
    start_brk: int = 0  # where the heap starts (mm->start_brk): brk cannot go below it
    # the machine's RAM plus swap in pages: the overcommit heuristic refuses any single
    # request for more (mm/util.c:__vm_enough_memory); 0 when unknown (no limit)
    commit_pages: int = 0
    mmap_base: int = 0  # where the bottom-up search for a free range starts (mm->mmap_base)

    @functools.cached_property
    def own_ranges(self) -> tuple:
        """The address ranges of the own mappings, adjacent ones joined, in order. They stay
        the process's own even when a trace mapping merges with one (brk growing the heap)."""
        ranges: list = []
        for m in sorted(self.mappings, key=lambda m: m.start):
            if ranges and ranges[-1][1] == m.start:
                ranges[-1] = (ranges[-1][0], m.end)
            else:
                ranges.append((m.start, m.end))
        return tuple(ranges)


def overlap(start: int, end: int, ranges: tuple) -> int:
    """Bytes of [start, end) inside the sorted, disjoint ranges."""
    return sum(max(0, min(end, b) - max(start, a)) for a, b in ranges if a < end and b > start)


@dataclass
class Mm:
    vmas: list = field(default_factory=list)  # sorted, disjoint
    resident: set = field(default_factory=set)  # page numbers with a present PTE
    cow: set = field(default_factory=set)  # page numbers holding a private copy (written private pages)
    lazyfree: set = field(default_factory=set)  # private pages marked with MADV_FREE and not written since
    # private pages still shared with other processes since a fork (copy-on-write not yet
    # broken): page number -> the SharedPage all its mappers hold (a huge page under its first page)
    shared: dict = field(default_factory=dict)
    locked_vm: int = 0  # pages (VmLck), including the outside part
    def_flags: int = 0
    brk: int = 0  # the program break (mm->brk)
    start_brk: int = 0
    outside: Outside = field(default_factory=Outside)

    # -- lookups -------------------------------------------------------------
    def _starts(self) -> list[int]:
        return [v.start for v in self.vmas]

    def index_at(self, addr: int) -> int | None:
        """Index of the mapping containing addr."""
        i = bisect.bisect_right(self._starts(), addr) - 1
        if i >= 0 and self.vmas[i].end > addr:
            return i
        return None

    def find(self, addr: int) -> Vma | None:
        i = self.index_at(addr)
        return None if i is None else self.vmas[i]

    def first_from(self, addr: int) -> int:
        """Index of the first mapping that ends above addr."""
        i = bisect.bisect_right(self._starts(), addr) - 1
        if i >= 0 and self.vmas[i].end > addr:
            return i
        return i + 1

    def intersecting(self, start: int, end: int) -> list[Vma]:
        out = []
        for i in range(self.first_from(start), len(self.vmas)):
            vma = self.vmas[i]
            if vma.start >= end:
                break
            out.append(vma)
        return out

    @property
    def map_count(self) -> int:
        return len(self.vmas) + self.outside.vmas

    @property
    def total_vm(self) -> int:
        return sum(v.pages for v in self.vmas) + self.outside.pages

    def insert(self, vma: Vma) -> int:
        """Insert a mapping that overlaps none; return its index."""
        i = bisect.bisect_right(self._starts(), vma.start)
        self.vmas.insert(i, vma)
        return i

    def arena_locked_vm(self) -> int:
        """locked_vm less the share of the process's own ranges: what the observation compares."""
        own = sum(overlap(v.start, v.end, self.outside.own_ranges) for v in self.vmas if v.flags & VM_LOCKED)
        summarised = self.outside.lockable_pages if self.outside.lock_flags & VM_LOCKED else 0
        return self.locked_vm - own // PAGE_SIZE - summarised


@dataclass(eq=False)
class SharedPage:
    """One physical private page that several processes map after fork."""

    mappers: int = 1


@dataclass
class Process:
    name: str
    mm: Mm
    privileged: bool = True  # root with CAP_IPC_LOCK and CAP_SYS_RAWIO
    memlock_bytes: int | None = 8 << 20  # RLIMIT_MEMLOCK soft limit; None is unlimited


@dataclass
class HugePool:
    total: int = 0
    free: int = 0
    reserved: int = 0

    @property
    def available(self) -> int:
        """Free pages not promised to a reservation."""
        return self.free - self.reserved


@dataclass
class System:
    profile: object  # mmsem.spec.model.Profile
    max_map_count: int = 65530
    mmap_min_addr: int = 4096
    fds: dict = field(default_factory=dict)  # fd number -> MemObject
    pool: HugePool = field(default_factory=HugePool)
    processes: dict = field(default_factory=dict)  # name -> Process
    live_objects: list = field(default_factory=list)  # objects mmap created, until unmapped

    @property
    def traits(self) -> frozenset:
        return self.profile.traits

    def clone(self) -> "System":
        return copy.deepcopy(self)


def new_anon_id() -> int:
    return next(_ids)
