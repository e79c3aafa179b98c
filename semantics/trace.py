"""Load a trace (DESIGN.md "Traces") into fully resolved steps.

Every address and size in a trace is known before it runs: a mapping made without
MAP_FIXED goes to the arena slot the loader reserves for it (see layout.py), and
``as: A`` binds A to that address (or to the address a fixed mapping names), even if
the call then fails. So each step's arguments become plain integers here, the same
for the engine and the live kernel, and every error in the trace is reported with
its position before anything runs.

Quantities (sizes, addresses, offsets) are sums and differences of terms: a bound
name, a constant (SIZE_MAX, TASK_SIZE, PAGE_SIZE, HPAGE_SIZE), a number of bytes,
pages (``8p``) or huge pages (``1h``); for example ``A+2p``, ``SIZE_MAX-4095``.
Arithmetic wraps at 2**64 like the kernel's unsigned long.
"""

from __future__ import annotations

import difflib
import re
from typing import NamedTuple
from dataclasses import dataclass, field
from pathlib import Path

from mmsem.semantics import layout
from mmsem.semantics.config import Config
from mmsem.semantics.engine import MAIN
from mmsem.semantics.expr import MASK64, ExprError, Namespace, compile_expr, names_in as expr_names
from mmsem.semantics.namespace import FUNCTIONS
from mmsem.spec import default_spec, schemas, source
from mmsem.spec.model import Origin, Spec
from mmsem.spec.source import InputError, Located

PAGE = 4096
HUGE = 2 << 20
QUANTITY_CONSTANTS = {"SIZE_MAX": MASK64, "ULONG_MAX": MASK64, "TASK_SIZE": 0x7FFFFFFFF000,
                      "PAGE_SIZE": PAGE, "HPAGE_SIZE": HUGE}
_TERM = re.compile(r"\s*([+-]?)\s*(0x[0-9a-fA-F]+|\d+)([ph]?)\s*|\s*([+-]?)\s*([A-Za-z_][A-Za-z0-9_]*)\s*",
                   re.ASCII)
MAX_DIGITS = 40  # 2**64 has 20 decimal digits; longer numbers are typing accidents (or attacks)
STEP_KEYS = {"as", "proc", "note", "expect", "expect_state"}
PAGE_FIELDS = ("mapped", "prot", "shared", "locked", "onfault", "resident")
PURE_FUNCTIONS = ("page_align", "page_down", "page_offset", "pages", "huge_align")


@dataclass(frozen=True)
class Expect:
    ret: object = None  # "ok" for any success, an int, or a Ref
    errno: str | None = None
    signal: str | None = None


@dataclass(frozen=True)
class PageExpect:
    first: object  # address of the first page (inclusive): int or Ref
    last: object  # address of the last page (inclusive): int or Ref
    fields: dict
    origin: Origin
    text: str


@dataclass(frozen=True)
class StateExpect:
    pages: tuple[PageExpect, ...] = ()
    vmlck: int | None = None  # pages
    origin: Origin | None = None


@dataclass
class TraceStep:
    index: int
    call: str
    args: dict  # argument name -> int, as the engine and kernel receive them
    written: dict  # the arguments as the trace wrote them, for display
    proc: str
    origin: Origin
    bind: str | None = None
    new_process: str | None = None  # fork: the process the step creates
    slot: int | None = None
    fixed: bool = False
    expect: Expect | None = None
    expect_state: StateExpect | None = None
    note: str = ""


class TraceFile(NamedTuple):
    """A memfd the trace uses: its size in bytes, whether it lives in hugetlbfs, and how
    the trace's descriptor for it is open."""

    size: int
    hugetlb: bool = False
    writable: bool = True
    readable: bool = True


@dataclass(frozen=True)
class Ref:
    """An address known only when the trace runs: what step `step` returned, plus `offset`.

    A failed call returns -1, so a name bound to it then stands for 2**64-1 (as the
    program would use MAP_FAILED); engine and kernel resolve it the same way.
    """

    step: int
    name: str
    offset: int = 0

    def resolve(self, returns: dict) -> int:
        return (returns[self.step] + self.offset) & MASK64

    def __add__(self, other: int) -> "Ref":
        return Ref(self.step, self.name, (self.offset + other) & MASK64)


