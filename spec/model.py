"""The loaded specification as plain, immutable records.

Each record keeps ``origin`` (file, line, col) so that check-spec, the linter and
the documentation can point back at the YAML it came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_IDENTIFIER_RE = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class Origin:
    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


#: Digits of one version component past which it is read as VERSION_PART_MAX: no kernel
#: has such a number, and int() refuses more than 4300 digits (a page or spec may hold any).
VERSION_PART_DIGITS = 9
VERSION_PART_MAX = 10 ** VERSION_PART_DIGITS - 1


def parse_version(text: str) -> tuple[int, ...]:
    """'4.4' -> (4, 4); '2.5.37' -> (2, 5, 37); absurdly long components saturate."""
    return tuple(int(part) if len(part) <= VERSION_PART_DIGITS else VERSION_PART_MAX
                 for part in str(text).split("."))


@dataclass(frozen=True)
class Flag:
    name: str
    value: int
    brief: str
    text: str = ""
    since: tuple[int, ...] | None = None
    since_cite: str = ""
    before_since: str = "einval"
    field: str | None = None
    cite: str = ""
    undocumented: bool = False
    origin: Origin | None = None
    #: For values of a `values` set (madvise advice): what the value does to each mapping.
    action: str | None = None
    set_flags: tuple[str, ...] = ()
    clear_flags: tuple[str, ...] = ()
    skip_when: Any = None
    rejects: tuple["Reject", ...] = ()
    model_note: str = ""  # how mmsem models it; reference docs only, never man pages

    @property
    def since_text(self) -> str | None:
        return ".".join(map(str, self.since)) if self.since else None


@dataclass(frozen=True)
class Reject:
    """A per-mapping condition under which a value (an madvise advice) fails."""

    errno: str
    when: Any
    text: str
    cite: str = ""
    origin: Origin | None = None
    since: tuple[int, ...] | None = None  # the condition does not exist in older kernels


@dataclass(frozen=True)
class FlagSet:
    name: str
    summary: str
    flags: tuple[Flag, ...]
    fields: dict[str, int] = field(default_factory=dict)  # field name -> mask
    origin: Origin | None = None
    values: bool = False  # members are alternative values, not bits

    def get(self, name: str) -> Flag | None:
        for flag in self.flags:
            if flag.name == name:
                return flag
        return None


@dataclass(frozen=True)
class Arg:
    name: str
    kind: str
    ctype: str = ""
    flagset: str | None = None
    width: int = 64
    default: Any = None
    has_default: bool = False
    text: str = ""


@dataclass(frozen=True)
class Raise:
    errno: str
    text: str
    source_errno: str | None = None  # the primitive's errno when the syscall maps it
    cite: str = ""
    nondeterministic: str = ""
    origin: Origin | None = None
    since: tuple[int, ...] | None = None  # the cause does not exist in older kernels


@dataclass(frozen=True)
class UnmodelledError:
    """An error the call really has that the model leaves out on purpose."""

    errno: str
    text: str
    cite: str = ""


@dataclass(frozen=True)
class Step:
    """One item of a program: check, let, do, call or return."""

    op: str
    origin: Origin
    pointer: tuple
    id: str = ""  # check id, primitive name or procedure name
    errno: str | None = None
    signal: str | None = None
    when: Any = None  # expression source (str/int/bool) or None
    text: str = ""
    cite: str = ""
    bindings: tuple[tuple[str, Any], ...] = ()  # let: (name, expr) in order
    args: tuple[tuple[str, Any], ...] = ()  # do/call
    raises: tuple[Raise, ...] = ()
    value: Any = None  # return expression
    bind: str | None = None  # do: the name the primitive's result gets
    #: Where each expression of the step starts: "when", "return", "let NAME", "argument NAME".
    positions: dict = field(default_factory=dict, compare=False, hash=False)

    def expressions(self) -> Iterator[str]:
        """The step's expression sources: condition, return value, bindings, arguments."""
        for value in (self.when, self.value):
            if isinstance(value, str):
                yield value
        for _name, value in self.bindings + self.args:
            if isinstance(value, str):
                yield value


@dataclass(frozen=True)
class Source:
    file: str
    function: str = ""
    commit: str = ""
    text: str = ""


