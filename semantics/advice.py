"""madvise: per-value rules from the spec, and the walk that applies them.

Each advice value in spec/flags/madvise.yaml says what it does to a mapping
(`action`), which flags it sets or clears, and the per-mapping conditions that
make it fail (`rejects`). Those conditions are compiled here, once, over a small
namespace describing the mapping being visited; advise_range then walks the range
the way mm/madvise.c does: holes are remembered and reported (ENOMEM) at the end,
any other failure stops the walk, and splitting a mapping beyond vm.max_map_count
is EAGAIN. MADV_POPULATE_READ/WRITE fault the range in on their own since 6.10,
stopping at the first hole; before, they were visited like the other values.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmsem.semantics import vma_ops
from mmsem.semantics.expr import ExprError, Namespace, compile_expr
from mmsem.semantics.namespace import FUNCTIONS, TraceError
from mmsem.semantics.registry import primitive
from mmsem.semantics.state import (
    HPAGE_SIZE,
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_HUGETLB,
    VM_IO,
    VM_PFNMAP,
    VM_READ,
    VM_WRITE,
)
from mmsem.spec.model import FlagSet, Spec
from mmsem.spec.source import InputError

#: What a rule's conditions may name about the mapping being visited.
POPULATE = ("populate_read", "populate_write")
VMA_NAMES = frozenset({"vma_flags", "vma_file", "vma_anonymous", "start", "end"})
PURE_FUNCTIONS = ("page_align", "page_down", "page_offset", "pages", "huge_align")


@dataclass(frozen=True)
class ValueRule:
    name: str
    action: str
    set_mask: int
    clear_mask: int
    skip_when: object  # compiled condition or None
    rejects: tuple  # (compiled condition, errno)


def compile_rules(flagset: FlagSet, spec: Spec) -> dict[int, ValueRule]:
    """The rules of a value set (madvise), by value."""
    ns = Namespace(VMA_NAMES, spec.constants, frozenset(spec.traits), {},
                   {name: FUNCTIONS[name] for name in PURE_FUNCTIONS})
    def condition(source, origin):
        try:
            return compile_expr(source, ns)
        except ExprError as exc:
            raise InputError(origin.path, origin.line, origin.col, f"in a condition of {flag.name}: {exc}") from None

    rules = {}
    for flag in flagset.flags:
        if flag.action is None:
            continue
        rules[flag.value] = ValueRule(
            flag.name, flag.action,
            sum(spec.constants[n] for n in flag.set_flags),
            sum(spec.constants[n] for n in flag.clear_flags),
            condition(flag.skip_when, flag.origin) if flag.skip_when is not None else None,
            tuple((condition(r.when, r.origin), r.errno) for r in flag.rejects),
        )
    return rules


def _vma_env(vma, start: int, end: int) -> dict:
    return {"vma_flags": vma.flags, "vma_file": vma.obj is not None, "vma_anonymous": vma.obj is None,
            "start": start, "end": end}


@primitive("ENOMEM", "EINVAL", "EACCES", "EAGAIN", "EFAULT", "EPERM")
def advise_range(ctx, start, end, advice):
    """Apply one advice value to every mapping of [start, end) (madvise_walk_vmas).

    Holes are skipped and reported as ENOMEM at the end; a mapping the value
    rejects stops the walk with its errno; a flag change that needs a split
    beyond vm.max_map_count stops it with EAGAIN. MADV_POPULATE_READ/WRITE
    instead fault pages in up to the first failure, a hole included (since 6.10;
    before, they went through the walk, each mapping faulted in on its visit).
    """
    rule = ctx.tables["madvise"][advice]
    if rule.action == "unmodelled":
        raise TraceError(f"{rule.name} is not modelled")
    if rule.action in POPULATE and "madvise_populate_stops_at_hole" in ctx.traits:
        return populate_range(ctx, start, end, rule.action == "populate_write")
    mm = ctx.mm
    i = mm.first_from(start)
    unmapped = None
    while True:
        if i >= len(mm.vmas):
            return "ENOMEM"
        vma = mm.vmas[i]
        if start < vma.start:
            unmapped = "ENOMEM"
            start = vma.start
            if start >= end:
                break
        tmp = min(vma.end, end)
        err, j = visit(ctx, rule, i, start, tmp)
        if err:
            return err
        start = max(tmp, mm.vmas[j].end) if j is not None else tmp
        if start >= end:
            break
        i = mm.first_from(start)
    return unmapped


def visit(ctx, rule: ValueRule, i: int, start: int, end: int) -> tuple[str | None, int | None]:
    """madvise_vma_behavior for one mapping; returns (errno, index of the mapping now covering the range)."""
    mm, system = ctx.mm, ctx.system
    vma = mm.vmas[i]
    env = _vma_env(vma, start, end)
    for condition, errno in rule.rejects:
        if condition(env, None):
            return errno, i
    if rule.skip_when is not None and rule.skip_when(env, None):
        return None, i
    action = rule.action
    if action in POPULATE:  # before 6.10: madvise_populate as a visit of the walk
        return _populate_vma(ctx, vma, start, end, action == "populate_write"), i
    if action == "flags":
        newflags = (vma.flags | rule.set_mask) & ~rule.clear_mask
        if newflags == vma.flags:
            return None, i
        err, j = vma_ops.modify_flags(system, mm, i, start, end, newflags)
        return ("EAGAIN" if err == "ENOMEM" else err), j
    if action == "zap":
        if vma.flags & VM_HUGETLB:
            end = start + (end - start) // HPAGE_SIZE * HPAGE_SIZE  # whole huge pages only
        vma_ops.zap(system, mm, vma, start, end)
        return None, None
    if action == "pageout":
        vma_ops.pageout(system, mm, vma, start, end)
        return None, i
    if action == "lazy_free":
        # pages a forked process also maps are skipped (madvise_free_pte_range: mapcount != 1)
        mm.lazyfree.update(p for p in range(start >> PAGE_SHIFT, end >> PAGE_SHIFT)
                           if p in mm.cow and vma_ops.exclusive(mm, p))
        return None, i
    if action == "remove":
        vma_ops.punch_hole(system, vma.obj, vma.pgoff_at(start), (end - start) >> PAGE_SHIFT)
        return None, None
    return None, i  # keep: nothing the observation can see changes


def populate_range(ctx, start: int, end: int, write: bool) -> str | None:
    """madvise_populate: fault [start, end) in as reads or writes, stopping at the first failure."""
    addr = start
    while addr < end:
        vma = ctx.mm.find(addr)
        if vma is None:
            return "ENOMEM"
        seg_end = min(end, vma.end)
        err = _populate_vma(ctx, vma, addr, seg_end, write)
        if err:
            return err
        addr = seg_end
    return None


def _populate_vma(ctx, vma, start: int, end: int, write: bool) -> str | None:
    """faultin_page_range over [start, end) of one mapping: EINVAL for a mapping that
    cannot be accessed so (check_vma_flags), EFAULT at the first page that cannot be
    faulted in."""
    mm, system = ctx.mm, ctx.system
    if vma.flags & (VM_IO | VM_PFNMAP) or not vma.flags & (VM_WRITE if write else VM_READ):
        return "EINVAL"
    step = HPAGE_SIZE if vma.flags & VM_HUGETLB else PAGE_SIZE
    page = start & ~(step - 1)
    while page < end:
        if vma_ops.beyond_eof(vma, page):
            return vma_ops.fault_beyond_eof(mm, vma, page, write)
        if vma.flags & VM_HUGETLB and not vma_ops.huge_page_available(system, mm, vma, page, write):
            return "EFAULT"
        vma_ops.fault_page(system, mm, vma, page, write)
        page += step
    return None