def resolve(value, returns: dict) -> int:
    """A trace value as an integer, now that the steps it refers to have run."""
    return value.resolve(returns) if isinstance(value, Ref) else value


@dataclass
class Binding:
    name: str
    step: int  # the step whose return value the name holds
    size: int | None  # length of the mapping that step made, when known before running


@dataclass
class Trace:
    path: str
    name: str
    config: Config
    files: dict  # name -> TraceFile, in declaration order
    file_fds: dict  # name -> fd
    steps: list
    bindings: dict = field(default_factory=dict)  # name -> Binding
    expect_state: StateExpect | None = None
    description: str = ""

    def label(self, addr: int, values: dict) -> str:
        """An address relative to the bound name whose mapping holds it (A+3p); `values`
        gives each name's address in the run."""
        best, best_addr = None, None
        for exact in (True, False):  # inside a bound mapping first, else in its arena slot
            for binding in self.bindings.values():
                base = values.get(binding.name)
                if base is None:
                    continue
                extent = (binding.size or 0) if exact else layout.slots_for(binding.size or 0) * layout.SLOT_SIZE
                if base <= addr < base + extent and (best_addr is None or base > best_addr):
                    best, best_addr = binding, base
            if best is not None:
                break
        if best is None:
            return hex(addr)
        offset = addr - best_addr
        if offset % PAGE == 0:
            return f"{best.name}+{offset // PAGE}p"
        return f"{best.name}+{offset}"


#: Most pages one expect_state range may cover: the trace arena's (nothing outside is
#: observed), so that checking a range never walks 2**35 pages.
MAX_RANGE_PAGES = layout.ARENA_SLOTS * layout.SLOT_SIZE // PAGE


def page_range_ok(first, last) -> bool:
    """Page aligned, ascending and at most MAX_RANGE_PAGES long; both ends relative to the
    same name (so that the length is known before the trace runs) or both absolute."""
    if isinstance(first, Ref) != isinstance(last, Ref):
        return False
    if isinstance(first, Ref):
        if first.step != last.step:
            return False
        first, last = first.offset, last.offset
    return first % PAGE == 0 and last % PAGE == 0 and 0 <= (last - first) & MASK64 < MAX_RANGE_PAGES * PAGE


