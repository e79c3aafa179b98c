"""Seeded random traces over every modelled system call, flag and argument kind.

Generation reads the spec: each step is a system call or pseudo-step of the spec,
its arguments are drawn by kind (addresses near the trace's own mappings, sizes
around them, flags from the argument's flag set, now and then a bit no kernel
knows). A few weights below steer traces towards states worth testing (mappings
that exist, limits that bite); they are data, not per-call logic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import yaml

from mmsem.semantics.layout import MAX_PROCESSES, SLOT_SIZE
from mmsem.spec import default_spec
from mmsem.spec.model import Spec

PAGE = 4096
MASK64 = (1 << 64) - 1
#: Relative frequency of each step, by name; calls not listed get DEFAULT_WEIGHT.
STEP_WEIGHTS = {"mmap": 5, "touch": 4, "mlock": 3, "mlock2": 3, "munlock": 3, "munmap": 3, "madvise": 4,
                "mremap": 3, "fork": 1, "brk": 2,
                "mlockall": 2, "munlockall": 1}
DEFAULT_WEIGHT = 2
#: Chance that a flag bit is set, by flag; others get FLAG_CHANCE.
FLAG_CHANCES = {"MAP_ANONYMOUS": 0.7, "MAP_FIXED": 0.15, "MAP_FIXED_NOREPLACE": 0.05,
                "MAP_LOCKED": 0.25, "MAP_POPULATE": 0.25, "MLOCK_ONFAULT": 0.5, "MCL_CURRENT": 0.6,
                "MCL_FUTURE": 0.4, "MCL_ONFAULT": 0.4, "PROT_READ": 0.85, "PROT_WRITE": 0.7,
                "PROT_EXEC": 0.1, "MAP_HUGETLB": 0.03, "MAP_GROWSDOWN": 0.04, "MAP_32BIT": 0.02,
                "MREMAP_MAYMOVE": 0.6, "MREMAP_FIXED": 0.2, "MREMAP_DONTUNMAP": 0.2}
FLAG_CHANCE = 0.07
#: With a huge page pool: the chance of MAP_HUGETLB, and of a file being a hugetlb memfd.
HUGETLB_CHANCE = 0.4
#: The name a trace's first brk binds to the program break it starts with: addresses
#: relative to it never go below it (the replay agent's own heap lies there), and brk
#: grows the heap by at most HEAP_PAGES.
HEAP = "HEAP"
HEAP_PAGES = 24
#: States that random steps rarely build on their own, set up at the start of a
#: SETUP_CHANCE share of the traces (weight, config, files, steps; the steps bind the
#: names they use, with their length in pages): the error paths that need them (EPERM
#: on sealed mappings, EACCES on read-only files, EAGAIN for locked growth, EFAULT past
#: the end of a file) then get exercised by the random steps that follow.
SETUP_CHANCE = 0.3
_RW = ["PROT_READ", "PROT_WRITE"]
SETUPS = [
    (2, {}, {}, [{"mmap": {"len": "4p", "prot": ["PROT_READ"], "flags": ["MAP_PRIVATE", "MAP_ANONYMOUS", "MAP_POPULATE"]},
                  "as": "SEALED"},
                 {"mseal": {"addr": "SEALED", "len": "4p"}},
                 {"madvise": {"addr": "SEALED+1p", "len": "1p", "advice": "MADV_DONTNEED"}}], {"SEALED": 4}),
    (1, {}, {"SF": {"size": "4p"}},
     [{"mmap": {"len": "4p", "prot": _RW, "flags": ["MAP_SHARED"], "fd": "SF"}, "as": "SEALED"},
      {"mseal": {"addr": "SEALED+1p", "len": "2p"}},
      {"remap_file_pages": {"addr": "SEALED+1p", "size": "1p", "pgoff": 2}}], {"SEALED": 4}),
    (2, {}, {"SF": {"size": "6p"}},
     [{"mmap": {"len": "4p", "prot": _RW, "flags": ["MAP_SHARED"], "fd": "SF"}, "as": "SHARED"},
      {"remap_file_pages": {"addr": "SHARED+1p", "size": "1p", "pgoff": 1 << 52}}], {"SHARED": 4}),
    (1, {"max_map_count": 12}, {"SF": {"size": "6p"}},
     [{"mmap": {"len": "4p", "prot": _RW, "flags": ["MAP_SHARED"], "fd": "SF"}, "as": "SHARED"},
      {"remap_file_pages": {"addr": "SHARED+1p", "size": "1p", "pgoff": 3}}], {"SHARED": 4}),
    (2, {"privileged": False, "rlimit_memlock": "6p"}, {"SF": {"size": "8p"}},
     [{"mmap": {"len": "4p", "prot": _RW, "flags": ["MAP_SHARED", "MAP_LOCKED"], "fd": "SF"}, "as": "LOCKED"},
      {"remap_file_pages": {"addr": "LOCKED", "size": "4p", "pgoff": 4}}], {"LOCKED": 4}),
    (1, {"privileged": False, "rlimit_memlock": "6p"}, {},
     [{"mmap": {"len": "4p", "prot": _RW, "flags": ["MAP_PRIVATE", "MAP_ANONYMOUS", "MAP_LOCKED"]}, "as": "LOCKED"},
      {"mremap": {"old_address": "LOCKED", "old_size": "4p", "new_size": "8p", "flags": ["MREMAP_MAYMOVE"]}}],
     {"LOCKED": 4}),
    (2, {}, {"RO": {"size": "4p", "writable": False}},
     [{"mmap": {"len": "4p", "prot": ["PROT_READ"], "flags": ["MAP_SHARED"], "fd": "RO"}, "as": "READONLY"},
      {"madvise": {"addr": "READONLY", "len": "1p", "advice": "MADV_REMOVE"}},
      {"mprotect": {"addr": "READONLY", "len": "1p", "prot": _RW}}], {"READONLY": 4}),
    (1, {}, {"SF": {"size": "2p"}},
     [{"mmap": {"len": "6p", "prot": _RW, "flags": ["MAP_SHARED"], "fd": "SF"}, "as": "SHORT"},
      {"madvise": {"addr": "SHORT", "len": "6p", "advice": "MADV_POPULATE_READ"}}], {"SHORT": 6}),
]
#: After a fork: the chance that a step runs in one of the forked processes.
CHILD_STEP_CHANCE = 0.4
#: Chance of a field value (mapping type) outside the known ones.
ODD_FIELD_CHANCE = 0.04
#: Flags whose use needs a resource the live replay does not set up in random traces.
NEVER_GENERATED = {"MAP_SYNC", "MAP_UNINITIALIZED", "MADV_HWPOISON", "MADV_SOFT_OFFLINE"}
#: RLIMIT_MEMLOCK values. Not "unlimited": raising the hard limit (8 MiB by default) needs
#: CAP_SYS_RESOURCE, which the replay may not have (root in a container often lacks it).
#: Calls that go on past holes and destroy what they meet: from a raw address (below
#: the arena, where the replay agent's program and data live) only short ranges.
SMALL_RANGES_ONLY = {"madvise", "munmap", "mprotect", "mseal"}
RLIMITS = [0, 4095, "1p", "4p", "8p", "16p", "64p", "1024p", "2048p"]
#: Lengths that overflow or exceed the address space. (TASK_SIZE itself is left out: with
#: address 0, munmap would accept it and unmap the replay agent.)
WRAPPING_LENGTHS = ["SIZE_MAX", "SIZE_MAX-4095"]
#: madvise goes on past holes to the end of its range, so from the arena these reach
#: the replay agent's stack and vdso above it (MADV_DONTFORK there left the agent's
#: forked child without a stack): madvise gets only lengths that wrap around, which
#: are refused before the walk.
BEYOND_THE_ARENA = [1 << 47, 1 << 63]
HUGE_LENGTHS = WRAPPING_LENGTHS + BEYOND_THE_ARENA


@dataclass
class Options:
    steps: int = 10
    #: Mappings the process has outside the arena; needed to aim at max_map_count.
    base_vmas: int = 11
    files: bool = True
    #: False for a profile without an MMU: calls the model does not describe there are left out.
    mmu: bool = True


def forks(entry) -> bool:
    """The call creates a process (without an MMU it fails, and steps meant for the
    child could not run)."""
    return bool(entry.binds and "process" in entry.binds)


class Generator:
    def __init__(self, seed: int, spec: Spec | None = None, options: Options | None = None):
        self.rng = random.Random(seed)
        self.spec = spec or default_spec()
        self.options = options or Options()
        calls = sorted(name for name, entry in self.spec.syscalls.items()
                       if self.options.mmu or not (entry.nommu == "unmodelled" or forks(entry)))
        self.calls = calls
        self.weights = [STEP_WEIGHTS.get(name, DEFAULT_WEIGHT) for name in calls]
        self.pool = 0  # huge pages in the pool of the trace being generated

    # -- building blocks -----------------------------------------------------------------
    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pages(self, low: int, high: int) -> str:
        return f"{self.rng.randint(low, high)}p"

    def size(self) -> object:
        r = self.rng.random()
        if r < 0.7:
            return self.pages(0, 10)
        if r < 0.8:
            return self.rng.randint(1, 3 * PAGE)
        if r < 0.9:
            return self.rng.choice(HUGE_LENGTHS)
        return "1h"

    def address(self, names: dict) -> object:
        r = self.rng.random()
        if names and r < 0.85:
            name = self.rng.choice(sorted(names))
            pages = names[name]
            offset = self.rng.randint(0 if name == HEAP else -1, pages + 1)
            text = f"{name}{'+' if offset >= 0 else '-'}{abs(offset)}p"
            if self.chance(0.1):
                text += f"+{self.rng.randint(1, PAGE - 1)}"
            return text
        return self.rng.choice([0, 0x1000, 0x1001, "TASK_SIZE"])

    def flag_chance(self, name: str) -> float:
        if name == "MAP_HUGETLB" and self.pool:
            return HUGETLB_CHANCE
        return FLAG_CHANCES.get(name, FLAG_CHANCE)

    def flags(self, flagset_name: str) -> list:
        flagset = self.spec.flagsets[flagset_name]
        if flagset.values:  # one value of the set, now and then one no kernel knows
            if self.chance(0.03):
                return [self.rng.choice([77, 1000, -1])]
            return [self.rng.choice([f.name for f in flagset.flags if f.name not in NEVER_GENERATED])]
        chosen = []
        for field in flagset.fields:
            members = [f.name for f in flagset.flags if f.field == field]
            if self.chance(ODD_FIELD_CHANCE):
                chosen.append(self.rng.choice([0, 4, 5, 0xF]))
            else:
                chosen.append(self.rng.choice(members))
        for flag in flagset.flags:
            if flag.field is None and flag.name not in NEVER_GENERATED:
                if self.chance(self.flag_chance(flag.name)):
                    chosen.append(flag.name)
        if self.chance(0.03):
            chosen.append(self.rng.choice([0x400, 0x80000000, 1 << 31]))
        return chosen

    def argument(self, arg, names: dict, files: list) -> object:
        kind = arg.kind
        if kind == "addr":
            return self.address(names)
        if kind == "size":
            return self.size()
        if kind == "offset":
            return 0 if self.chance(0.85) else self.rng.choice(["1p", "2p", 100, "SIZE_MAX-4095"])
        if kind == "flags":
            return self.flags(arg.flagset)
        if kind == "prot":
            names = [f.name for f in self.spec.flagsets["prot"].flags]
            return [n for n in names if self.chance(FLAG_CHANCES.get(n, 0.03))]
        if kind == "fd":
            if files and self.chance(0.8):
                return self.rng.choice(files)
            return self.rng.choice([-1, -1, 77])
        if kind == "bool":
            return self.chance(0.5)
        if arg.has_default and self.chance(0.8):
            return arg.default  # reserved or rarely used integers: mostly the usual value
        if self.chance(0.05):
            return self.rng.choice([1 << 52, MASK64])  # offsets past any file, wrapping values
        return self.rng.randint(0, 16)

    def brk_step(self, names: dict) -> dict:
        """The first brk names the break the trace starts with; later ones move it within
        HEAP_PAGES above it, now and then to an unaligned address or back to 0."""
        if HEAP not in names:
            names[HEAP] = HEAP_PAGES
            return {"brk": {"addr": 0}, "as": HEAP}
        if self.chance(0.1):
            return {"brk": {"addr": 0}}
        addr = f"{HEAP}+{self.rng.randint(0, HEAP_PAGES)}p"
        if self.chance(0.15):
            addr += f"+{self.rng.randint(1, PAGE - 1)}"
        return {"brk": {"addr": addr}}

    def interior_range(self, args: dict, names: dict) -> None:
        """A range strictly inside one of the trace's mappings (changing it needs a split)."""
        big = sorted(name for name, pages in names.items() if pages >= 3)
        if not big:
            return
        name = self.rng.choice(big)
        start = self.rng.randint(1, names[name] - 2)
        args["addr"] = f"{name}+{start}p"
        args["len"] = f"{self.rng.randint(1, names[name] - 1 - start)}p"

    # -- traces ---------------------------------------------------------------------------
    def config(self) -> dict:
        config: dict = {}
        if self.chance(0.35):
            config["privileged"] = False
            config["rlimit_memlock"] = self.rng.choice(RLIMITS)
        elif self.chance(0.2):
            config["rlimit_memlock"] = self.rng.choice(RLIMITS)
        if self.chance(0.15):
            config["max_map_count"] = self.options.base_vmas + self.rng.randint(1, 3)
        if self.chance(0.12):
            config["hugetlb_pages"] = self.rng.randint(1, 4)
        return config

    def trace(self, name: str) -> dict:
        rng = self.rng
        config = self.config()
        self.pool = config.get("hugetlb_pages", 0)
        files = {}
        if self.options.files and self.chance(0.5):
            for letter in "FG"[: rng.randint(1, 2)]:
                files[letter] = {"size": self.pages(0, 6)}
                if self.pool and self.chance(HUGETLB_CHANCE):
                    files[letter] = {"size": f"{rng.randint(0, 2)}h", "hugetlb": True}
                if self.chance(0.2):
                    files[letter]["writable"] = False
                elif self.chance(0.08):
                    files[letter]["readable"] = False
        names: dict = {}  # bound name -> length in pages
        steps = []
        if self.chance(SETUP_CHANCE):
            usable = [s for s in SETUPS if all(set(step) - {"as"} <= set(self.calls) for step in s[3])]
            _, setup_config, setup_files, setup_steps, setup_names = rng.choices(usable, [s[0] for s in usable])[0]
            config.update(setup_config)
            files.update(setup_files)
            steps.extend(setup_steps)
            names.update(setup_names)
        children: list = []  # the processes forks made, as the trace loader names them
        limited = "max_map_count" in config  # near the limit, aim at ranges that split a mapping
        for i in range(rng.randint(1, self.options.steps)):
            first = i < 2 and "mmap" in self.spec.syscalls
            call = "mmap" if first else rng.choices(self.calls, self.weights)[0]
            if call == "fork" and len(children) == MAX_PROCESSES - 1:
                call = "touch"
            entry = self.spec.syscalls[call]
            args = {}
            for arg in entry.args:
                if arg.has_default and self.chance(0.3):
                    continue
                args[arg.name] = self.argument(arg, names, sorted(files))
            if first:  # start from a mapping that exists, most of the time
                args["len"] = self.pages(1, 8)
                args["addr"] = 0
            elif limited and "addr" in args and "len" in args and self.chance(0.5):
                self.interior_range(args, names)
            if call in SMALL_RANGES_ONLY and not isinstance(args.get("addr", "A"), str):
                args["len"] = self.pages(0, 10)
            elif call == "madvise" and args.get("len") in BEYOND_THE_ARENA:
                args["len"] = rng.choice(WRAPPING_LENGTHS)
            flag_names = set(args["flags"]) if isinstance(args.get("flags"), list) else set()
            raw_fixed = {"MAP_FIXED", "MAP_FIXED_NOREPLACE"} & flag_names \
                and not isinstance(args.get("addr", 0), str)  # would land on the agent's own memory
            if "MAP_HUGETLB" in flag_names and not raw_fixed and self.chance(0.8):
                args["len"] = f"{rng.randint(1, 3)}h"
            step = {call: args}
            if call == "brk":
                step = self.brk_step(names)
            elif call == "fork":
                children.append("child" if not children else f"child{len(children) + 1}")
            elif children and self.chance(CHILD_STEP_CHANCE):
                step["proc"] = rng.choice(children)
            if entry.placement:
                bind = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[len(names) % 26] + ("" if len(names) < 26 else str(len(names)))
                pages = length_pages(args.get("len", 0))
                fixed = {"MAP_FIXED", "MAP_FIXED_NOREPLACE"} & flag_names
                if fixed and not isinstance(args.get("addr", 0), str):
                    pages = None  # a fixed mapping at a raw address is outside the arena: bind no name to it
                if pages is not None:
                    step["as"] = bind
                    names[bind] = pages
            steps.append(step)
        trace = {"name": name, "config": config, "files": files, "steps": steps}
        return {k: v for k, v in trace.items() if v}


def length_pages(length) -> int | None:
    """Pages of a generated length, or None when it is too long (or odd) to bind a name to."""
    if isinstance(length, int):
        size = length
    elif isinstance(length, str) and length[:-1].isdigit() and length[-1] in "ph":
        size = int(length[:-1]) * (PAGE if length[-1] == "p" else 2 << 20)
    else:
        return None
    return -(-size // PAGE) if size <= 4 * SLOT_SIZE else None


def generate(count: int, seed: int, options: Options | None = None, spec: Spec | None = None) -> list[dict]:
    gen = Generator(seed, spec, options)
    return [gen.trace(f"random-{seed}-{i}") for i in range(count)]


def dump(trace: dict) -> str:
    return yaml.safe_dump(trace, sort_keys=False, default_flow_style=None, width=100)
