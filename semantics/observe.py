"""The observation model (DESIGN.md, fixed): what is compared with the live kernel.

Per page the trace mapped (in its arena, and wherever else it put mappings, for
example with MAP_FIXED or mremap): mapped, prot, shared, VM_LOCKED,
VM_LOCKONFAULT, resident.
Per process: VmLck (locked_vm less what the process's own mappings outside the
arena account for). Pages are compared one by one, so where the kernel splits or
merges mappings does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmsem.semantics.state import (
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_EXEC,
    VM_LOCKED,
    VM_LOCKONFAULT,
    VM_MAYSHARE,
    VM_READ,
    VM_WRITE,
    Mm,
    overlap,
)


@dataclass(frozen=True)
class PageObs:
    mapped: bool = False
    prot: str = "---"
    shared: bool = False
    locked: bool = False
    onfault: bool = False
    resident: bool = False

    def get(self, field: str):
        return getattr(self, field)


UNMAPPED = PageObs()


@dataclass
class Observation:
    pages: dict  # address -> PageObs, mapped arena pages only
    vmlck: int  # pages

    def page(self, addr: int) -> PageObs:
        return self.pages.get(addr, UNMAPPED)


def prot_string(flags: int) -> str:
    return ("r" if flags & VM_READ else "-") + ("w" if flags & VM_WRITE else "-") + ("x" if flags & VM_EXEC else "-")


def observe(mm: Mm) -> Observation:
    """The engine's state as the live kernel would show it: every mapped page outside
    the process's own ranges (program, heap as it was, stack, vdso), wherever the trace
    put it."""
    pages = {}
    resident_set = mm.resident
    own = mm.outside.own_ranges
    for vma in mm.vmas:
        inside = overlap(vma.start, vma.end, own) if own else 0
        if inside == vma.end - vma.start:
            continue
        prot = prot_string(vma.flags)
        shared = bool(vma.flags & VM_MAYSHARE)
        locked = bool(vma.flags & VM_LOCKED)
        onfault = bool(vma.flags & VM_LOCKONFAULT)
        for addr in range(vma.start, vma.end, PAGE_SIZE):
            if not inside or not overlap(addr, addr + PAGE_SIZE, own):
                pages[addr] = PageObs(True, prot, shared, locked, onfault, (addr >> PAGE_SHIFT) in resident_set)
    return Observation(pages, mm.arena_locked_vm())


def page_differences(a: Observation, b: Observation) -> list[tuple[int, str, object, object]]:
    """(address, field, value in a, value in b) for every page where a and b differ."""
    out = []
    for addr in sorted(set(a.pages) | set(b.pages)):
        pa, pb = a.page(addr), b.page(addr)
        if pa == pb:
            continue
        for field in PageObs.__dataclass_fields__:
            if pa.get(field) != pb.get(field):
                out.append((addr, field, pa.get(field), pb.get(field)))
    return out


def runs(obs: Observation, addrs: list[int]) -> list[tuple[int, int, PageObs]]:
    """Group consecutive pages with equal observations: (first, last, obs)."""
    groups: list[list] = []
    for addr in addrs:
        page = obs.page(addr)
        if groups and groups[-1][1] + PAGE_SIZE == addr and groups[-1][2] == page:
            groups[-1][1] = addr
        else:
            groups.append([addr, addr, page])
    return [tuple(g) for g in groups]
