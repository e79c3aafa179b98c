"""Effect primitives of the mlock family, mmap, munmap, mprotect and touch.

A primitive returns None on success or an errno name; what it changed before
failing stays changed, as in the kernel. The registry is in registry.py.
"""

from __future__ import annotations

from mmsem.semantics import vma_ops
from mmsem.semantics.registry import primitive
from mmsem.semantics.state import (
    HPAGE_PAGES,
    HPAGE_SIZE,
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_ACCOUNT,
    VM_DONTEXPAND,
    VM_ACCESS,
    VM_DROPPABLE,
    VM_GROWSDOWN,
    VM_HUGETLB,
    VM_LOCKED,
    VM_LOCKED_MASK,
    VM_LOCKONFAULT,
    VM_NORESERVE,
    VM_SHARED,
    VM_SEALED,
    VM_SPECIAL,
    VM_WRITE,
    Vma,
    new_anon_id,
)
from mmsem.spec import default_spec

_C = default_spec().constants
MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = _C["MCL_CURRENT"], _C["MCL_FUTURE"], _C["MCL_ONFAULT"]
PROT_GROWSDOWN, PROT_GROWSUP = _C["PROT_GROWSDOWN"], _C["PROT_GROWSUP"]


@primitive("ENOMEM")
def lock_range(ctx, start, end, lock_flags):
    """Replace the lock mode of every mapping in [start, end) (apply_vma_lock_flags).

    Mappings are changed in address order, split at the range's ends, and charged
    or credited to locked_vm. ENOMEM when start is not mapped (nothing changes),
    when a hole interrupts the range (mappings before it stay changed), or when a
    split would exceed vm.max_map_count.
    """
    mm, system = ctx.mm, ctx.system
    i = mm.index_at(start)
    if i is None:
        return "ENOMEM"
    nstart = start
    while True:
        vma = mm.vmas[i]
        seg_end = min(vma.end, end)
        newflags = (vma.flags & ~VM_LOCKED_MASK) | lock_flags
        err, j = vma_ops.mlock_fixup(system, mm, i, nstart, seg_end, newflags)
        if err:
            return err
        tmp = mm.vmas[j].end
        if tmp >= end:
            return None
        if j + 1 >= len(mm.vmas) or mm.vmas[j + 1].start != tmp:
            return "ENOMEM"
        nstart, i = tmp, j + 1


def _populate(ctx, start, end, ignore_errors):
    if "populate" not in ctx.traits:
        return None  # without an MMU, mm_populate does nothing
    return vma_ops.populate_range(ctx.system, ctx.mm, start, end, ignore_errors)


@primitive("EFAULT", "ENOMEM")
def populate(ctx, start, end):
    """Fault in the pages of [start, end), stopping at the first failure (__mm_populate(.., 0)).

    Holes are skipped and lock-on-fault mappings left alone. A PROT_NONE mapping
    or a page beyond the end of a file fails with EFAULT, after the pages before
    it were faulted in. Running out of memory (ENOMEM) is not modelled.
    """
    return _populate(ctx, start, end, ignore_errors=False)


@primitive()
def populate_best_effort(ctx, start, end):
    """Fault in what can be faulted in of [start, end) and never fail (mm_populate).

    After a failure in one mapping the walk goes on with the next one.
    """
    return _populate(ctx, start, end, ignore_errors=True)


@primitive()
def apply_mlockall(ctx, flags):
    """Reset mm->def_flags and, with MCL_CURRENT, every mapping's lock mode (apply_mlockall_flags).

    MCL_FUTURE sets VM_LOCKED (and VM_LOCKONFAULT with MCL_ONFAULT) in the
    default flags; without MCL_CURRENT existing mappings are not touched.
    Otherwise every mapping gets the new mode, or none when MCL_CURRENT is absent
    (munlockall, and MCL_ONFAULT alone before 5.2). Per-mapping failures are
    ignored.
    """
    mm, system = ctx.mm, ctx.system
    mm.def_flags &= ~VM_LOCKED_MASK
    onfault = VM_LOCKONFAULT if flags & MCL_ONFAULT else 0
    if flags & MCL_FUTURE:
        mm.def_flags |= VM_LOCKED | onfault
        if not flags & MCL_CURRENT:
            return None
    to_add = VM_LOCKED | onfault if flags & MCL_CURRENT else 0
    vma_ops.lock_outside(system, mm, to_add)
    i = 0
    while i < len(mm.vmas):
        vma = mm.vmas[i]
        newflags = (vma.flags & ~VM_LOCKED_MASK) | to_add
        err, j = vma_ops.mlock_fixup(system, mm, i, vma.start, vma.end, newflags)
        i = (i if err else j) + 1
    return None


