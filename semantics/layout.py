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

from mmsem.semantics.state import Outside

ARENA_BASE = 0x100000000000  # 16 TiB
SLOT_SIZE = 2 << 20
ARENA_SLOTS = 512  # 1 GiB of address space
ARENA_END = ARENA_BASE + SLOT_SIZE * ARENA_SLOTS
FD_BASE = 1000

#: The replay helper's own mappings, as measured by `mmsem run --kernel` on the
#: development machine; the kernel backend measures them afresh and passes the
#: figures to the engine, so these only serve engine-only runs.
DEFAULT_OUTSIDE = Outside(vmas=11, pages=394, lockable_pages=386)


def slots_for(length: int) -> int:
    """Slots a mapping of `length` bytes takes, including a trailing gap."""
    return length // SLOT_SIZE + 1


def in_arena(addr: int) -> bool:
    return ARENA_BASE <= addr < ARENA_END
