"""A trace's configuration: kernel profile, privilege, limits, huge page pool."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mmsem.semantics.layout import DEFAULT_OUTSIDE
from mmsem.semantics.state import Outside

DEFAULT_MEMLOCK = 8 << 20  # the kernel's default RLIMIT_MEMLOCK since 5.16
DEFAULT_MAX_MAP_COUNT = 65530


def running_profile_name() -> str:
    """The X.Y of the running kernel: the default profile."""
    release = os.uname().release
    parts = release.split(".")
    try:
        return f"{int(parts[0])}.{int(''.join(c for c in parts[1] if c.isdigit()))}"
    except (IndexError, ValueError):
        return "6.18"


@dataclass(frozen=True)
class Config:
    kernel: str | None = None  # profile name; None is the running kernel
    privileged: bool = True
    rlimit_memlock: int | None = DEFAULT_MEMLOCK  # bytes; None is unlimited
    max_map_count: int = DEFAULT_MAX_MAP_COUNT
    hugetlb_pages: int = 0
    outside: Outside = field(default_factory=lambda: DEFAULT_OUTSIDE)

    @property
    def profile_name(self) -> str:
        return self.kernel or running_profile_name()
