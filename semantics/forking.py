"""fork: a second process whose address space is a copy of the caller's (dup_mmap).

Facts: ../shared/FACTS.md items 35, 43 and 46; mm/mmap.c:dup_mmap (kernel/fork.c before
2025), mm/memory.c:copy_page_range and vma_needs_copy, mm/hugetlb.c:hugetlb_dup_vma_private.
"""

from __future__ import annotations

import copy

from mmsem.semantics.registry import primitive
from mmsem.semantics.state import (HPAGE_PAGES, PAGE_SHIFT, VM_DONTCOPY, VM_HUGETLB, VM_LOCKED_MASK, VM_SHARED,
                                   VM_WIPEONFORK, Mm, Process, SharedPage, Vma, _C, new_anon_id)

VM_INIT_DEF_MASK = _C["VM_NOHUGEPAGE"]  # the only def_flags bit a child keeps (mm_init)


def fork_mm(parent: Mm) -> Mm:
    """The child's copy of `parent`. Mappings marked VM_DONTCOPY are left out; every copy
    loses its lock flags (the child starts with nothing locked and no MCL_FUTURE); a
    VM_WIPEONFORK mapping starts empty. Page tables are copied only where a fault could
    not refill them the same way: mappings with an anon_vma (private pages were
    written, or a private huge page faulted). Private pages the child gets are shared
    with the parent until one of them writes (copy-on-write). A private huge page
    mapping gives the child no reservation and no ownership."""
    child = Mm(outside=copy.copy(parent.outside), def_flags=parent.def_flags & VM_INIT_DEF_MASK,
               brk=parent.brk, start_brk=parent.start_brk)
    child.outside.lock_flags = 0
    copies: dict = {}  # parent anon_vma identity -> the child's
    for vma in parent.vmas:
        if vma.flags & VM_DONTCOPY:
            continue
        wipe = bool(vma.flags & VM_WIPEONFORK)
        # anon_vma_fork: the copy gets an anon_vma of its own, chained to the parent's
        anon = None if wipe or vma.anon is None else copies.setdefault(vma.anon, -new_anon_id())
        child.vmas.append(Vma(vma.start, vma.end, vma.flags & ~VM_LOCKED_MASK, vma.obj, vma.pgoff,
                              anon, own=vma.own))
        if wipe or vma.anon is None:
            continue
        private = not vma.flags & VM_SHARED
        for page in range(vma.start >> PAGE_SHIFT, vma.end >> PAGE_SHIFT):
            if page not in parent.resident:
                continue
            child.resident.add(page)
            if page in parent.lazyfree:
                child.lazyfree.add(page)
            if page in parent.cow:
                child.cow.add(page)
            # a private huge page is shared under its first page
            if page in parent.cow or (private and vma.flags & VM_HUGETLB and page % HPAGE_PAGES == 0):
                shared = parent.shared.setdefault(page, SharedPage())
                shared.mappers += 1
                child.shared[page] = shared
    return child


@primitive()
def fork_process(ctx):
    """Create the process the step binds, with a copy of the caller's address space."""
    parent = ctx.proc
    child = Process(ctx.new_process, fork_mm(parent.mm), parent.privileged, parent.memlock_bytes)
    ctx.system.processes[child.name] = child
    return None
