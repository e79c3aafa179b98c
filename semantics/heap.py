"""The program break: brk's changes to the heap (mm/mmap.c:brk, mm/vma.c:do_brk_flags)."""

from __future__ import annotations

from mmsem.semantics import vma_ops
from mmsem.semantics.registry import primitive
from mmsem.semantics.state import (PAGE_SHIFT, PAGE_SIZE, VM_ACCOUNT, VM_LOCKED, VM_READ, VM_WRITE, Vma, _C)

#: VM_DATA_DEFAULT_FLAGS on x86_64 (no READ_IMPLIES_EXEC) and the accounting flag brk adds.
HEAP_FLAGS = VM_READ | VM_WRITE | _C["VM_MAYREAD"] | _C["VM_MAYWRITE"] | _C["VM_MAYEXEC"] | VM_ACCOUNT


def page_align(addr: int) -> int:
    return (addr + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


@primitive()
def move_break(ctx, addr):
    """Move the break to addr, the spec's checks having passed; return the break that
    results (the old one when the kernel refuses).

    Down: everything in [new, old) is unmapped, unless nothing is mapped there or the
    unmap would split a mapping at vm.max_map_count. Up: a heap mapping with the
    process's def_flags joins the heap below it when their flags match; locked
    growth is charged to locked_vm and populated, ignoring failures (mm_populate).
    """
    mm, system = ctx.mm, ctx.system
    old, new = page_align(mm.brk), page_align(addr)
    if new == old:
        mm.brk = addr
        return addr
    if addr < mm.brk:
        if not mm.intersecting(new, old) or vma_ops.unmap_check(system, mm, new, old):
            return mm.brk
        vma_ops.unmap(system, mm, new, old)
        mm.brk = addr
        return addr
    if mm.map_count > system.max_map_count:
        return mm.brk
    flags = HEAP_FLAGS | mm.def_flags
    vma_ops.merge_new(mm, mm.insert(Vma(old, new, flags, None, old >> PAGE_SHIFT)))
    mm.brk = addr
    if flags & VM_LOCKED:
        mm.locked_vm += (new - old) >> PAGE_SHIFT
        vma_ops.populate_range(system, mm, old, new, ignore_errors=True)
    return addr
