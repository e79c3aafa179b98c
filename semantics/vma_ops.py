"""Operations on an address space, each mirroring the kernel function it names.

These are the building blocks of the effect primitives: splitting and merging
mappings (mm/vma.c), changing lock flags with their accounting (mm/mlock.c
mlock_fixup), unmapping (mm/vma.c vms_gather_munmap_vmas), and faulting pages in
(mm/gup.c populate_vma_page_range, mm/memory.c). Functions return an errno name on
failure and None on success; state changes made before a failure are kept, as in
the kernel.
"""

from __future__ import annotations

from mmsem.semantics.state import (
    MMAP_MIN_ADDR,
    TASK_SIZE,
    TASK_UNMAPPED_BASE_DEFAULT,
    HPAGE_PAGES,
    HPAGE_SIZE,
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_ACCESS,
    VM_DROPPABLE,
    VM_HUGETLB,
    VM_IO,
    VM_PFNMAP,
    VM_LOCKED,
    VM_LOCKONFAULT,
    VM_ACCOUNT,
    VM_EXEC,
    VM_GROWSDOWN,
    VM_NORESERVE,
    VM_READ,
    VM_SEALED,
    VM_SHARED,
    VM_SPECIAL,
    VM_WRITE,
    MemObject,
    Mm,
    System,
    Vma,
    new_anon_id,
)


# -- merging and splitting (mm/vma.c) ----------------------------------------------

def anon_compatible(a: int | None, b: int | None) -> bool:
    """is_mergeable_anon_vma: both share one anon_vma, or one side has none yet and the
    other's was not inherited through fork (negative identities, see Vma.anon: merging
    would need to copy a chain of parents, vma_had_uncowed_parents)."""
    if a is None:
        return b is None or b > 0
    if b is None:
        return a > 0
    return a == b


def can_merge(left: Vma, right_flags: int, right_obj, right_pgoff: int, right_anon, right_start: int) -> bool:
    """Can `left` absorb a range starting at right_start with these properties?"""
    return (
        left.end == right_start
        and left.flags == right_flags
        and not right_flags & VM_SPECIAL
        and left.obj is right_obj
        and left.pgoff + left.pages == right_pgoff
        and anon_compatible(left.anon, right_anon)
    )


def merge_new(mm: Mm, i: int) -> int:
    """vma_merge_new_range: merge a freshly inserted mapping with its neighbours."""
    vma = mm.vmas[i]
    if vma.flags & VM_SPECIAL:
        return i
    if i + 1 < len(mm.vmas):
        nxt = mm.vmas[i + 1]
        if can_merge(vma, nxt.flags, nxt.obj, nxt.pgoff, nxt.anon, nxt.start):
            vma.end = nxt.end
            vma.anon = vma.anon or nxt.anon
            del mm.vmas[i + 1]
    if i > 0:
        prev = mm.vmas[i - 1]
        if can_merge(prev, vma.flags, vma.obj, vma.pgoff, vma.anon, vma.start):
            prev.end = vma.end
            prev.anon = prev.anon or vma.anon
            del mm.vmas[i]
            i -= 1
    return i


def split_check(system: System, mm: Mm, vma: Vma, addr: int) -> str | None:
    """split_vma's refusals: the mapping count at its limit, or a huge page mapping cut off a huge page."""
    if mm.map_count >= system.max_map_count:
        return "ENOMEM"
    if vma.flags & VM_HUGETLB and addr % HPAGE_SIZE:
        return "EINVAL"  # hugetlb_vm_op_split
    return None