@primitive("ENOMEM", "EINVAL", "EPERM")
def unmap_range(ctx, start, end):
    """Unmap [start, end) (do_vmi_align_munmap).

    ENOMEM when the range lies strictly inside one mapping and the process is at
    vm.max_map_count; EINVAL when it would split a huge page mapping off a huge
    page boundary. Nothing changes then.
    """
    err = vma_ops.unmap_check(ctx.system, ctx.mm, start, end)
    if err:
        return err
    vma_ops.unmap(ctx.system, ctx.mm, start, end)
    return None


def obj_for(system, fd):
    """The object an fd maps, or None for anonymous memory."""
    return system.fds.get(fd) if fd >= 0 else None


@primitive("ENOMEM", "EINVAL", "EPERM")
def map_region(ctx, start, length, vm_flags, fd, pgoff):
    """Create a mapping of [start, start+length) with vm_flags of file fd (or anonymous
    memory, fd -1) from page pgoff; see map_object."""
    return map_object(ctx, start, length, vm_flags, obj_for(ctx.system, fd), pgoff)


@primitive("ENOMEM", "EINVAL", "EPERM")
def map_object_of(ctx, start, length, vm_flags, at, pgoff):
    """Map [start, start+length) of what the mapping at `at` maps (its file or shmem
    object), from page pgoff; see map_object."""
    return map_object(ctx, start, length, vm_flags, ctx.mm.find(at).obj, pgoff)


def map_object(ctx, start, length, vm_flags, obj, pgoff):
    """Create a mapping of [start, start+length) with vm_flags (mmap_region, __mmap_complete).

    Whatever MAP_FIXED overlaps is unmapped first; when that unmap fails nothing
    changes and mmap reports its errno (before 6.12: ENOMEM, except EPERM for a
    sealed range). A huge page mapping with a misaligned offset (EINVAL) or a pool
    too small for its reservation (ENOMEM) fails after that, leaving a hole. The new mapping merges with
    compatible neighbours. Private writable memory is accounted (VM_ACCOUNT). A
    huge page mapping reserves its pages from the pool unless VM_NORESERVE. A
    locked mapping is charged to locked_vm unless it cannot be locked (special,
    hugetlb, droppable), which then silently loses the lock flags.
    """
    system, mm = ctx.system, ctx.mm
    end = start + length
    err = vma_ops.unmap_check(system, mm, start, end)
    if err:
        # mmap_region turned any failure of its unmap into ENOMEM until 6.12; sealing
        # (6.10, 6.11) was refused by a check of its own before the unmap.
        return err if err == "EPERM" or "map_fixed_unmap_errno" in ctx.traits else "ENOMEM"
    # The files of the mappings MAP_FIXED replaces are let go only once the new mapping is
    # made or has failed (vms_complete_munmap_vmas): until then a shared huge page file
    # keeps its reservations and pages, which the new mapping's reservation cannot use.
    vma_ops.unmap(system, mm, start, end, release_objects=False)
    try:
        return _map_new(ctx, start, length, vm_flags, obj, pgoff)
    finally:
        vma_ops.release_unused_objects(system)


