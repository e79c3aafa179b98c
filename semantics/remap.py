"""mremap: resizing and moving mappings, after mm/mremap.c of the 6.17-6.18 era.

The argument checks that come first are in spec/syscalls/mremap.yaml; this module
is what follows them (do_mremap after check_mremap_params): a same-size move to a
fixed address, which may carry several mappings and keeps the gaps between them
(remap_move); otherwise one mapping is checked (check_prep_vma) and shrunk (an
unmap of the tail, possibly over several mappings), grown in place, or moved to a
fixed address or to one the kernel picks (bottom-up first fit). A locked mapping
is charged for what it gains and, after the call, its grown part is faulted in.

Older kernels differ by trait (spec/kernels.yaml): before 6.17 (6.15 for
new_address's alignment and the map-count test) mremap_to tested the target only
after looking old_address up, unmapped the MREMAP_FIXED target and a shrinking
move's tail, and only then checked the mapping (vma_to_resize); a same-size move
could not span mappings; before 6.15 MREMAP_DONTUNMAP did not touch locked_vm.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmsem.semantics import vma_ops
from mmsem.semantics.registry import primitive
from mmsem.semantics.state import (
    HPAGE_SIZE,
    MMAP_MIN_ADDR,
    PAGE_SHIFT,
    PAGE_SIZE,
    TASK_SIZE,
    VM_DONTEXPAND,
    VM_HUGETLB,
    VM_LOCKED,
    VM_LOCKED_MASK,
    VM_MAYSHARE,
    VM_PFNMAP,
    VM_SEALED,
    VM_SHARED,
    Vma,
)
from mmsem.spec import default_spec

_C = default_spec().constants
MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP = (_C["MREMAP_MAYMOVE"], _C["MREMAP_FIXED"],
                                                  _C["MREMAP_DONTUNMAP"])
MASK64 = (1 << 64) - 1


@dataclass
class Request:
    """struct vma_remap_struct: what one remap step is asked to do."""

    addr: int
    old_len: int
    new_len: int
    flags: int
    new_addr: int
    populate: bool = False  # a locked mapping grows: fault the new part in afterwards

    @property
    def new_place(self) -> bool:
        return bool(self.flags & (MREMAP_FIXED | MREMAP_DONTUNMAP))


@primitive("EINVAL", "EFAULT", "EAGAIN", "ENOMEM", "EPERM")
def remap(ctx, addr, old_len, new_len, flags, new_addr):
    """Resize or move [addr, addr+old_len) to new_len bytes; returns the new address.

    A same-size MREMAP_FIXED move may carry several mappings (remap_move). Otherwise
    the mapping at addr is checked, then moved (MREMAP_FIXED, MREMAP_DONTUNMAP),
    or shrunk, or grown in place, or moved with MREMAP_MAYMOVE. A locked mapping
    that grew has its new part faulted in at the end, errors ignored.
    """
    req = Request(addr, old_len, new_len, flags, new_addr)
    if flags & MREMAP_FIXED and old_len == new_len and "mremap_moves_several_mappings" in ctx.traits:
        return _remap_move(ctx, req)
    if req.new_place and "mremap_checks_before_unmapping" not in ctx.traits:
        result = _remap_to_checking_late(ctx, req)
    else:
        err = _check_prep(ctx, req, ctx.mm.find(addr))
        if err:
            return err
        result = _remap_to(ctx, req) if req.new_place else _remap_at(ctx, req)
    if isinstance(result, str):
        return result
    if req.populate and "populate" in ctx.traits:
        start = req.new_addr + req.old_len
        vma_ops.populate_range(ctx.system, ctx.mm, start, start + abs(req.new_len - req.old_len), True)
    return result


def _check_prep(ctx, req: Request, vma: Vma | None) -> str | None:
    """check_prep_vma: can this mapping be resized or moved as asked?"""
    err = _check_found(req, vma)
    if err:
        return err
    if not req.new_place:
        req.new_addr = req.addr
    if req.new_len <= req.old_len and not req.new_place:
        return None  # shrinking or no change in place maps nothing new
    return _check_resize(ctx, req, vma)


def _check_found(req: Request, vma: Vma | None) -> str | None:
    """What do_mremap tests of the mapping it looked up: there is one, it is not
    sealed, and a huge page mapping is resized in whole, aligned huge pages."""
    if vma is None:
        return "EFAULT"
    if vma.flags & VM_SEALED:
        return "EPERM"
    if vma.flags & VM_HUGETLB:  # align_hugetlb
        req.old_len = (req.old_len + HPAGE_SIZE - 1) & ~(HPAGE_SIZE - 1)
        req.new_len = (req.new_len + HPAGE_SIZE - 1) & ~(HPAGE_SIZE - 1)
        if req.addr % HPAGE_SIZE or req.new_addr % HPAGE_SIZE or req.new_len > req.old_len:
            return "EINVAL"
    return None


def _check_resize(ctx, req: Request, vma: Vma) -> str | None:
    """remap_is_valid (vma_to_resize before 6.15): may this mapping provide the old
    range and gain what the new one adds?"""
    if req.flags & MREMAP_DONTUNMAP and "dontunmap_any_mapping" not in ctx.traits \
            and (vma.obj is not None or vma.flags & VM_SHARED):
        return "EINVAL"  # 5.7 to 5.12: private anonymous memory only
    old_len, new_len = req.old_len, req.new_len
    if old_len == 0 and not vma.flags & (VM_SHARED | VM_MAYSHARE):
        return "EINVAL"  # duplicating a private mapping makes no sense
    if req.flags & MREMAP_DONTUNMAP and vma.flags & (VM_DONTEXPAND | VM_PFNMAP):
        return "EINVAL"
    if old_len > new_len:
        old_len = new_len  # a shrink may unmap across mapping boundaries
    if old_len > vma.end - req.addr:
        return "EFAULT"
    if new_len == old_len:
        return None
    if vma.flags & VM_LOCKED:
        req.populate = True
    if (vma.pgoff_at(req.addr) + (new_len >> PAGE_SHIFT)) & MASK64 < vma.pgoff_at(req.addr):
        return "EINVAL"
    if vma.flags & (VM_DONTEXPAND | VM_PFNMAP):
        return "EFAULT"
    proc = ctx.proc
    if vma.flags & VM_LOCKED and not proc.privileged:
        limit = (proc.memlock_bytes >> PAGE_SHIFT) if proc.memlock_bytes is not None else MASK64
        if ((new_len - old_len) >> PAGE_SHIFT) + ctx.mm.locked_vm > limit:
            return "EAGAIN"
    return None


def _unmap(ctx, start: int, length: int) -> str | None:
    """do_vmi_munmap of [start, start+length), with its own argument checks."""
    if start % PAGE_SIZE or start > TASK_SIZE or length > TASK_SIZE - start:
        return "EINVAL"
    length = (length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    if length == 0:
        return "EINVAL"
    err = vma_ops.unmap_check(ctx.system, ctx.mm, start, start + length)
    if err:
        return err
    vma_ops.unmap(ctx.system, ctx.mm, start, start + length)
    return None


def _remap_move(ctx, req: Request):
    """remap_move: move every mapping of the range to new_addr, keeping the gaps."""
    mm = ctx.mm
    start, end = req.addr, req.addr + req.old_len
    target, result, last_end = req.new_addr, "EFAULT", None
    for vma in list(mm.intersecting(start, end)):
        if vma not in mm.vmas:
            vma = mm.find(max(vma.start, start))
            if vma is None:
                continue
        addr = max(vma.start, start)
        length = min(end, vma.end) - addr
        if last_end is None and start < vma.start:
            return "EFAULT"  # the range must start in a mapping
        offset = vma.start - last_end if last_end is not None else 0
        last_end = vma.end
        part = Request(addr, length, length, req.flags, target + offset)
        err = _check_prep(ctx, part, vma)
        moved = err or _remap_to(ctx, part)
        if isinstance(moved, str):
            return moved
        if result == "EFAULT":
            result = moved
        target = moved + part.new_len
    return result


def _remap_to(ctx, req: Request):
    """mremap_to: move to new_addr (MREMAP_FIXED, after unmapping it) or to a hinted range."""
    return _clear_target(ctx, req) or _place_and_move(ctx, req)


def _remap_to_checking_late(ctx, req: Request):
    """mremap_to before 6.17: the target is tested only after old_address was looked up
    (its alignment and the map-count limit before 6.15 too), and the MREMAP_FIXED target
    and a shrinking move's tail are unmapped before the mapping is checked."""
    mm, traits = ctx.mm, ctx.traits
    err = _check_found(req, mm.find(req.addr))
    if err:
        return err
    early_target = "mremap_new_address_checked_first" in traits
    if not early_target and req.new_addr % PAGE_SIZE:
        return "EINVAL"
    if "mremap_checks_rounded_sizes_first" not in traits:
        if req.new_len > TASK_SIZE or req.new_addr > TASK_SIZE - req.new_len:
            return "EINVAL"
        if req.addr + req.old_len > req.new_addr and req.new_addr + req.new_len > req.addr:
            return "EINVAL"  # the ranges overlap
    if not early_target and mm.map_count + 2 >= ctx.system.max_map_count - 3:
        return "ENOMEM"
    err = _clear_target(ctx, req)
    if err:
        return err
    err = _check_resize(ctx, req, mm.find(req.addr))
    return err or _place_and_move(ctx, req)


