"""What spec expressions can name besides arguments, constants and traits.

Two registries: STATE (values read from the current process and system, such as
``locked_vm``) and FUNCTIONS (``page_align(x)``, ``locked_pages(start, len)``...).
Each entry's docstring says what it means and which kernel function it stands for;
the Sphinx reference lists them from here.
"""

from __future__ import annotations

from mmsem.semantics import vma_ops
from mmsem.semantics.layout import ARENA_END, SLOT_SIZE
from mmsem.semantics.expr import MASK64, Function
from mmsem.semantics.state import HPAGE_SIZE, PAGE_SHIFT, PAGE_SIZE, VM_EXEC, VM_GROWSDOWN, VM_READ, VM_WRITE

#: RLIMIT_MEMLOCK = RLIM_INFINITY, in pages (rlim_cur >> PAGE_SHIFT).
UNLIMITED_PAGES = MASK64 >> PAGE_SHIFT
#: RLIMIT_STACK of every traced process (the kernel's default; the replay sets it).
STACK_LIMIT = 8 << 20
STACK_GUARD_GAP = vma_ops.STACK_GUARD_GAP

STATE: dict = {}
FUNCTIONS: dict = {}


class TraceError(Exception):
    """The trace asks for something the engine cannot place or resolve."""


def state_value(fn):
    """Register ``fn(ctx)`` as a value named after the function."""
    STATE[fn.__name__] = fn
    return fn


def function(*literal_kinds):
    """Register ``fn(ctx, *args)``; literal_kinds marks arguments that must be quoted names."""
    def register(fn):
        arity = fn.__code__.co_argcount - 1
        kinds = tuple(literal_kinds) + (None,) * (arity - len(literal_kinds))
        FUNCTIONS[fn.__name__] = Function(fn.__name__, arity, fn, (fn.__doc__ or "").strip(), kinds)
        return fn
    return register


# -- state values ---------------------------------------------------------------

@state_value
def locked_vm(ctx):
    """Pages charged as locked to the process (mm->locked_vm, VmLck)."""
    return ctx.mm.locked_vm


@state_value
def total_vm(ctx):
    """Pages mapped by the process in all (mm->total_vm, VmSize)."""
    return ctx.mm.total_vm


@state_value
def map_count(ctx):
    """Number of mappings of the process (mm->map_count)."""
    return ctx.mm.map_count


@state_value
def max_map_count(ctx):
    """The vm.max_map_count sysctl."""
    return ctx.system.max_map_count


@state_value
def mmap_min_addr(ctx):
    """The vm.mmap_min_addr sysctl."""
    return ctx.system.mmap_min_addr


@state_value
def memlock_limit(ctx):
    """RLIMIT_MEMLOCK soft limit in whole pages (rounded down)."""
    limit = ctx.proc.memlock_bytes
    return UNLIMITED_PAGES if limit is None else limit >> PAGE_SHIFT


@state_value
def cap_ipc_lock(ctx):
    """The caller has CAP_IPC_LOCK."""
    return ctx.proc.privileged


@state_value
def cap_sys_rawio(ctx):
    """The caller has CAP_SYS_RAWIO (may map below vm.mmap_min_addr)."""
    return ctx.proc.privileged


@state_value
def can_do_mlock(ctx):
    """mm/mlock.c:can_do_mlock: a non-zero RLIMIT_MEMLOCK, or CAP_IPC_LOCK."""
    return ctx.proc.memlock_bytes != 0 or ctx.proc.privileged


@state_value
def stack_limit(ctx):
    """RLIMIT_STACK soft limit in bytes (the replay sets it to 8 MiB)."""
    return STACK_LIMIT


@state_value
def program_break(ctx):
    """The program break (mm->brk), as brk last set it."""
    return ctx.mm.brk


@state_value
def commit_pages(ctx):
    """RAM plus swap in pages: no single request may commit more (0: not known, no limit)."""
    return ctx.mm.outside.commit_pages or MASK64


@state_value
def start_brk(ctx):
    """Where the heap starts (mm->start_brk); the break cannot go below it."""
    return ctx.mm.start_brk


@state_value
def def_flags(ctx):
    """Flags every new mapping gets (mm->def_flags; VM_LOCKED after mlockall(MCL_FUTURE))."""
    return ctx.mm.def_flags