def modify_flags(system: System, mm: Mm, i: int, start: int, end: int, newflags: int) -> tuple[str | None, int]:
    """vma_modify_flags: give [start, end) of mapping i new flags.

    Tries first to merge the range into a neighbour (no new mapping needed), then
    splits; each split fails with ENOMEM once the process has max_map_count
    mappings, and a first split that succeeded stays. Returns (errno, index of the
    mapping that now covers the range).
    """
    vma = mm.vmas[i]
    left_side, right_side = start == vma.start, end == vma.end
    prev = mm.vmas[i - 1] if i > 0 else None
    nxt = mm.vmas[i + 1] if i + 1 < len(mm.vmas) else None
    pgoff = vma.pgoff_at(start)
    merge_left = bool(left_side and prev and not newflags & VM_SPECIAL
                      and can_merge(prev, newflags, vma.obj, pgoff, vma.anon, start))
    merge_right = bool(right_side and nxt and not newflags & VM_SPECIAL
                       and nxt.start == end and nxt.flags == newflags and nxt.obj is vma.obj
                       and vma.pgoff_at(end) == nxt.pgoff and anon_compatible(vma.anon, nxt.anon))
    if merge_left and merge_right:
        prev.end = nxt.end
        prev.anon = prev.anon or vma.anon or nxt.anon
        del mm.vmas[i:i + 2]
        return None, i - 1
    if merge_left:
        prev.end = end
        prev.anon = prev.anon or vma.anon
        if right_side:
            del mm.vmas[i]
        else:
            vma.pgoff = vma.pgoff_at(end)
            vma.start = end
        return None, i - 1
    if merge_right:
        nxt.start = start
        nxt.pgoff = pgoff
        nxt.anon = nxt.anon or vma.anon
        if left_side:
            del mm.vmas[i]
            return None, i
        vma.end = start
        return None, i + 1
    if start > vma.start:
        err = split_check(system, mm, vma, start)
        if err:
            return err, i
        mm.vmas.insert(i + 1, vma.copy_range(start, vma.end))
        vma.end = start
        i += 1
        vma = mm.vmas[i]
    if end < vma.end:
        err = split_check(system, mm, vma, end)
        if err:
            return err, i
        mm.vmas.insert(i + 1, vma.copy_range(end, vma.end))
        vma.end = end
    vma.flags = newflags
    return None, i


# -- locking (mm/mlock.c) -----------------------------------------------------------

def lock_charge(old: int, new: int, pages: int, traits) -> int:
    """Change of locked_vm when a range goes from lock flags `old` to `new`."""
    if not new & VM_LOCKED:
        return -pages if old & VM_LOCKED else 0
    if old & VM_LOCKED and "relock_not_recharged" in traits:
        return 0
    return pages


def lock_skipped(flags: int, traits) -> bool:
    """mlock_fixup leaves special, hugetlb (and, since 6.11, droppable) mappings alone."""
    if flags & (VM_SPECIAL | VM_HUGETLB):
        return True
    return bool(flags & VM_DROPPABLE) and "mlock_skips_droppable" in traits


def mlock_fixup(system: System, mm: Mm, i: int, start: int, end: int, newflags: int) -> tuple[str | None, int]:
    """Set the lock flags of [start, end) within mapping i, with accounting."""
    old = mm.vmas[i].flags
    if newflags == old or lock_skipped(old, system.traits):
        return None, i
    err, j = modify_flags(system, mm, i, start, end, newflags)
    if err:
        return err, j
    mm.locked_vm += lock_charge(old, newflags, (end - start) >> PAGE_SHIFT, system.traits)
    return None, j


def lock_outside(system: System, mm: Mm, lock_flags: int) -> None:
    """mlockall's effect on the process's mappings outside the arena."""
    outside = mm.outside
    if outside.lockable_pages == 0 or outside.lock_flags == lock_flags:
        return
    mm.locked_vm += lock_charge(outside.lock_flags, lock_flags, outside.lockable_pages, system.traits)
    outside.lock_flags = lock_flags


def locked_pages_in(mm: Mm, start: int, end: int) -> int:
    """count_mm_mlocked_page_nr: pages of [start, end) inside VM_LOCKED mappings."""
    count = 0
    for vma in mm.intersecting(start, end):
        if vma.flags & VM_LOCKED:
            count += (min(end, vma.end) - max(start, vma.start)) >> PAGE_SHIFT
    return count


# -- placement (mm/mmap.c, mm/huge_memory.c) -----------------------------------------

STACK_GUARD_GAP = 256 * PAGE_SIZE


def gap_start(vma: Vma) -> int:
    """vm_start_gap: a mapping that grows down keeps the guard gap below it free."""
    if vma.flags & VM_GROWSDOWN:
        return max(vma.start - STACK_GUARD_GAP, 0)
    return vma.start


def _free(mm: Mm, start: int, end: int) -> bool:
    for vma in mm.vmas:
        if vma.end > start and gap_start(vma) < end:
            return False
    return True