def _clear_target(ctx, req: Request) -> str | None:
    """Unmap the MREMAP_FIXED target, then what a shrinking move gives up; the mapping
    at old_address must still be there afterwards (EFAULT)."""
    mm = ctx.mm
    if req.flags & MREMAP_FIXED:
        err = _unmap(ctx, req.new_addr, req.new_len)
        if err:
            return err
        if mm.find(req.addr) is None:
            return "EFAULT"
    if req.old_len > req.new_len:
        err = _unmap(ctx, req.addr + req.new_len, req.old_len - req.new_len)
        if err:
            return err
        req.old_len = req.new_len
        if mm.find(req.addr) is None:
            return "EFAULT"
    return None


def _place_and_move(ctx, req: Request):
    """Find the new place (the MREMAP_FIXED target, else a range the kernel picks) and move."""
    mm = ctx.mm
    vma = mm.find(req.addr)
    if req.flags & MREMAP_FIXED and req.new_addr < MMAP_MIN_ADDR and not ctx.proc.privileged:
        return "EPERM"  # get_unmapped_area: below vm.mmap_min_addr without CAP_SYS_RAWIO
    target = _new_address(ctx, vma, req)
    if target is None:
        return "ENOMEM"
    req.new_addr = target
    return _move(ctx, vma, req)