# -- arithmetic -------------------------------------------------------------------

@function()
def page_align(ctx, x):
    """PAGE_ALIGN: round up to a page, wrapping to 0 past the top of the address space."""
    return (x + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1) & MASK64


@function()
def page_down(ctx, x):
    """Round down to a page (addr & PAGE_MASK)."""
    return x & ~(PAGE_SIZE - 1) & MASK64


@function()
def page_offset(ctx, x):
    """offset_in_page: the byte offset within its page."""
    return x & (PAGE_SIZE - 1)


@function()
def pages(ctx, x):
    """Bytes to whole pages, rounding down (x >> PAGE_SHIFT)."""
    return x >> PAGE_SHIFT


@function()
def huge_align(ctx, x):
    """ALIGN(x, huge page size), wrapping like the kernel's unsigned arithmetic."""
    return (x + HPAGE_SIZE - 1) & ~(HPAGE_SIZE - 1) & MASK64


@function()
def prot_vm_flags(ctx, prot):
    """calc_vm_prot_bits: PROT_READ/WRITE/EXEC as VM_READ/WRITE/EXEC."""
    return vma_ops.prot_to_vm(prot)


# -- flags and versions ---------------------------------------------------------------

@function("flagset")
def valid_flags(ctx, flagset):
    """Mask of the flags of a set that the profile's kernel knows."""
    return ctx.flag_masks[flagset][0]


@function(None, "flagset")
def known_value(ctx, value, flagset):
    """value is one of the set's values that the profile's kernel knows (for value sets like madvise)."""
    return value in ctx.flag_masks["values"].get(flagset, ())


@function(None, "flagset")
def known_flags(ctx, flags, flagset):
    """flags without the bits that the profile's kernel does not know and ignores."""
    return flags & ~ctx.flag_masks[flagset][1]


@function("flag")
def available(ctx, flag):
    """The profile's kernel knows this flag (its version is at least the flag's since)."""
    return flag not in ctx.flag_masks["unavailable"]


@function()
def huge_size_supported(ctx, size_log):
    """hstate_sizelog: 0 (the default size) or a huge page size the system has (2 MiB, 1 GiB)."""
    return size_log in (0, 21, 30)


# -- the address space ------------------------------------------------------------------

@function()
def locked_pages(ctx, start, length):
    """count_mm_mlocked_page_nr: pages of [start, start+length) in VM_LOCKED mappings."""
    end = min(start + length, MASK64)
    return vma_ops.locked_pages_in(ctx.mm, start, end)


@function()
def range_mapped(ctx, start, end):
    """Every page of [start, end) is mapped (no hole), as mseal requires."""
    covered = start
    for vma in ctx.mm.intersecting(start, end):
        if vma.start > covered:
            return False
        covered = vma.end
    return covered >= end


@function()
def same_file_span(ctx, start, end):
    """[start, end) lies in mappings that follow each other without a hole, all of the
    object and with the flags of the mapping at start (remap_file_pages's test)."""
    first = ctx.mm.find(start)
    if first is None:
        return False
    covered = first.end
    for vma in ctx.mm.intersecting(first.end, end):
        if vma.start != covered or vma.obj is not first.obj or vma.flags != first.flags:
            return False
        covered = vma.end
    return covered >= end


@function()
def intersects(ctx, start, end):
    """Some mapping intersects [start, end)."""
    return bool(ctx.mm.intersecting(start, end))


@function()
def mapped(ctx, addr):
    """Some mapping contains addr."""
    return ctx.mm.find(addr) is not None


@function()
def vma_prot(ctx, addr):
    """PROT_ bits of the mapping containing addr (0 if none)."""
    vma = ctx.mm.find(addr)
    if vma is None:
        return 0
    flags = vma.flags
    return (1 if flags & VM_READ else 0) | (2 if flags & VM_WRITE else 0) | (4 if flags & VM_EXEC else 0)


@function()
def vma_flags(ctx, addr):
    """VM_ flags of the mapping containing addr (0 if none)."""
    vma = ctx.mm.find(addr)
    return vma.flags if vma is not None else 0