def _map_new(ctx, start, length, vm_flags, obj, pgoff):
    system, mm = ctx.system, ctx.mm
    end = start + length
    flags = vm_flags
    huge = bool(flags & VM_HUGETLB)
    huge_pages = length // HPAGE_SIZE
    reserve = huge and not flags & VM_NORESERVE
    # hugetlbfs's mmap handler fails after the old mappings are gone: a hole is left.
    if huge and pgoff % HPAGE_PAGES:
        return "EINVAL"
    shared = bool(flags & VM_SHARED)
    if reserve:
        # A shared file reserves only the huge pages its reserve map lacks (region_chg).
        indexes = range(pgoff // HPAGE_PAGES, pgoff // HPAGE_PAGES + huge_pages)
        missing = [i for i in indexes if not (shared and obj and i in obj.resv_map)]
        if system.pool.available < len(missing):
            return "ENOMEM"
    if obj is not None:
        if huge and flags & VM_WRITE:
            # hugetlbfs_file_mmap: a writable mapping (even a private one) extends the file to cover it
            obj.size = max(obj.size, pgoff * PAGE_SIZE + length)
    elif flags & VM_SHARED or huge:
        obj = vma_ops.new_object(system, "hugetlb" if huge else "shmem", length, huge)
    else:
        obj = None
    if huge:
        flags |= VM_DONTEXPAND
    elif (flags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) == VM_WRITE:
        flags |= VM_ACCOUNT
    vma = Vma(start, end, flags, obj, pgoff)
    if reserve:
        if shared:
            obj.resv.update(missing)
            obj.resv_map.update(missing)
        else:
            vma.resv.update(missing)
            vma.resv_owner = True  # HPAGE_RESV_OWNER: a fork's children do not inherit it
        system.pool.reserved += len(missing)
    i = vma_ops.merge_new(mm, mm.insert(vma))
    if flags & VM_LOCKED:
        cannot_lock = flags & (VM_SPECIAL | VM_HUGETLB) or (
            flags & VM_DROPPABLE and "droppable_loses_default_lock" in ctx.traits)
        if cannot_lock:
            mm.vmas[i].flags &= ~VM_LOCKED_MASK
        else:
            mm.locked_vm += length >> PAGE_SHIFT
    return None


@primitive("ENOMEM", "EINVAL", "EACCES", "EPERM")
def protect_range(ctx, start, end, prot, grows):
    """Give every mapping of [start, end) the protection prot (do_mprotect_pkey).

    With PROT_GROWSDOWN the range starts at the start of the mapping, which must
    grow down. Mappings are changed in address order and split at the range's
    ends; a hole, a split beyond vm.max_map_count, an access the mapping may not
    have (EACCES) or a sealed mapping (EPERM) stops the walk with the mappings
    before it changed.
    """
    mm, system = ctx.mm, ctx.system
    i = mm.first_from(start)
    if i >= len(mm.vmas) or mm.vmas[i].start >= end:
        return "ENOMEM"
    vma = mm.vmas[i]
    if grows & PROT_GROWSDOWN:
        start = vma.start
        if not vma.flags & VM_GROWSDOWN:
            return "EINVAL"
    elif vma.start > start:
        return "ENOMEM"
    elif grows & PROT_GROWSUP:
        return "EINVAL"  # no mapping grows up on x86
    access = vma_ops.prot_to_vm(prot)
    nstart, tmp = start, vma.start
    while i < len(mm.vmas) and mm.vmas[i].start < end:
        vma = mm.vmas[i]
        if vma.start != tmp:
            return "ENOMEM"
        newflags = access | (vma.flags & ~VM_ACCESS)
        if (newflags & ~(newflags >> 4)) & VM_ACCESS:  # each VM_MAY* bit sits 4 above its VM_* bit
            return "EACCES"
        err, j = vma_ops.mprotect_fixup(system, mm, i, nstart, min(vma.end, end), newflags)
        if err:
            return err
        tmp = nstart = mm.vmas[j].end
        i = j + 1
    return "ENOMEM" if tmp < end else None


@primitive("ENOMEM", "EINVAL")
def seal_range(ctx, start, end):
    """Set VM_SEALED on every mapping of [start, end) (mseal_apply), splitting at the
    ends; a split beyond vm.max_map_count stops the walk with ENOMEM."""
    mm, system = ctx.mm, ctx.system
    i = mm.first_from(start)
    while i < len(mm.vmas) and mm.vmas[i].start < end:
        vma = mm.vmas[i]
        if not vma.flags & VM_SEALED:
            err, i = vma_ops.modify_flags(system, mm, i, max(start, vma.start), min(end, vma.end),
                                          vma.flags | VM_SEALED)
            if err:
                return err
        i += 1
    return None


@primitive()
def expand_stack(ctx, addr):
    """Grow the MAP_GROWSDOWN mapping above addr down to addr's page (expand_downwards).

    The limits were checked by the caller. The mapping gets an anon_vma first
    (anon_vma_prepare), so a fork copies its page tables even when it was only read.
    A locked mapping charges its growth to locked_vm; only the page that is then
    accessed gets faulted in.
    """
    mm = ctx.mm
    vma = mm.vmas[mm.first_from(addr)]
    if vma.anon is None:
        vma.anon = new_anon_id()
    new_start = addr & ~(PAGE_SIZE - 1)
    grow = (vma.start - new_start) >> PAGE_SHIFT
    vma.pgoff -= grow
    vma.start = new_start
    if vma.flags & VM_LOCKED:
        mm.locked_vm += grow
    return None


@primitive()
def fault_around(ctx, addr, write):
    """On a read fault at addr in a file mapping, map the cached pages around it (do_fault_around)."""
    vma = ctx.mm.find(addr)
    if not write and vma.obj is not None and not vma.flags & VM_HUGETLB and (addr >> PAGE_SHIFT) not in ctx.mm.resident:
        vma_ops.fault_around(ctx.mm, vma, addr)
    return None


@primitive()
def fault(ctx, addr, write):
    """A successful access fault at addr: the page becomes present (a whole huge page for hugetlb)."""
    vma = ctx.mm.find(addr)
    vma_ops.fault_page(ctx.system, ctx.mm, vma, addr, bool(write))
    return None