def _remap_at(ctx, req: Request):
    """mremap_at: no change, shrink in place, or grow in place or by moving."""
    mm = ctx.mm
    if req.old_len == req.new_len:
        return req.addr
    if req.old_len > req.new_len:
        err = _unmap(ctx, req.addr + req.new_len, req.old_len - req.new_len)
        return err or req.addr
    vma = mm.find(req.addr)
    delta = req.new_len - req.old_len
    if vma.end - req.addr == req.old_len and _expandable(mm, vma, delta):
        vma.end += delta
        i = mm.vmas.index(vma)
        if i + 1 < len(mm.vmas):  # vma_merge_extend: the grown mapping may meet the next one
            nxt = mm.vmas[i + 1]
            if vma_ops.can_merge(vma, nxt.flags, nxt.obj, nxt.pgoff, nxt.anon, nxt.start):
                vma.end = nxt.end
                vma.anon = vma.anon or nxt.anon
                del mm.vmas[i + 1]
        if vma.flags & VM_LOCKED:
            mm.locked_vm += delta >> PAGE_SHIFT
        return req.addr
    if not req.flags & MREMAP_MAYMOVE:
        return "ENOMEM"
    target = _new_address(ctx, vma, req)
    if target is None:
        return "ENOMEM"
    req.new_addr = target
    return _move(ctx, vma, req)