@dataclass(frozen=True)
class Syscall:
    """A system call, a pseudo-step (touch) or a shared procedure."""

    name: str
    kind: str
    summary: str
    program: tuple[Step, ...]
    origin: Origin
    args: tuple[Arg, ...] = ()
    params: tuple[str, ...] = ()
    page: str | None = None
    number: str | None = None
    header: str = ""
    prototype: str = ""
    #: Standards the call conforms to ("POSIX.1-2008", "Linux"); () none, None not stated.
    standards: tuple[str, ...] | None = None
    since: tuple[int, ...] | None = None
    description: str = ""
    returns: str = ""
    notes: tuple[str, ...] = ()
    see_also: tuple[str, ...] = ()
    sources: tuple[Source, ...] = ()
    examples: tuple[str, ...] = ()
    #: For calls that create a mapping: expressions for size, fixed, addr, and the
    #: argument overrides (force) that place it at a given slot on the live kernel.
    placement: dict | None = None
    #: For calls that return an address: `as:` may bind it; `size` is the length of the
    #: mapping at that address (an expression over the arguments), for labels.
    binds: dict | None = None
    #: Without an MMU: "enosys" (not built), "unmodelled" (mm/nommu.c differs), or None (as modelled).
    nommu: str | None = None
    unmodelled_errors: tuple[UnmodelledError, ...] = ()
    model_notes: tuple[str, ...] = ()  # how mmsem models or replays it; reference docs only

    def arg(self, name: str) -> Arg | None:
        for arg in self.args:
            if arg.name == name:
                return arg
        return None


@dataclass(frozen=True)
class Trait:
    name: str
    text: str
    since: tuple[int, ...] | None = None
    until: tuple[int, ...] | None = None
    mmu: bool | None = None
    commit: str = ""
    cite: str = ""
    model_note: str = ""  # how mmsem models it; reference docs only, never man pages


@dataclass(frozen=True)
class Profile:
    """A kernel version with the traits it has, selected once per run."""

    name: str
    version: tuple[int, ...]
    mmu: bool
    traits: frozenset[str]
    text: str = ""

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


@dataclass(frozen=True)
class DeclaredDivergence:
    id: str
    call: str
    kind: str
    reason: str
    source: str
    engine: str | None = None
    kernel: str | None = None
    profiles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Spec:
    directory: str
    syscalls: dict[str, Syscall]  # syscalls and pseudo-steps, by name
    procedures: dict[str, Syscall]
    flagsets: dict[str, FlagSet]
    constants: dict[str, int]
    constant_sources: dict[str, str]  # declared constants: name -> source
    errnos: dict[str, str]
    signals: dict[str, str]
    profiles: dict[str, Profile]
    traits: dict[str, Trait]
    origins: dict[str, Origin] = field(default_factory=dict)  # "constant:NAME" etc.
    divergences: tuple[DeclaredDivergence, ...] = ()
    # libc.yaml: {call: (the glibc release that first wraps it, source)}; only the linter reads it
    libc_wrappers: dict[str, tuple[str, str]] = field(default_factory=dict)

    def names_used(self, entry: Syscall) -> frozenset[str]:
        """The identifiers the expressions of a call's program use, those of the
        procedures it calls included."""
        names: set[str] = set()
        pending, seen = [entry], set()
        while pending:
            for step in pending.pop().program:
                for text in step.expressions():
                    names.update(_IDENTIFIER_RE.findall(text))
                if step.op == "call" and step.id in self.procedures and step.id not in seen:
                    seen.add(step.id)
                    pending.append(self.procedures[step.id])
        return frozenset(names)

    def profile(self, name: str) -> Profile:
        """A named profile, or one built for any 'X.Y' / 'nommu-X.Y' version."""
        if name in self.profiles:
            return self.profiles[name]
        mmu = not name.startswith("nommu-")
        version = parse_version(name.removeprefix("nommu-"))[:2]
        return make_profile(name, version, mmu, self.traits.values())

    def flag(self, name: str) -> tuple[FlagSet, Flag] | None:
        for flagset in self.flagsets.values():
            found = flagset.get(name)
            if found:
                return flagset, found
        return None


def make_profile(name: str, version: tuple[int, ...], mmu: bool, traits, text: str = "") -> Profile:
    have = set()
    for trait in traits:
        if trait.since and version < trait.since:
            continue
        if trait.until and version >= trait.until:
            continue
        if trait.mmu is not None and trait.mmu != mmu:
            continue
        have.add(trait.name)
    return Profile(name, tuple(version), mmu, frozenset(have), text)
