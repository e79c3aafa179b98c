"""Where a trace lives in a process: the arena, its slots, and file descriptors.

Engine and kernel replay share this layout, so that every address in a trace is
known before it runs. The arena is a fixed, page-table-friendly region far from
where the kernel puts anything by itself (program, heap, libraries and stack are
below 0x01000000000 or above 0x7e0000000000). A mapping without MAP_FIXED gets the
next free slot of the arena, each slot 2 MiB aligned (so huge pages fit) and
followed by at least one unmapped slot boundary so that separate mappings never
touch by accident. Files of the trace get descriptors from FD_BASE on, in the order
the trace lists them; the replay moves its memfds there.
"""

from __future__ import annotations

from mmsem.semantics.state import TASK_UNMAPPED_BASE_DEFAULT, Outside, OwnMapping
from mmsem.spec import default_spec

ARENA_BASE = 0x100000000000  # 16 TiB
SLOT_SIZE = 2 << 20
ARENA_SLOTS = 512  # 1 GiB of address space
ARENA_END = ARENA_BASE + SLOT_SIZE * ARENA_SLOTS
FD_BASE = 1000
MAX_PROCESSES = 4  # per trace, the first included (the replay agent's MAX_PROCS)
TASK_SIZE = default_spec().constants["TASK_SIZE"]
#: mm->mmap_base of the legacy (bottom-up) layout the replay agent runs with:
#: PAGE_ALIGN(TASK_SIZE / 3) (arch/x86/mm/mmap.c, TASK_UNMAPPED_BASE).
TASK_UNMAPPED_BASE = TASK_UNMAPPED_BASE_DEFAULT


def _flags(*names: str) -> int:
    return sum(default_spec().constants[name] for name in names)


#: The replay agent's own mappings as `mmsem run --kernel` measured them on Linux
#: 6.18.44 (static agent, no address randomisation, legacy layout): program, data,
#: bss, heap, vvar, vvar_vclock, vdso, stack. The kernel backends measure them afresh and pass them
#: to the engine; these only serve engine-only runs, so that mlockall, the limits
#: and walks over large ranges meet a realistic process.
DEFAULT_OUTSIDE = Outside(mappings=(
    OwnMapping(0x400000, 0x401000, _flags('VM_READ', 'VM_MAYREAD', 'VM_MAYWRITE', 'VM_MAYEXEC'), True, 0x0),
    OwnMapping(0x401000, 0x47e000, _flags('VM_READ', 'VM_EXEC', 'VM_MAYREAD', 'VM_MAYWRITE', 'VM_MAYEXEC'), True, 0x1),
    OwnMapping(0x47e000, 0x4a6000, _flags('VM_READ', 'VM_MAYREAD', 'VM_MAYWRITE', 'VM_MAYEXEC'), True, 0x7e),
    OwnMapping(0x4a6000, 0x4aa000, _flags('VM_READ', 'VM_MAYREAD', 'VM_MAYWRITE', 'VM_MAYEXEC', 'VM_ACCOUNT'), True, 0xa6),
    OwnMapping(0x4aa000, 0x4ad000, _flags('VM_READ', 'VM_WRITE', 'VM_MAYREAD', 'VM_MAYWRITE', 'VM_MAYEXEC', 'VM_ACCOUNT'), True, 0xaa),
    OwnMapping(0x4ad000, 0x57f000, _flags('VM_READ', 'VM_WRITE', 'VM_MAYREAD', 'VM_MAYWRITE', 'VM_MAYEXEC', 'VM_ACCOUNT'), False, 0x4ad),
    OwnMapping(0x57f000, 0x5a1000, _flags('VM_READ', 'VM_WRITE', 'VM_MAYREAD', 'VM_MAYWRITE', 'VM_MAYEXEC', 'VM_ACCOUNT'), False, 0x57f),
    OwnMapping(0x2aaaaaaab000, 0x2aaaaaaaf000, _flags('VM_READ', 'VM_MAYREAD', 'VM_PFNMAP', 'VM_IO', 'VM_DONTEXPAND', 'VM_DONTDUMP'), False, 0x2aaaaaaab),
    OwnMapping(0x2aaaaaaaf000, 0x2aaaaaab1000, _flags('VM_READ', 'VM_MAYREAD', 'VM_PFNMAP', 'VM_IO', 'VM_DONTEXPAND', 'VM_DONTDUMP'), False, 0x2aaaaaaaf),
    OwnMapping(0x2aaaaaab1000, 0x2aaaaaab3000, _flags('VM_READ', 'VM_EXEC', 'VM_MAYREAD', 'VM_MAYWRITE', 'VM_MAYEXEC', 'VM_DONTEXPAND'), False, 0x2aaaaaab1),
    OwnMapping(0x7ffffffde000, 0x7ffffffff000, _flags('VM_READ', 'VM_WRITE', 'VM_MAYREAD', 'VM_MAYWRITE', 'VM_MAYEXEC', 'VM_GROWSDOWN', 'VM_ACCOUNT'), False, 0x7ffffffde),
), brk=0x5a1000, start_brk=0x57f000, commit_pages=0x5e298d, mmap_base=TASK_UNMAPPED_BASE)


def slots_for(length: int) -> int:
    """Slots a mapping of `length` bytes takes, including a trailing gap."""
    return length // SLOT_SIZE + 1


def in_arena(addr: int) -> bool:
    return ARENA_BASE <= addr < ARENA_END