def _expandable(mm, vma: Vma, delta: int) -> bool:
    end = vma.end + delta
    return end <= TASK_SIZE and not mm.intersecting(vma.end, end)


def _new_address(ctx, vma: Vma, req: Request) -> int | None:
    """vrm_set_new_addr: new_addr with MREMAP_FIXED, else where the kernel places the mapping
    (new_addr is then a hint with MREMAP_DONTUNMAP). Private anonymous memory is aligned
    for transparent huge pages since 6.7 (whole multiples of 2 MiB since 6.12)."""
    if req.flags & MREMAP_FIXED:
        return req.new_addr
    hint = req.new_addr if req.flags & MREMAP_DONTUNMAP else 0
    anonymous = vma.obj is None and not vma.flags & VM_MAYSHARE
    traits = ctx.traits
    if "anon_thp_aligned_whole_pmds" in traits:
        thp = anonymous and req.new_len % HPAGE_SIZE == 0
    else:
        thp = anonymous and "anon_thp_aligned" in traits and req.new_len >= HPAGE_SIZE
    align = HPAGE_SIZE if vma.flags & VM_HUGETLB else None
    return vma_ops.unmapped_area(ctx.mm, req.new_len, hint, 0, thp, align)


def _move(ctx, vma: Vma, req: Request):
    """move_vma: a new mapping at new_addr takes the pages; the old range is unmapped, or
    with MREMAP_DONTUNMAP kept, empty and unlocked (since 6.15 the new range is charged to
    locked_vm while the old range's charge stays; before, locked_vm did not change)."""
    mm, system = ctx.mm, ctx.system
    addr, old_len, new_len = req.addr, req.old_len, req.new_len
    if mm.map_count >= system.max_map_count - 3:
        return "ENOMEM"  # prep_move_vma: keep room for the splits of the unmap that follows
    if vma.flags & VM_HUGETLB and ((vma.start != addr and addr % HPAGE_SIZE)
                                   or (vma.end != addr + old_len and (addr + old_len) % HPAGE_SIZE)):
        return "EINVAL"
    new = Vma(req.new_addr, req.new_addr + new_len, vma.flags, vma.obj, vma.pgoff_at(addr), vma.anon,
              resv_owner=vma.resv_owner, resv_unmapped=vma.resv_unmapped)
    if vma.resv:
        new.resv = set(vma.copy_range(addr, addr + old_len).resv)
    vma_ops.merge_new(mm, mm.insert(new))
    shift = (req.new_addr - addr) >> PAGE_SHIFT
    first, last = addr >> PAGE_SHIFT, (addr + old_len) >> PAGE_SHIFT
    for pages in (mm.resident, mm.cow, mm.lazyfree):
        moved = {p for p in pages if first <= p < last}
        pages.difference_update(moved)
        pages.update(p + shift for p in moved)
    moved_shared = {p: mm.shared.pop(p) for p in [p for p in mm.shared if first <= p < last]}
    mm.shared.update((p + shift, shared) for p, shared in moved_shared.items())
    dontunmap = bool(req.flags & MREMAP_DONTUNMAP)
    if vma.flags & VM_LOCKED and (not dontunmap or "dontunmap_overcounts_locked_vm" in ctx.traits):
        mm.locked_vm += new_len >> PAGE_SHIFT
    if dontunmap:
        vma.flags &= ~VM_LOCKED_MASK  # and locked_vm keeps the old range's charge
    elif old_len and vma_ops.unmap_check(system, mm, addr, addr + old_len) is None:
        vma_ops.unmap(system, mm, addr, addr + old_len)
    return req.new_addr
