"""The engine: runs spec programs on a modelled system, one step at a time."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from mmsem.semantics.advice import compile_rules
from mmsem.semantics.config import Config
from mmsem.semantics.expr import MASK64
from mmsem.semantics.layout import FD_BASE
from mmsem.semantics.namespace import TraceError
from mmsem.semantics.program import Compiler, Context, Outcome, errno_name, run
from mmsem.semantics.state import HugePool, MemObject, Mm, Process, System, Vma, new_anon_id
from mmsem.spec import default_spec
from mmsem.spec.model import Profile, Spec

MAIN = "main"  # the name of a trace's first process


@dataclass(frozen=True)
class StepResult:
    outcome: Outcome
    #: Outcomes the kernel may also produce here, which the model cannot predict
    #: (memory pressure); the state after them is not modelled.
    alternatives: tuple[Outcome, ...] = ()


#: The program's file, behind its file-backed mappings: in the page cache, read-only.
PROGRAM = MemObject("program", 1 << 40, writable=False)


def add_own_mappings(mm: Mm, mappings) -> None:
    """The process's own mappings, as measured. Each gets its own anon_vma identity, as
    written program data, heap and stack have, so none merges with another by accident;
    one inherited through fork, as the replay agent's trace processes are forked."""
    for m in mappings:
        mm.insert(Vma(m.start, m.end, m.flags, PROGRAM if m.file_backed else None, m.pgoff,
                      -new_anon_id(), own=True))


def coerce(kind: str, width: int, value) -> int:
    """An argument as the kernel sees it: truncated to its C type."""
    if kind == "bool":
        return int(bool(value))
    value = int(value)
    if kind == "fd":
        value &= 0xFFFFFFFF
        return value - (1 << 32) if value & 0x80000000 else value
    return value & ((1 << width) - 1) if width < 64 else value & MASK64


class Engine:
    """Executes steps against a :class:`System`, following the spec."""

    def __init__(self, spec: Spec | None = None):
        self.spec = spec or default_spec()
        self.compiler = Compiler(self.spec)
        self.programs = {name: self.compiler.program(name) for name in self.spec.syscalls}
        self.procedures = self.compiler.procedures
        self.tables = {fs.name: compile_rules(fs, self.spec) for fs in self.spec.flagsets.values() if fs.values}
        self._masks: dict = {}

    # -- setting up ---------------------------------------------------------------
    def profile(self, name: str) -> Profile:
        return self.spec.profile(name)

    def flag_masks(self, profile: Profile) -> dict:
        if profile not in self._masks:
            self._masks[profile] = _flag_masks(self.spec, profile)
        return self._masks[profile]

    def new_system(self, config: Config, files: dict | None = None) -> System:
        """A system with one process, as a trace's configuration describes it."""
        profile = self.profile(config.profile_name)
        system = System(profile=profile, max_map_count=config.max_map_count,
                        pool=HugePool(config.hugetlb_pages, config.hugetlb_pages, 0))
        for i, (name, file) in enumerate((files or {}).items()):
            system.fds[FD_BASE + i] = MemObject(name, file.size, file.hugetlb, file.writable,
                                                readable=file.readable)
        mm = Mm(outside=copy.copy(config.outside), brk=config.outside.brk,
                start_brk=config.outside.start_brk or config.outside.brk)
        add_own_mappings(mm, config.outside.mappings)
        system.processes[MAIN] = Process(MAIN, mm, config.privileged, config.rlimit_memlock)
        return system

    # -- running ---------------------------------------------------------------------
    def call(self, system: System, proc: str, name: str, args: dict, slot: int | None = None,
             new_process: str | None = None) -> StepResult:
        """Run syscall or pseudo-step `name` with integer arguments in process `proc`
        (`new_process`: the name of the process a fork creates)."""
        entry = self.spec.syscalls[name]
        profile = system.profile
        if proc not in system.processes:
            raise TraceError(f"process {proc} does not exist: the fork that was to create it failed")
        if entry.since and profile.version < entry.since:
            return StepResult(Outcome(errno="ENOSYS"))
        if not profile.mmu and entry.nommu == "enosys":
            return StepResult(Outcome(errno="ENOSYS"))  # the syscall is not built without an MMU
        if not profile.mmu and entry.nommu == "unmodelled":
            raise TraceError(f"{name} without an MMU (mm/nommu.c) is not modelled")
        env = {}
        for arg in entry.args:
            value = args[arg.name] if arg.name in args else arg.default
            env[arg.name] = coerce(arg.kind, arg.width, value)
        ctx = Context(system, system.processes[proc], profile.traits, self.flag_masks(profile), self.tables, slot,
                      new_process)
        kind, value = run(self.programs[name], env, ctx, self.procedures)
        if kind == "fail":
            outcome = value
        elif kind == "return" and value > MASK64 - 4095:
            outcome = Outcome(errno=errno_name(MASK64 + 1 - value, self.spec))  # how libc reads it
        else:
            outcome = Outcome(ret=value if kind == "return" else 0)
        alternatives = tuple(a for a in dict.fromkeys(ctx.alternatives) if a != outcome)
        return StepResult(outcome, alternatives)


def _flag_masks(spec: Spec, profile: Profile) -> dict:
    """Per flag set: (mask of known flags, mask of unknown-and-ignored flags); plus unavailable names."""
    masks: dict = {"unavailable": frozenset()}
    unavailable = set()
    for flagset in spec.flagsets.values():
        known = ignored = 0
        for flag in flagset.flags:
            if flag.since and profile.version < flag.since:
                unavailable.add(flag.name)
                if flag.before_since == "ignored" and flag.field is None:
                    ignored |= flag.value
                continue
            if flag.field is None:
                known |= flag.value
        masks[flagset.name] = (known, ignored)
    masks["unavailable"] = frozenset(unavailable)
    masks["values"] = {fs.name: frozenset(f.value for f in fs.flags if f.name not in unavailable)
                       for fs in spec.flagsets.values() if fs.values}
    return masks