def unmapped_area(mm: Mm, length: int, hint: int, pgoff: int, thp, align: int | None = None) -> int | None:
    """get_unmapped_area of the legacy (bottom-up) layout: the hint if that range is free,
    else the lowest free range from mm->mmap_base up (generic_get_unmapped_area). With
    `thp` true (anonymous private memory of a length the kernel version aligns) and no
    hint, the range is aligned like its offset modulo 2 MiB (thp_get_unmapped_area).
    None: no room."""
    top = TASK_SIZE
    if hint:
        hint = (hint + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        if top - length >= hint and hint >= MMAP_MIN_ADDR and _free(mm, hint, hint + length):
            return hint
    if align:  # hugetlb: huge page aligned
        padded = _first_fit(mm, length + align, top)
        return None if padded is None else (padded + align - 1) & ~(align - 1)
    if thp and not hint:
        padded = _first_fit(mm, length + HPAGE_SIZE, top)
        if padded is not None:
            return padded + (((pgoff << PAGE_SHIFT) - padded) & (HPAGE_SIZE - 1))
    return _first_fit(mm, length, top)


def _first_fit(mm: Mm, length: int, top: int) -> int | None:
    low = mm.outside.mmap_base or TASK_UNMAPPED_BASE_DEFAULT
    candidate = low
    for vma in sorted(mm.vmas, key=lambda v: v.start):
        if vma.end <= candidate:
            continue
        if gap_start(vma) >= candidate + length:
            break
        candidate = max(candidate, vma.end)
    return candidate if candidate + length <= top else None


# -- protection (mm/mprotect.c) ------------------------------------------------------

def prot_to_vm(prot: int) -> int:
    """calc_vm_prot_bits: PROT_READ/WRITE/EXEC as VM_READ/WRITE/EXEC."""
    return (VM_READ if prot & 1 else 0) | (VM_WRITE if prot & 2 else 0) | (VM_EXEC if prot & 4 else 0)


def mprotect_fixup(system: System, mm: Mm, i: int, start: int, end: int, newflags: int) -> tuple[str | None, int]:
    """Give [start, end) of mapping i the flags newflags, with commit accounting."""
    vma = mm.vmas[i]
    old = vma.flags
    if old & VM_SEALED:
        return "EPERM", i
    if newflags == old:
        return None, i
    if newflags & VM_WRITE:
        if not old & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE):
            newflags |= VM_ACCOUNT  # a private mapping becoming writable is charged to the commit
    elif old & VM_ACCOUNT and vma.obj is None and vma.anon is None:
        newflags &= ~VM_ACCOUNT
    err, j = modify_flags(system, mm, i, start, end, newflags)
    if err:
        return err, j
    if (old & (VM_WRITE | VM_SHARED | VM_LOCKED)) == VM_LOCKED and newflags & VM_WRITE:
        populate_vma(system, mm, mm.vmas[j], start, end)  # break COW now, not on a later write
    return None, j


# -- unmapping (mm/vma.c) -----------------------------------------------------------

def unmap_check(system: System, mm: Mm, start: int, end: int) -> str | None:
    """The failures vms_gather_munmap_vmas can report before anything changes."""
    vmas = mm.intersecting(start, end)
    if not vmas:
        return None
    first, last = vmas[0], vmas[-1]
    if start > first.start:
        if end < first.end and mm.map_count >= system.max_map_count:
            return "ENOMEM"
        if first.flags & VM_SEALED:
            return "EPERM"  # checked before splitting: no point splitting what cannot go
        if first.flags & VM_HUGETLB and start % HPAGE_SIZE:
            return "EINVAL"
    if any(vma.flags & VM_SEALED for vma in vmas):
        return "EPERM"
    if last.flags & VM_HUGETLB and end < last.end and end % HPAGE_SIZE:
        return "EINVAL"
    return None


def unmap(system: System, mm: Mm, start: int, end: int, release_objects: bool = True) -> None:
    """Remove [start, end): release locked pages, page tables and huge pages. Objects
    nothing maps any more are freed unless release_objects is false (the caller frees
    them later with release_unused_objects)."""
    i = mm.first_from(start)
    while i < len(mm.vmas) and mm.vmas[i].start < end:
        vma = mm.vmas[i]
        cut_start, cut_end = max(start, vma.start), min(end, vma.end)
        if vma.flags & VM_LOCKED:
            mm.locked_vm -= (cut_end - cut_start) >> PAGE_SHIFT
        release_pages(system, mm, vma, cut_start, cut_end)
        pieces = []
        if vma.start < cut_start:
            pieces.append(vma.copy_range(vma.start, cut_start))
        if cut_end < vma.end:
            pieces.append(vma.copy_range(cut_end, vma.end))
        mm.vmas[i:i + 1] = pieces
        i += len(pieces)
    if release_objects:
        release_unused_objects(system)