class _Loader:
    def __init__(self, located: Located, spec: Spec):
        self.located = located
        self.spec = spec
        self.bindings: dict[str, Binding] = {}
        self.processes = {MAIN}
        self.next_slot = 0
        self.file_fds: dict[str, int] = {}
        flags = {}
        for flagset in spec.flagsets.values():
            for flag in flagset.flags:
                flags[flag.name] = flag.value
        self.all_flags = flags

    def error(self, pointer, message) -> InputError:
        return self.located.error(pointer, message)

    def origin(self, pointer) -> Origin:
        line, col = self.located.where(pointer)
        return Origin(self.located.path, line, col)

    # -- quantities ------------------------------------------------------------------
    def quantity(self, value, pointer, what: str = "size"):
        """An int, or a Ref when the value is relative to a bound name."""
        if isinstance(value, bool):
            raise self.error(pointer, f"expected a {what}, got {value!r}")
        if isinstance(value, int):
            return value & MASK64
        if not isinstance(value, str) or not value.strip():
            raise self.error(pointer, f"expected a {what}, got {value!r}")
        total, pos, text = 0, 0, value.strip()
        first, ref = True, None
        while pos < len(text):
            match = _TERM.match(text, pos)
            if not match or match.end() == pos:
                raise self.error(pointer, f"cannot read {what} {value!r}")
            if match.group(2) is not None:
                sign, digits, unit = match.group(1), match.group(2), match.group(3)
                if len(digits) > MAX_DIGITS:
                    raise self.error(pointer, f"cannot read {what} {value[:60]!r}...: a number of more than "
                                              f"{MAX_DIGITS} digits")
                if len(digits) > 1 and digits[0] == "0" and digits[1] != "x":
                    raise self.error(pointer, f"cannot read {what} {value!r}: a leading 0 (octal in C?); "
                                              "write the number without it")
                term = int(digits, 0) * {"": 1, "p": PAGE, "h": HUGE}[unit]
            else:
                sign, name = match.group(4), match.group(5)
                if name in self.bindings:
                    if sign == "-" or ref is not None:
                        raise self.error(pointer, f"cannot read {what} {value!r}: a name can only be added, once")
                    ref = Ref(self.bindings[name].step, name)
                    term = 0
                elif name in QUANTITY_CONSTANTS:
                    term = QUANTITY_CONSTANTS[name]
                else:
                    raise self.error(pointer, f"unknown name {name!r} in {what} {value!r}")
            if not sign and not first:
                raise self.error(pointer, f"cannot read {what} {value!r}: missing + or -")
            total = total - term if sign == "-" else total + term
            pos, first = match.end(), False
        return ref + total if ref is not None else total & MASK64

    # -- arguments ---------------------------------------------------------------------
    def flag_value(self, item, flagset, pointer) -> int:
        if isinstance(item, bool):
            raise self.error(pointer, f"expected a flag name or number, got {item!r}")
        if isinstance(item, int):
            return item
        if isinstance(item, str) and flagset is not None:
            flag = flagset.get(item)
            if flag is not None:
                return flag.value
            if item in flagset.fields:
                return flagset.fields[item]
            names = ", ".join(f.name for f in flagset.flags)
            raise self.error(pointer, f"{item} is not a flag of {flagset.name} (known: {names})")
        raise self.error(pointer, f"expected a flag name or number, got {item!r}")

    def flags(self, value, flagset, pointer) -> int:
        items = value if isinstance(value, list) else [value]
        if flagset is not None and flagset.values and len(items) != 1:
            raise self.error(pointer, f"give exactly one {flagset.name} value")
        total = 0
        for i, item in enumerate(items):
            total |= self.flag_value(item, flagset, pointer + ((i,) if isinstance(value, list) else ()))
        return total

    def argument(self, arg, value, pointer) -> int:
        kind = arg.kind
        if kind in ("addr", "size", "offset", "int"):
            return self.quantity(value, pointer, "address" if kind == "addr" else kind)
        if kind == "flags":
            return self.flags(value, self.spec.flagsets[arg.flagset], pointer)
        if kind == "prot":
            if value == "PROT_NONE" or value == ["PROT_NONE"]:
                return 0
            return self.flags(value, self.spec.flagsets["prot"], pointer)
        if kind == "fd":
            if isinstance(value, str):
                if value not in self.file_fds:
                    raise self.error(pointer, f"unknown file {value!r} (declare it under files:)")
                return self.file_fds[value]
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise self.error(pointer, f"expected a file name or a descriptor number, got {value!r}")
        if kind == "bool":
            if not isinstance(value, bool):
                raise self.error(pointer, f"expected true or false, got {value!r}")
            return int(value)
        raise self.error(pointer, f"unsupported argument kind {kind}")

    # -- placement --------------------------------------------------------------------------
    def evaluate(self, entry, source, args: dict, pointer):
        """A spec expression over a step's arguments, before the trace runs (None if it needs
        an address known only at run time)."""
        if any(isinstance(v, Ref) for v in args.values()):
            names = expr_names(source)
            if any(isinstance(args.get(n), Ref) for n in names):
                return None
        ns = Namespace(frozenset(args), self.spec.constants, frozenset(), {},
                       {name: FUNCTIONS[name] for name in PURE_FUNCTIONS})
        try:
            return compile_expr(source, ns)(args, None)
        except ExprError as exc:
            raise self.error(pointer, f"the spec of {entry.name} is broken: {exc}") from None

    def placement(self, entry, args: dict, pointer) -> tuple[bool, int | None]:
        """(fixed, slot) for a call that creates a mapping: the arena slot reserved for it."""
        size = self.evaluate(entry, entry.placement["size"], args, pointer)
        slot = None
        if size is not None and self.next_slot + layout.slots_for(size & MASK64) <= layout.ARENA_SLOTS:
            slot = layout.ARENA_BASE + self.next_slot * layout.SLOT_SIZE
            self.next_slot += layout.slots_for(size & MASK64)
        return bool(self.evaluate(entry, entry.placement["fixed"], args, pointer)), slot

    # -- steps ---------------------------------------------------------------------------------
    def step(self, index: int, item: dict) -> TraceStep:
        pointer = ("steps", index)
        calls = [key for key in item if key not in STEP_KEYS]
        if len(calls) != 1:
            if not calls:
                raise self.error(pointer, "a step needs a system call or pseudo-step (e.g. mlock: {...})")
            raise self.error(pointer + (calls[1],), f"one call per step: {calls[0]!r} and {calls[1]!r}")
        call = calls[0]
        entry = self.spec.syscalls.get(call)
        if entry is None:
            close = difflib.get_close_matches(call, sorted(self.spec.syscalls), n=2)
            hint = f"did you mean {' or '.join(close)}?" if close else f"known: {', '.join(sorted(self.spec.syscalls))}"
            raise self.error(pointer + (call,), f"unknown system call or pseudo-step {call!r} ({hint})")
        given = item[call] or {}
        if not isinstance(given, dict):
            raise self.error(pointer + (call,), f"the arguments of {call} must be a mapping")
        args, written = {}, {}
        for name, value in given.items():
            arg = entry.arg(name)
            if arg is None:
                names = ", ".join(a.name for a in entry.args) or "none"
                raise self.error(pointer + (call, name), f"{call} has no argument {name!r} (arguments: {names})")
            args[name] = self.argument(arg, value, pointer + (call, name))
            written[name] = value
        for arg in entry.args:
            if arg.name not in args:
                if not arg.has_default:
                    raise self.error(pointer + (call,), f"{call} needs argument {arg.name!r}")
                args[arg.name] = self.argument(arg, arg.default, pointer + (call,))
        proc = item.get("proc", MAIN)
        if proc not in self.processes:
            raise self.error(pointer + ("proc",), f"unknown process {proc!r}")
        step = TraceStep(index, call, args, written, proc, self.origin(pointer), note=item.get("note", ""))
        if entry.placement:
            step.fixed, step.slot = self.placement(entry, args, pointer)
        if entry.binds is not None and "process" in entry.binds:
            step.new_process = self.new_process(item.get("as"), proc, pointer)
        elif "as" in item:
            if entry.binds is None:
                raise self.error(pointer + ("as",), f"as: binds an address a call returns; {call} returns none")
            step.bind = item["as"]
            size = self.evaluate(entry, entry.binds["size"], args, pointer)
            self.bindings[step.bind] = Binding(step.bind, index, size)
        if "expect" in item:
            step.expect = self.expect(item["expect"], pointer + ("expect",))
        if "expect_state" in item:
            step.expect_state = self.state(item["expect_state"], pointer + ("expect_state",))
        return step

    def new_process(self, name: str | None, parent: str, pointer) -> str:
        """Register the process a fork step creates (named by as:, or child, child2, ...)."""
        if parent != MAIN:
            raise self.error(pointer + ("proc",), f"only the trace's first process ({MAIN}) can fork")
        if len(self.processes) >= layout.MAX_PROCESSES:
            raise self.error(pointer, f"a trace has at most {layout.MAX_PROCESSES} processes")
        if name is None:
            name = next(n for n in (f"child{k}" if k > 1 else "child" for k in range(1, layout.MAX_PROCESSES + 1))
                        if n not in self.processes)
        if name in self.processes or name in self.bindings:
            raise self.error(pointer + ("as",), f"the name {name!r} is already taken")
        self.processes.add(name)
        return name

    def expect(self, data: dict, pointer) -> Expect:
        errno, signal, ret = data.get("errno"), data.get("signal"), data.get("ret")
        if errno is not None and errno not in self.spec.errnos:
            raise self.error(pointer + ("errno",), f"unknown errno {errno}")
        if signal is not None and signal not in self.spec.signals:
            raise self.error(pointer + ("signal",), f"unknown signal {signal}")
        if sum(x is not None for x in (errno, signal, ret)) > 1:
            raise self.error(pointer, "expect one of ret, errno or signal")
        if isinstance(ret, str) and ret != "ok":
            ret = self.quantity(ret, pointer + ("ret",), "return value")
        return Expect(ret, errno, signal)

    def state(self, data: dict, pointer) -> StateExpect:
        pages = []
        for key, fields in (data.get("pages") or {}).items():
            text = str(key)
            first_text, sep, last_text = text.partition("..")
            first = self.quantity(first_text, pointer + ("pages", key), "page address")
            last = self.quantity(last_text, pointer + ("pages", key), "page address") if sep else first
            if not page_range_ok(first, last):
                raise self.error(pointer + ("pages", key), f"page range {text!r} must be page aligned and ascending, "
                                 f"both ends relative to the same name or neither, at most {MAX_RANGE_PAGES} pages")
            pages.append(PageExpect(first, last, dict(fields), self.origin(pointer + ("pages", key)), text))
        vmlck = None
        if "vmlck" in data:
            size = self.quantity(data["vmlck"], pointer + ("vmlck",), "size of locked memory")
            if isinstance(size, Ref):  # found by the fuzzing campaign: Ref // int
                raise self.error(pointer + ("vmlck",), f"vmlck {data['vmlck']!r} is a size: it cannot "
                                                       "be relative to a name")
            vmlck = size // PAGE
        return StateExpect(tuple(pages), vmlck, self.origin(pointer))

    def config(self, data: dict) -> Config:
        kwargs = {}
        if "kernel" in data:
            try:
                self.spec.profile(data["kernel"])
            except ValueError:
                raise self.error(("config", "kernel"), f"unknown kernel profile {data['kernel']!r}") from None
            kwargs["kernel"] = data["kernel"]
        if "privileged" in data:
            kwargs["privileged"] = data["privileged"]
        if "rlimit_memlock" in data:
            value = data["rlimit_memlock"]
            kwargs["rlimit_memlock"] = None if value == "unlimited" else self.quantity(value, ("config", "rlimit_memlock"))
        for key in ("max_map_count", "hugetlb_pages"):
            if key in data:
                kwargs[key] = data[key]
        return Config(**kwargs)

    def trace(self) -> Trace:
        data = self.located.data
        config = self.config(data.get("config") or {})
        files = {}
        for i, (name, info) in enumerate((data.get("files") or {}).items()):
            size = self.quantity(info["size"], ("files", name, "size"))
            readable, writable = bool(info.get("readable", True)), bool(info.get("writable", True))
            if not (readable or writable):
                raise self.error(("files", name), f"file {name} must be open for reading or writing (or both)")
            files[name] = TraceFile(size, bool(info.get("hugetlb", False)), writable, readable)
            self.file_fds[name] = layout.FD_BASE + i
        steps = [self.step(i, item) for i, item in enumerate(data["steps"])]
        expect_state = self.state(data["expect_state"], ("expect_state",)) if "expect_state" in data else None
        name = data.get("name") or Path(self.located.path).stem
        return Trace(self.located.path, name, config, files, dict(self.file_fds), steps, self.bindings,
                     expect_state, data.get("description", ""))


def load_trace(located: Located, spec: Spec | None = None) -> Trace:
    """Validate and resolve a parsed trace document."""
    if not isinstance(located.data, dict):
        raise located.error((), "a trace is a mapping with steps:")
    schemas.check(located, "trace")
    return _Loader(located, spec or default_spec()).trace()


def read_trace(path: str | Path, spec: Spec | None = None) -> Trace:
    return load_trace(source.load(path), spec)


def parse_trace(text: str, path: str = "<trace>", spec: Spec | None = None) -> Trace:
    return load_trace(source.loads(text, path), spec)