@function()
def vma_anonymous(ctx, addr):
    """The mapping containing addr is private anonymous memory (vma_is_anonymous)."""
    vma = ctx.mm.find(addr)
    return vma is not None and vma.obj is None


@function()
def beyond_eof(ctx, addr):
    """The page at addr maps a file page at or past the end of the file."""
    vma = ctx.mm.find(addr)
    return vma is not None and vma_ops.beyond_eof(vma, addr)


@function()
def huge_page_available(ctx, addr, write):
    """A read (or write) fault at addr can get its page: not hugetlb, or resident (and
    not needing a copy), reserved, or free in the pool."""
    vma = ctx.mm.find(addr)
    if vma is None or not vma.flags & vma_ops.VM_HUGETLB:
        return True
    return vma_ops.huge_page_available(ctx.system, ctx.mm, vma, addr, bool(write))


@function()
def is_file(ctx, fd):
    """fd refers to an open file of the trace."""
    return fd in ctx.system.fds


@function()
def file_readable(ctx, fd):
    """fd is open for reading (the trace's files are, unless declared readable: false)."""
    obj = ctx.system.fds.get(fd)
    return bool(obj and obj.readable)


@function()
def file_writable(ctx, fd):
    """fd is open for writing (the trace's files are, unless declared writable: false)."""
    obj = ctx.system.fds.get(fd)
    return bool(obj and obj.writable)


@function()
def file_is_hugetlb(ctx, fd):
    """fd refers to a file on hugetlbfs."""
    obj = ctx.system.fds.get(fd)
    return bool(obj and obj.hugetlb)


def _stack_above(ctx, addr):
    """The mapping find_vma(addr) returns when addr is below it, if it grows down."""
    mm = ctx.mm
    i = mm.first_from(addr)
    if i < len(mm.vmas) and mm.vmas[i].start > addr and mm.vmas[i].flags & VM_GROWSDOWN:
        return i
    return None


@function()
def brk_room(ctx, old, new):
    """The heap can grow from old to new: the next mapping (less its guard gap if it
    grows down) starts at least one page above new."""
    mm = ctx.mm
    i = mm.first_from(old)
    if i >= len(mm.vmas) or mm.vmas[i].start >= new + PAGE_SIZE + STACK_GUARD_GAP:
        return True
    return new + PAGE_SIZE <= vma_ops.gap_start(mm.vmas[i])


@function()
def growsdown_above(ctx, addr):
    """addr is unmapped and the first mapping above it grows down (MAP_GROWSDOWN)."""
    return _stack_above(ctx, addr) is not None


@function()
def stack_gap_ok(ctx, addr):
    """expand_downwards's guard gap test: no accessible non-growsdown mapping ends within it."""
    i = _stack_above(ctx, addr)
    if not i:
        return True
    prev = ctx.mm.vmas[i - 1]
    if prev.flags & VM_GROWSDOWN or not prev.flags & (VM_READ | VM_WRITE | VM_EXEC):
        return True
    return (addr & ~(PAGE_SIZE - 1)) - prev.end >= STACK_GUARD_GAP


@function()
def stack_size_after(ctx, addr):
    """Size in bytes of the growsdown mapping above addr once grown down to addr's page."""
    return ctx.mm.vmas[_stack_above(ctx, addr)].end - (addr & ~(PAGE_SIZE - 1))


@function()
def stack_growth(ctx, addr):
    """Bytes the growsdown mapping above addr grows by to reach addr's page."""
    return ctx.mm.vmas[_stack_above(ctx, addr)].start - (addr & ~(PAGE_SIZE - 1))


@function()
def stack_flags(ctx, addr):
    """VM_ flags of the growsdown mapping above addr."""
    return ctx.mm.vmas[_stack_above(ctx, addr)].flags


@function()
def unmapped_area(ctx, length):
    """get_unmapped_area without MAP_FIXED: the trace arena's slot reserved for this step, or the
    first free slot after it (the replay agent makes the same choice)."""
    slot = ctx.slot
    if slot is None:
        raise TraceError("the mapping does not fit in the trace arena")
    while ctx.mm.intersecting(slot, slot + length):  # taken by an earlier fixed mapping: the next slot
        slot += SLOT_SIZE
        if slot + length > ARENA_END:
            return ARENA_END
    return slot