def release_pages(system: System, mm: Mm, vma: Vma, start: int, end: int) -> None:
    """Zap the page tables of [start, end) of vma; give private huge pages back."""
    first, last = start >> PAGE_SHIFT, end >> PAGE_SHIFT
    if vma.flags & VM_HUGETLB and not vma.flags & VM_SHARED:
        pool = system.pool
        for index in huge_indexes(vma, start, end):
            base = vma.start + (index - vma.pgoff // HPAGE_PAGES) * HPAGE_SIZE
            if (base >> PAGE_SHIFT) in mm.resident and exclusive(mm, base >> PAGE_SHIFT):
                pool.free += 1  # a page a forked process still maps stays in use
            if index in vma.resv:
                vma.resv.discard(index)
                pool.reserved -= 1
    forget_pages(mm, first, last)


def forget_pages(mm: Mm, first: int, last: int) -> None:
    """Pages [first, last) are no longer mapped by the process."""
    pages = range(first, last)
    mm.resident.difference_update(pages)
    mm.cow.difference_update(pages)
    mm.lazyfree.difference_update(pages)
    for page in [p for p in mm.shared if first <= p < last]:
        unshare(mm, page)


def exclusive(mm: Mm, page: int) -> bool:
    """Does no other process map this process's private page at `page`?"""
    shared = mm.shared.get(page)
    return shared is None or shared.mappers == 1


def unshare(mm: Mm, page: int) -> None:
    """The process stops mapping the page it shares since a fork (it unmapped or copied it)."""
    shared = mm.shared.pop(page, None)
    if shared is not None:
        shared.mappers -= 1


def zap(system: System, mm: Mm, vma: Vma, start: int, end: int) -> None:
    """Clear the page tables of [start, end) (zap_page_range_single): private copies are
    freed, file pages stay in the page cache, private huge pages go back to the pool."""
    first, last = start >> PAGE_SHIFT, end >> PAGE_SHIFT
    if vma.flags & VM_HUGETLB and not vma.flags & VM_SHARED:
        system.pool.free += sum(1 for p in range(first, last, HPAGE_PAGES) if p in mm.resident and exclusive(mm, p))
    forget_pages(mm, first, last)


def mapcount(system: System, obj, index: int) -> int:
    """How many page table entries, in every process, map page `index` of a file."""
    count = 0
    for proc in system.processes.values():
        mm = proc.mm
        for vma in mm.vmas:
            if vma.obj is obj and vma.pgoff <= index < vma.pgoff + vma.pages:
                page = (vma.start >> PAGE_SHIFT) + index - vma.pgoff
                if page in mm.resident and not (not vma.flags & VM_SHARED and page in mm.cow):
                    count += 1
    return count


def pageout(system: System, mm: Mm, vma: Vma, start: int, end: int) -> None:
    """MADV_PAGEOUT without swap: reclaim what only this mapping maps and can go.

    File and shmem pages are unmapped; a clean one (never written: shmem recreates
    its zeroes on the next fault) leaves the page cache too, a dirty one stays cached
    because its writeback fails without swap (shrink_folio_list). Lazily freed and
    droppable private pages are freed; other private anonymous pages, and the zero
    page, stay.
    """
    for page in range(start >> PAGE_SHIFT, end >> PAGE_SHIFT):
        if page not in mm.resident:
            continue
        private_copy = page in mm.cow or (vma.obj is None and not vma.flags & VM_SHARED)
        if private_copy:
            # pages a forked process also maps are left alone (folio_mapcount != 1)
            if page in mm.cow and (page in mm.lazyfree or vma.flags & VM_DROPPABLE) and exclusive(mm, page):
                forget_pages(mm, page, page + 1)
            continue
        index = vma.pgoff_at(page << PAGE_SHIFT)
        if mapcount(system, vma.obj, index) == 1:
            mm.resident.discard(page)
            if index not in vma.obj.dirty:
                vma.obj.cached.discard(index)


def punch_hole(system: System, obj, first: int, count: int) -> None:
    """Free pages [first, first+count) of a file (fallocate PUNCH_HOLE): every mapping of
    them, in every process, loses them; private copies made from them stay. A huge page
    file frees only the huge pages wholly inside the range (hugetlbfs_punch_hole rounds
    the hole inwards)."""
    if obj.hugetlb:
        low, high = -(-first // HPAGE_PAGES), (first + count) // HPAGE_PAGES
        first, count = low * HPAGE_PAGES, max(0, high - low) * HPAGE_PAGES
    indexes = range(first, first + count)
    obj.cached.difference_update(indexes)
    obj.dirty.difference_update(indexes)
    if obj.hugetlb:
        pool = system.pool
        for index in range(first // HPAGE_PAGES, (first + count) // HPAGE_PAGES):
            if index in obj.huge_pages:
                obj.huge_pages.discard(index)
                pool.free += 1
            if index in obj.resv:
                obj.resv.discard(index)
                pool.reserved -= 1
            obj.resv_map.discard(index)
    for proc in system.processes.values():
        mm = proc.mm
        for vma in mm.vmas:
            if vma.obj is not obj:
                continue
            for index in indexes:
                if vma.pgoff <= index < vma.pgoff + vma.pages:
                    page = (vma.start >> PAGE_SHIFT) + index - vma.pgoff
                    if vma.flags & VM_SHARED or page not in mm.cow:
                        mm.resident.discard(page)


def release_unused_objects(system: System) -> None:
    """Shared hugetlb objects that nothing maps any more give their pages back."""
    in_use = {id(v.obj) for p in system.processes.values() for v in p.mm.vmas if v.obj is not None}
    for obj in list(system.live_objects):
        if id(obj) in in_use:
            continue
        system.live_objects.remove(obj)
        if obj.hugetlb and obj.anonymous:
            system.pool.free += len(obj.huge_pages)
            system.pool.reserved -= len(obj.resv)
            obj.huge_pages.clear()
            obj.resv.clear()


def huge_indexes(vma: Vma, start: int, end: int) -> range:
    """Huge page indexes (in the mapped object) that [start, end) touches."""
    base = vma.pgoff // HPAGE_PAGES
    first = base + (start - vma.start) // HPAGE_SIZE
    last = base + (end - vma.start + HPAGE_SIZE - 1) // HPAGE_SIZE
    return range(first, last)


# -- faulting pages in (mm/memory.c, mm/gup.c, mm/hugetlb.c) ------------------------

FAULT_AROUND_PAGES = 16  # fault_around_bytes (64 KiB, a debugfs knob) in pages
PTRS_PER_PTE = 512

def beyond_eof(vma: Vma, addr: int) -> bool:
    obj = vma.obj
    return obj is not None and vma.pgoff_at(addr) >= obj.pages()


def fault_beyond_eof(mm: Mm, vma: Vma, addr: int, write: bool) -> str:
    """A fault on a file page past the end of the file fails (EFAULT for populating
    calls); a read fault maps the cached pages around it first, since do_read_fault
    runs do_fault_around before asking the file for the page itself."""
    if not write and not vma.flags & VM_HUGETLB:
        fault_around(mm, vma, addr)
    return "EFAULT"


def huge_page_available(system: System, mm: Mm, vma: Vma, addr: int, write: bool = False) -> bool:
    """Can a fault at addr get a huge page (resident, reserved, or free in the pool)?

    A write to a private huge page that a forked process still maps needs a free page
    for the copy, unless this mapping owns the reservation: the owner then takes the
    page from the others (see huge_cow). A child whose page the owner took faults with
    SIGBUS anywhere in that mapping from then on (HPAGE_RESV_UNMAPPED).
    """
    base = (addr & ~(HPAGE_SIZE - 1)) >> PAGE_SHIFT
    if base in mm.resident:
        if write and not vma.flags & VM_SHARED and not exclusive(mm, base):
            return system.pool.available > 0 or vma.resv_owner
        return True
    if vma.resv_unmapped:
        return False
    index = huge_indexes(vma, addr, addr + 1)[0]
    if vma.flags & VM_SHARED:
        obj = vma.obj
        return index in obj.huge_pages or index in obj.resv or system.pool.available > 0
    return index in vma.resv or system.pool.available > 0


def fault_page(system: System, mm: Mm, vma: Vma, addr: int, write: bool) -> None:
    """Make the page at addr present, as a successful fault does."""
    page = addr >> PAGE_SHIFT
    if vma.flags & VM_HUGETLB:
        base = (addr & ~(HPAGE_SIZE - 1)) >> PAGE_SHIFT
        if base in mm.resident:
            if write and not vma.flags & VM_SHARED and not exclusive(mm, base):
                huge_cow(system, mm, base)
            return
        index = huge_indexes(vma, addr, addr + 1)[0]
        pool = system.pool
        if vma.flags & VM_SHARED:
            obj = vma.obj
            if index not in obj.huge_pages:
                obj.huge_pages.add(index)
                obj.resv_map.add(index)
                if index in obj.resv:
                    obj.resv.discard(index)
                    pool.reserved -= 1
                pool.free -= 1
        else:
            if index in vma.resv:
                vma.resv.discard(index)
                pool.reserved -= 1
            pool.free -= 1
            if vma.anon is None:
                vma.anon = new_anon_id()  # hugetlb_no_page prepares an anon_vma for private pages
        mm.resident.update(range(base, base + HPAGE_PAGES))
        return
    obj = vma.obj
    if obj is not None:
        if not write and page not in mm.resident:
            fault_around(mm, vma, addr)  # populate's read faults go through do_read_fault too
        obj.cached.add(vma.pgoff_at(addr))
        if write and vma.flags & VM_SHARED:
            obj.dirty.add(vma.pgoff_at(addr))
    if write and not vma.flags & VM_SHARED:
        if vma.anon is None:
            vma.anon = new_anon_id()  # the first private page gives the mapping an anon_vma
        mm.cow.add(page)
        mm.lazyfree.discard(page)  # written again: no longer free to drop
        unshare(mm, page)  # a page shared since a fork is copied (or reused by the last mapper)
    mm.resident.add(page)


def huge_cow(system: System, mm: Mm, base: int) -> None:
    """hugetlb_wp on a private huge page that forked processes still map: copy it into a
    free page; with none free (only the reservation owner gets here, see
    huge_page_available), unmap_ref_private takes the page from the others and marks
    their mappings, and the owner keeps the page."""
    if system.pool.available > 0:
        system.pool.free -= 1
    else:
        page = mm.shared[base]
        for proc in system.processes.values():
            other = proc.mm
            if other is not mm and other.shared.get(base) is page:
                other.find(base << PAGE_SHIFT).resv_unmapped = True
                forget_pages(other, base, base + HPAGE_PAGES)
    unshare(mm, base)


def fault_around(mm: Mm, vma: Vma, addr: int) -> None:
    """do_fault_around: a read fault on a file page first maps the neighbouring pages
    that are already in the page cache, within an aligned window of fault_around_bytes
    (16 pages), the mapping, its page table and the file."""
    page = addr >> PAGE_SHIFT
    first = max(page & ~(FAULT_AROUND_PAGES - 1), vma.start >> PAGE_SHIFT, page & ~(PTRS_PER_PTE - 1))
    last = min((page & ~(FAULT_AROUND_PAGES - 1)) + FAULT_AROUND_PAGES, vma.end >> PAGE_SHIFT,
               (page & ~(PTRS_PER_PTE - 1)) + PTRS_PER_PTE)
    cached, size = vma.obj.cached, vma.obj.pages()
    for p in range(first, last):
        index = vma.pgoff + p - (vma.start >> PAGE_SHIFT)
        if index in cached and index < size:
            mm.resident.add(p)


def populate_vma(system: System, mm: Mm, vma: Vma, start: int, end: int) -> str | None:
    """populate_vma_page_range: fault [start, end) of one mapping in."""
    if vma.flags & VM_LOCKONFAULT:
        return None
    if not vma.flags & VM_ACCESS:
        return "EFAULT"  # PROT_NONE: never faulted in
    write = (vma.flags & (VM_WRITE | VM_SHARED)) == VM_WRITE
    step = HPAGE_SIZE if vma.flags & VM_HUGETLB else PAGE_SIZE
    addr = start & ~(step - 1)
    while addr < end:
        if beyond_eof(vma, addr):
            return fault_beyond_eof(mm, vma, addr, write)
        if vma.flags & VM_HUGETLB and not huge_page_available(system, mm, vma, addr, write):
            return "EFAULT"
        fault_page(system, mm, vma, addr, write)
        addr += step
    return None


def populate_range(system: System, mm: Mm, start: int, end: int, ignore_errors: bool) -> str | None:
    """__mm_populate: fault in [start, end) mapping by mapping, skipping holes and
    I/O mappings; the first failure stops the walk unless errors are ignored."""
    nstart = start
    while nstart < end:
        i = mm.first_from(nstart)
        if i >= len(mm.vmas) or mm.vmas[i].start >= end:
            break
        vma = mm.vmas[i]
        nend = min(end, vma.end)
        if not vma.flags & (VM_IO | VM_PFNMAP):
            err = populate_vma(system, mm, vma, max(nstart, vma.start), nend)
            if err and not ignore_errors:
                return err
        nstart = nend
    return None


def new_object(system: System, name: str, size: int, hugetlb: bool) -> MemObject:
    obj = MemObject(name, size, hugetlb, anonymous=True)
    system.live_objects.append(obj)
    return obj

