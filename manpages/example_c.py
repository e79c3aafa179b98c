"""EXAMPLES programs: a C program from an example trace, and the output it prints.

The program performs the trace's steps in order and prints one line per step in a
fixed format, and, where the trace states the state it expects (``expect_state``),
the state of the pages of the mappings it names and VmLck. Nothing it prints
depends on where the kernel puts things: addresses are printed as the trace's
names (``A``, ``A + 4 pages``), outcomes as return values, errno names and signal
names::

    mmap(8 pages, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS) = A
    mlock2(A, 8 pages, MLOCK_ONFAULT) = 0
    write to A + 3 pages: ok
    munlock(A + 2 pages, 3 pages) = 0
        A pages 0-1: rw-p, locked on fault, not resident
        A page 2: rw-p, unlocked, not resident
        VmLck: 20 kB
    mremap(A, 12 pages, 32 pages) = MAP_FAILED (EAGAIN)
    write to B + 3 pages: SIGBUS

The same lines are computed here from the engine's run of the trace (the
prediction the page shows); a test compiles the program and runs it on the live
kernel, so the page is checked against both. Page state comes from
/proc/self/smaps (protection, lock) and /proc/self/pagemap (residency), as the
kernel replay observes it (DESIGN.md "Observation model").

Mappings that the kernel would place go at addresses the program picks (the trace
arena's slots, given to mmap as hints): the engine models those slots, and a
mapping with free space after it grows in place the same way on both sides.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

from mmsem.semantics import layout
from mmsem.semantics.config import DEFAULT_MEMLOCK, DEFAULT_MAX_MAP_COUNT
from mmsem.semantics.engine import MAIN, Engine
from mmsem.semantics.observe import PAGE_SIZE, Observation
from mmsem.semantics.runner import TraceResult, run_engine
from mmsem.semantics.trace import QUANTITY_CONSTANTS, Ref, Trace, TraceStep, read_trace
from mmsem.spec.model import Spec, Syscall

WIDTH = 80  # of the C source
INDENT = "    "
_TERM_RE = re.compile(r"\s*([+-]?)\s*(?:(0x[0-9a-fA-F]+|\d+)([ph]?)|([A-Za-z_]\w*))\s*")
_C_NAME_RE = re.compile(r"[A-Za-z_]\w*")
_SEED_RE = re.compile(r"^Seed \d+\.\s*")
#: Quantities a trace may name, as C spells them.
_C_CONSTANTS = {"SIZE_MAX": "SIZE_MAX", "ULONG_MAX": "ULONG_MAX", "PAGE_SIZE": "page"}
#: Names the program itself uses, which a trace's names must not shadow.
_RESERVED = frozenset("""page slot show show_addr touch on_fault env page_state show_pages show_vmlck main
    lim sa errno err exit auto break case char const continue default do double else enum extern float for goto
    if inline int long register restrict return short signed sizeof static struct switch typedef union unsigned
    void volatile while NULL""".split())
_SIGNALS = ("SIGSEGV", "SIGBUS")


class Unsuitable(Exception):
    """The trace cannot become a page's example program (why, in the message)."""


@dataclass
class Example:
    """A trace as a page's EXAMPLES: the program, and what it prints on the profile's kernel."""

    name: str
    description: str
    source: str
    output: list[str]
    kernel: str


# -- quantities ------------------------------------------------------------------------------

def _terms(value) -> list[tuple[str, str, object]]:
    """A trace quantity as (sign, kind, value) terms; kind is name, pages, huge, bytes or const."""
    if isinstance(value, int):
        return [("", "bytes", value)]
    text, pos, out = str(value).strip(), 0, []
    while pos < len(text):
        m = _TERM_RE.match(text, pos)
        if m is None or m.end() == pos:
            raise Unsuitable(f"cannot read the quantity {value!r}")
        sign = m.group(1)
        if m.group(2) is not None:
            number = int(m.group(2), 0)
            kind = {"": "bytes", "p": "pages", "h": "huge"}[m.group(3)]
            out.append((sign, kind, number))
        else:
            name = m.group(4)
            out.append((sign, "const" if name in QUANTITY_CONSTANTS else "name", name))
        pos = m.end()
    return out


def _join(parts: list[tuple[str, str]]) -> str:
    text = ""
    for sign, part in parts:
        if not text:
            text = f"-{part}" if sign == "-" else part
        else:
            text += f" {sign or '+'} {part}"
    return text


def quantity_label(value) -> str:
    """How the output names a quantity: ``A + 2 pages``, ``8 pages``, ``100``, ``SIZE_MAX - 4095``."""
    parts = []
    for sign, kind, item in _terms(value):
        if kind == "pages":
            parts.append((sign, "1 page" if item == 1 else f"{item} pages"))
        elif kind == "huge":
            parts.append((sign, "1 huge page" if item == 1 else f"{item} huge pages"))
        else:
            parts.append((sign, str(item)))
    return _join(parts)


def quantity_c(value, pointer: bool = False) -> str:
    """A quantity as a C expression; with `pointer`, one the C type of an address."""
    parts, named = [], False
    for sign, kind, item in _terms(value):
        if kind == "pages":
            parts.append((sign, "page" if item == 1 else f"{item} * page"))
        elif kind == "huge":
            raise Unsuitable("huge page sizes need a huge page pool")
        elif kind == "const":
            if item not in _C_CONSTANTS:
                raise Unsuitable(f"{item} has no C spelling")
            parts.append((sign, _C_CONSTANTS[item]))
        elif kind == "name":
            named = True
            parts.append((sign, str(item)))
        else:
            parts.append((sign, hex(item) if item > 0xFFFF else str(item)))
    text = _join(parts)
    if pointer and not named:
        return "NULL" if text == "0" else f"(void *) ({text})" if " " in text else f"(void *) {text}"
    return text


def _flags_text(value) -> str:
    items = value if isinstance(value, list) else [value]
    names = [hex(item) if isinstance(item, int) else str(item) for item in items]
    return " | ".join(names) if names else "0"


# -- C source layout -----------------------------------------------------------------------------

@dataclass
class Call:
    """A C call to lay out: name and arguments (Call, or str: C text; Literal: a string)."""

    name: str
    args: list


@dataclass
class Literal:
    text: str

    def flat(self) -> str:
        return '"' + self.text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _flat(node) -> str:
    if isinstance(node, Call):
        return f"{node.name}({', '.join(_flat(arg) for arg in node.args)})"
    if isinstance(node, Literal):
        return node.flat()
    return node


def layout_node(node, column: int, tail: str) -> list[str]:
    """`node` as lines starting at `column` (the first line without its indent) with `tail`
    after it: flat when it fits, else arguments wrapped and aligned after the parenthesis
    (kernel style), long string literals cut into adjacent literals."""
    flat = _flat(node)
    if column + len(flat) + len(tail) <= WIDTH:
        return [flat + tail]
    if isinstance(node, str):  # an expression: break after an operator ("A | B |" then "C")
        lines, current = [], ""
        for operand in node.split(" | "):
            if current and column + len(current) + len(operand) + 3 + len(tail) > WIDTH:
                lines.append(current + " |")
                current = operand
            else:
                current = f"{current} | {operand}" if current else operand
        lines.append(current + tail)
        return [line if i == 0 else " " * column + line for i, line in enumerate(lines)]
    if isinstance(node, Literal):
        words = re.split(r"(?<=, )|(?<=\|)", node.text)
        lines, current = [], ""
        for word in words:
            if current and column + len(current) + len(word) + 2 + len(tail) > WIDTH:
                lines.append(current)
                current = ""
            current += word
        lines.append(current)
        out = [Literal(line).flat() for line in lines]
        return [line if i == 0 else " " * column + line for i, line in enumerate(out[:-1])] + \
               [(" " * column if len(out) > 1 else "") + out[-1] + tail]
    inner = column + len(node.name) + 1
    lines = [node.name + "("]
    for i, arg in enumerate(node.args):
        last = i == len(node.args) - 1
        piece_tail = (")" + tail) if last else ","
        flat_arg = _flat(arg)
        current = lines[-1]
        start = column + len(current) if len(lines) == 1 else len(current)
        fits_here = start + (0 if current.endswith("(") else 1) + len(flat_arg) + len(piece_tail) <= WIDTH
        if fits_here:
            lines[-1] = current + ("" if current.endswith("(") else " ") + flat_arg + piece_tail
            continue
        sub = layout_node(arg, inner, piece_tail)
        if current.endswith("("):
            lines[-1] = current + sub[0]
            lines.extend(sub[1:])
        else:
            lines.append(" " * inner + sub[0])
            lines.extend(sub[1:])
    return lines


def statement(node, prefix: str = "") -> list[str]:
    """A statement in main(), indented, ``prefix`` (``A = ``) before the call."""
    lines = layout_node(node, len(INDENT) + len(prefix), ";")
    return [INDENT + prefix + lines[0]] + [line if line.startswith(" ") else INDENT + line for line in lines[1:]]


def comment(text: str, indent: str = INDENT) -> list[str]:
    """A C comment holding `text` as a sentence, wrapped to the width."""
    text = " ".join(text.split())
    first = text.split(" ", 1)[0]
    if first.isalpha() and first.islower():  # an identifier such as setuid() keeps its case
        text = text[0].upper() + text[1:]
    if not text.endswith("."):
        text += "."
    if len(indent) + len(text) + 6 <= WIDTH:
        return [f"{indent}/* {text} */"]
    lines, current = [f"{indent}/*"], ""
    for word in text.split():
        if current and len(indent) + 3 + len(current) + 1 + len(word) > WIDTH:
            lines.append(f"{indent} * {current}")
            current = word
        else:
            current = f"{current} {word}" if current else word
    lines.append(f"{indent} * {current}")
    lines.append(f"{indent} */")
    return lines


# -- the program's helpers (C text, included as needed) -------------------------------------------

HELPER_PAGE = """\
static long  page;  /* The page size */
"""

HELPER_SLOT = """\
/*
 * A mapping that the kernel would place goes at the start of its own
 * 2 MiB slot of a range far from the program's other mappings instead,
 * so that mappings never merge or border one another, and can grow.
 */
static char *
slot(int n)
{
    return (char *) 0x100000000000 + n * 0x200000L;
}
"""

HELPER_SHOW = """\
/* Print a call and what it returned: a number, or -1 and the error. */
static void
show(const char *call, int ret)
{
    if (ret == -1)
        printf("%s = -1 (%s)\\n", call, strerrorname_np(errno));
    else
        printf("%s = %d\\n", call, ret);
}
"""

HELPER_SHOW_ADDR = """\
/*
 * Print a call that returns an address: MAP_FAILED and the error, or
 * the name the address has in this program.  When the call must return
 * a known address, 'expected' holds it.
 */
static void
show_addr(const char *call, void *ret, const char *name, void *expected)
{
    if (ret == MAP_FAILED)
        printf("%s = MAP_FAILED (%s)\\n", call, strerrorname_np(errno));
    else if (expected == NULL || ret == expected)
        printf("%s = %s\\n", call, name);
    else
        printf("%s = an unexpected address\\n", call);
}
"""

HELPER_TOUCH = """\
static sigjmp_buf  env;  /* Where an access ended by a signal resumes */

static void
on_fault(int sig)
{
    siglongjmp(env, sig);
}

/* Read or write the byte at addr, and print whether a signal stopped it. */
static void
touch(const char *what, char *addr, int writing)
{
    int  sig;

    sig = sigsetjmp(env, 1);
    if (sig == 0) {
        if (writing)
            *(volatile char *) addr = 1;
        else
            (void) *(volatile char *) addr;
        printf("%s: ok\\n", what);
    } else {
        printf("%s: SIG%s\\n", what, sigabbrev_np(sig));
    }
}
"""

HELPER_STATE = """\
/*
 * Describe the page at addr: its protection and lock, as
 * /proc/self/smaps shows them, and whether it is in memory, as the
 * present bit of its /proc/self/pagemap entry says.
 */
static void
page_state(char *addr, char *buf, size_t size)
{
    int            fd, found, in;
    char           line[4096], perms[5];
    FILE           *f;
    uint64_t       entry;
    const char     *lock;
    unsigned long  start, end;

    f = fopen("/proc/self/smaps", "r");
    if (f == NULL)
        err(EXIT_FAILURE, "/proc/self/smaps");
    found = in = 0;
    lock = "unlocked";
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) == 3) {
            in = (unsigned long) addr >= start && (unsigned long) addr < end;
            found |= in;
        } else if (in && strncmp(line, "VmFlags:", 8) == 0) {
            if (strstr(line, " lf") != NULL)
                lock = "locked on fault";
            else if (strstr(line, " lo") != NULL)
                lock = "locked";
            break;
        }
    }
    fclose(f);
    if (!found) {
        snprintf(buf, size, "unmapped");
        return;
    }

    fd = open("/proc/self/pagemap", O_RDONLY);
    if (fd == -1 || pread(fd, &entry, sizeof(entry),
                          (unsigned long) addr / page * sizeof(entry))
                    != (ssize_t) sizeof(entry))
        err(EXIT_FAILURE, "/proc/self/pagemap");
    close(fd);
    snprintf(buf, size, "%s, %s, %s", perms, lock,
             entry >> 63 ? "resident" : "not resident");
}

/* Print the state of the n pages at base, one line per run of pages alike. */
static void
show_pages(const char *name, char *base, long n)
{
    long  first;
    char  state[64], next[64];

    first = 0;
    page_state(base, state, sizeof(state));
    for (long i = 1; i <= n; i++) {
        if (i < n)
            page_state(base + i * page, next, sizeof(next));
        if (i == n || strcmp(next, state) != 0) {
            if (first == i - 1)
                printf("    %s page %ld: %s\\n", name, first, state);
            else
                printf("    %s pages %ld-%ld: %s\\n", name, first, i - 1, state);
            first = i;
        }
        if (i < n)
            strcpy(state, next);
    }
}

/* Print VmLck from /proc/self/status: the memory the process has locked. */
static void
show_vmlck(void)
{
    char  line[256];
    FILE  *f;

    f = fopen("/proc/self/status", "r");
    if (f == NULL)
        err(EXIT_FAILURE, "/proc/self/status");
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmLck:", 6) == 0)
            printf("    VmLck: %ld kB\\n", strtol(line + 6, NULL, 10));
    }
    fclose(f);
}
"""


# -- the program -------------------------------------------------------------------------------------

@dataclass
class _Shown:
    """What one print point of the program shows: pages of named mappings, and VmLck."""

    names: list  # (name, pages)
    vmlck: bool


@dataclass
class _Plan:
    """The program as steps, before it becomes text; built once, rendered twice (C and output)."""

    trace: Trace
    pointers: list = field(default_factory=list)  # names bound to addresses, in order
    files: list = field(default_factory=list)
    lines: list = field(default_factory=list)  # C statements of main, after the set-up
    helpers: set = field(default_factory=set)


def _returns_pointer(entry: Syscall) -> bool:
    return "*" in entry.prototype.split("(", 1)[0]


def _variadic(entry: Syscall) -> set[str]:
    """Argument names after the ``...`` of the prototype (mremap's new_address)."""
    head, _, tail = entry.prototype.partition("...")
    return {arg.name for arg in entry.args if tail and re.search(rf"\b{arg.name}\b", tail)
            and not re.search(rf"\b{arg.name}\b", head)}


def _placed_arg(entry: Syscall) -> str | None:
    """The argument a placed mapping's slot goes into (mmap's addr)."""
    if not entry.placement:
        return None
    for name, value in (entry.placement.get("force") or {}).items():
        if value == "slot":
            return name
    return None


def unsuitable(trace: Trace, spec: Spec, profile: str) -> str | None:
    """Why the trace cannot be an example program that runs without set-up, or None.

    It must run on the page's kernel, as it is: no huge page pool, no sysctl, a
    single process, files the program can make (writable memfds), and names that
    are C identifiers. mlockall with MCL_CURRENT or MCL_FUTURE is left out: it
    locks the program's own memory too, so VmLck would depend on the C library.
    """
    config = trace.config
    if config.kernel not in (None, profile):
        return f"it describes Linux {config.kernel}"
    if config.hugetlb_pages or config.max_map_count != DEFAULT_MAX_MAP_COUNT:
        return "it needs a huge page pool or another vm.max_map_count"
    for name, file in trace.files.items():
        if file.hugetlb or not (file.writable and file.readable):
            return f"file {name} is a hugetlbfs, read-only or write-only file"
    names = list(trace.files) + list(trace.bindings)
    for name in names:
        if not _C_NAME_RE.fullmatch(name) or name in _RESERVED:
            return f"the name {name} cannot be a C variable"
    for step in trace.steps:
        entry = spec.syscalls[step.call]
        if step.proc != MAIN or step.new_process:
            return "it has more than one process"
        if entry.kind != "syscall" and step.call != "touch":
            return f"it uses the pseudo-step {step.call}"
        if entry.kind == "syscall" and not entry.prototype:
            return f"{step.call} has no prototype"
    for step in trace.steps:
        entry = spec.syscalls[step.call]
        if step.call == "mlockall" and step.args["flags"] & (spec.constants["MCL_CURRENT"]
                                                             | spec.constants["MCL_FUTURE"]):
            return "mlockall would lock the program's own memory"
        if step.call == "brk":
            return "brk moves the C library's heap"
        if step.call != "touch":
            try:
                _arg_texts(step, entry, _placed_arg(entry))
            except Unsuitable as exc:
                return str(exc)
        elif not isinstance(step.written.get("addr"), str):
            return "it touches an absolute address"
    return None


def _arg_texts(step: TraceStep, entry: Syscall, slot_arg: str | None) -> tuple[list[str], list[str]]:
    """(C arguments, output label arguments) of a call step."""
    c_args, labels = [], []
    variadic = _variadic(entry)
    for arg in entry.args:
        written = arg.name in step.written
        value = step.written[arg.name] if written else arg.default
        if arg.name in variadic and not written:
            continue
        if arg.name == slot_arg and not step.fixed and step.slot is not None and not written:
            c_args.append(f"slot({(step.slot - layout.ARENA_BASE) // layout.SLOT_SIZE})")
            continue
        if arg.kind in ("flags", "prot"):
            c_text = _flags_text(value)
            if arg.kind == "prot" and value in ("PROT_NONE", ["PROT_NONE"], []):
                c_text = "PROT_NONE"
            c_args.append(c_text)
            text = c_text.replace(" | ", "|")  # as strace writes them: the output lines stay short
        elif arg.kind == "fd":
            text = str(value)
            c_args.append(text)
        elif arg.kind == "bool":
            text = "1" if value else "0"
            c_args.append(text)
        else:
            text = quantity_label(value)
            c_args.append(quantity_c(value, pointer=arg.kind == "addr"))
        if written:
            labels.append(text)
    return c_args, labels


def _address_label(ref_or_int) -> tuple[str, str]:
    """(output label, C expression) of an address a trace refers to (A+3p)."""
    if isinstance(ref_or_int, Ref):
        pages, rest = divmod(ref_or_int.offset, PAGE_SIZE)
        parts = [("", ref_or_int.name)]
        c_parts = [("", ref_or_int.name)]
        if pages:
            parts.append(("+", "1 page" if pages == 1 else f"{pages} pages"))
            c_parts.append(("+", "page" if pages == 1 else f"{pages} * page"))
        if rest:
            parts.append(("+", str(rest)))
            c_parts.append(("+", str(rest)))
        return _join(parts), _join(c_parts)
    return hex(ref_or_int), f"(char *) {hex(ref_or_int)}"


def _shown(trace: Trace, expect) -> _Shown:
    """The names (with their page counts) and VmLck that an expect_state asks about."""
    counts: dict[str, int] = {}
    for page in expect.pages:
        for end in (page.first, page.last):
            if isinstance(end, Ref):
                binding = trace.bindings[end.name]
                size = binding.size if binding.size else 0
                here = max(size // PAGE_SIZE, end.offset // PAGE_SIZE + 1)
                counts[end.name] = max(counts.get(end.name, 0), here)
    order = list(trace.bindings)
    names = sorted(counts.items(), key=lambda item: order.index(item[0]))
    return _Shown(names, expect.vmlck is not None)


def _plan(trace: Trace, spec: Spec, ok: dict) -> tuple[_Plan, list]:
    """The C statements of the steps, and per step what the output line needs. `ok` says
    which names the engine says their calls bound (a mapping made), which the program
    then shows."""
    plan = _Plan(trace)
    steps = []
    for step in trace.steps:
        entry = spec.syscalls[step.call]
        lines = comment(step.note) if step.note else []
        if step.call == "touch":
            label_addr, c_addr = _touch_address(step)
            what = f"{'write to' if step.args['write'] else 'read from'} {label_addr}"
            plan.helpers.add("touch")
            lines += statement(Call("touch", [Literal(what), c_addr, "1" if step.args["write"] else "0"]))
            steps.append(("touch", step, what, None))
        else:
            c_args, labels = _arg_texts(step, entry, _placed_arg(entry))
            label = f"{step.call}({', '.join(labels)})"
            call = Call(step.call, c_args)
            if _returns_pointer(entry):
                plan.helpers.add("show_addr")
                if step.bind:
                    if step.bind not in plan.pointers:
                        plan.pointers.append(step.bind)
                    lines += statement(call, f"{step.bind} = ")
                    lines += statement(Call("show_addr", [Literal(label), step.bind, Literal(step.bind), "NULL"]))
                    steps.append(("bound", step, label, None))
                else:
                    steps.append(("address", step, label, call))
                    lines.append(None)  # filled in once the engine says which address to expect
            else:
                plan.helpers.add("show")
                lines += statement(Call("show", [Literal(label), call]))
                steps.append(("int", step, label, None))
            if _placed_arg(entry) and not step.fixed:
                plan.helpers.add("slot")
        if step.expect_state is not None:
            shown = _shown(trace, step.expect_state)
            lines += _show_statements(plan, shown, ok)
        plan.lines.append(lines)
    if trace.expect_state is not None:
        shown = _shown(trace, trace.expect_state)
        block = statement(Call("puts", [Literal("at the end:")])) + _show_statements(plan, shown, ok)
        plan.lines.append(block)
    return plan, steps


def _touch_address(step: TraceStep) -> tuple[str, str]:
    value = step.written.get("addr")
    return quantity_label(value), quantity_c(value, pointer=True)


def _show_statements(plan: _Plan, shown: _Shown, ok: dict) -> list[str]:
    lines = []
    if shown.names or shown.vmlck:
        plan.helpers.add("state")
    for name, count in shown.names:
        if ok.get(name):
            lines += statement(Call("show_pages", [Literal(name), name, str(count)]))
    if shown.vmlck:
        lines += statement(Call("show_vmlck", []))
    return lines


# -- predicted output ----------------------------------------------------------------------------------

def _state_text(obs: Observation, addr: int) -> str:
    page = obs.page(addr)
    if not page.mapped:
        return "unmapped"
    lock = "locked on fault" if page.onfault else "locked" if page.locked else "unlocked"
    return f"{page.prot}{'s' if page.shared else 'p'}, {lock}, {'resident' if page.resident else 'not resident'}"


def _shown_lines(result: TraceResult, obs: Observation, shown: _Shown, ok: dict) -> list[str]:
    out = []
    values = result.values
    for name, count in shown.names:
        if not ok.get(name):
            continue
        base = values[name]
        states = [_state_text(obs, base + i * PAGE_SIZE) for i in range(count)]
        first = 0
        for i in range(1, count + 1):
            if i == count or states[i] != states[first]:
                where = f"page {first}" if first == i - 1 else f"pages {first}-{i - 1}"
                out.append(f"    {name} {where}: {states[first]}")
                first = i
    if shown.vmlck:
        out.append(f"    VmLck: {obs.vmlck * PAGE_SIZE // 1024} kB")
    return out


def _expected_address(result: TraceResult, ret: int, ok: dict, before: int) -> tuple[str, str] | None:
    """(label, C expression) of an address step `before` returned, relative to the nearest
    name bound by an earlier step below it within a slot, or None."""
    best = None
    for name, base in result.values.items():
        earlier = result.trace.bindings[name].step < before
        if earlier and ok.get(name) and base <= ret < base + layout.SLOT_SIZE and (best is None or base > best[1]):
            best = (name, base)
    if best is None:
        return None
    return _address_label(Ref(0, best[0], ret - best[1]))


def build(trace: Trace, spec: Spec, engine: Engine, profile: str) -> Example:
    """The example program for `trace` and its output on `profile` as the engine predicts it."""
    reason = unsuitable(trace, spec, profile)
    if reason:
        raise Unsuitable(reason)
    trace = dataclasses.replace(trace, config=dataclasses.replace(trace.config, kernel=profile))
    result = run_engine(trace, engine)
    ok = {step.bind: record.outcome.ok for step, record in zip(trace.steps, result.steps) if step.bind}
    plan, steps = _plan(trace, spec, ok)
    output: list[str] = []
    for (kind, step, label, call), record, lines in zip(steps, result.steps, plan.lines):
        outcome = record.outcome
        # record.alternatives (memory pressure: mlock's EAGAIN) are left out: the page shows
        # the outcome of a machine with memory to spare.
        if outcome.signal and (kind != "touch" or outcome.signal not in _SIGNALS):
            raise Unsuitable(f"step {step.index + 1} ends with {outcome.signal}")
        if kind == "touch":
            output.append(f"{label}: {outcome.signal or 'ok'}")
        elif kind == "int":
            output.append(f"{label} = {outcome.ret}" if outcome.ok else f"{label} = -1 ({outcome.errno})")
        elif kind == "bound":
            output.append(f"{label} = {step.bind}" if outcome.ok else f"{label} = MAP_FAILED ({outcome.errno})")
        else:
            expected = _expected_address(result, outcome.ret, ok, step.index) if outcome.ok else None
            name, c_expected = expected if expected else ("a new address", "NULL")
            output.append(f"{label} = {name}" if outcome.ok else f"{label} = MAP_FAILED ({outcome.errno})")
            index = lines.index(None)
            lines[index:index + 1] = statement(Call("show_addr", [Literal(label), call, Literal(name), c_expected]))
        if step.expect_state is not None:
            output += _shown_lines(result, record.state, _shown(trace, step.expect_state), ok)
    if trace.expect_state is not None:
        output.append("at the end:")
        output += _shown_lines(result, result.final[MAIN], _shown(trace, trace.expect_state), ok)
    return Example(trace.name, _SEED_RE.sub("", trace.description.strip()), _source(plan), output, profile)


def _source(plan: _Plan) -> str:
    trace, helpers = plan.trace, plan.helpers
    config = trace.config
    unprivileged = not config.privileged
    limit = config.rlimit_memlock != DEFAULT_MEMLOCK or unprivileged
    includes = ["err.h", "errno.h", "stdio.h", "stdlib.h", "string.h", "sys/mman.h", "unistd.h"]
    if "state" in helpers:
        includes += ["fcntl.h", "stdint.h", "sys/prctl.h"]
    if "touch" in helpers:
        includes += ["setjmp.h", "signal.h"]
    if limit:
        includes += ["sys/resource.h"]
    if unprivileged:
        includes += ["grp.h", "sys/prctl.h"]
    if any("SIZE_MAX" in line for lines in plan.lines for line in lines):
        includes += ["stdint.h"]
    if any("ULONG_MAX" in line for lines in plan.lines for line in lines):
        includes += ["limits.h"]
    out = ["#define _GNU_SOURCE"] + [f"#include <{name}>" for name in sorted(set(includes))] + [""]
    out += HELPER_PAGE.splitlines() + [""]
    for name, text in (("slot", HELPER_SLOT), ("show", HELPER_SHOW), ("show_addr", HELPER_SHOW_ADDR),
                       ("touch", HELPER_TOUCH), ("state", HELPER_STATE)):
        if name in helpers:
            out += text.splitlines() + [""]
    out += ["int", "main(void)", "{"]
    declarations = []
    if plan.trace.files:
        declarations.append(("int", ", ".join(plan.trace.files)))
    pointers = [name for name in trace.bindings if name in plan.pointers]
    if pointers:
        declarations.append(("char", ", ".join(f"*{name}" for name in pointers)))
    if limit:
        declarations.append(("struct rlimit", "lim"))
    if "touch" in helpers:
        declarations.append(("struct sigaction", "sa"))
    width = max((len(kind) for kind, _ in declarations), default=0)
    out += [f"{INDENT}{kind.ljust(width)}  {names};" for kind, names in declarations]
    if declarations:
        out.append("")
    out.append(f"{INDENT}page = sysconf(_SC_PAGESIZE);")
    if "state" in helpers:
        out += comment("fault pages in one at a time, as the output below assumes, "
                       "even where transparent huge pages are enabled")
        out.append(f"{INDENT}prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);")
    for name, size in ((name, file.size) for name, file in trace.files.items()):
        out += comment(f"{name}: a file of {quantity_label(size)}" if size % PAGE_SIZE == 0 or size == 0
                       else f"{name}: a file of {size} bytes")
        out.append(f'{INDENT}{name} = memfd_create("{name}", 0);')
        out.append(f"{INDENT}if ({name} == -1 || ftruncate({name}, {_size_c(size)}) == -1)")
        out.append(f'{INDENT}    err(EXIT_FAILURE, "{name}");')
    if limit:
        memlock = config.rlimit_memlock
        value = "RLIM_INFINITY" if memlock is None else _size_c(memlock)
        who = "an unprivileged process (without CAP_IPC_LOCK; as root, as user nobody)" if unprivileged \
            else "a process"
        out += comment(f"run as {who} with RLIMIT_MEMLOCK at {_size_label(memlock)}")
        out.append(f"{INDENT}lim.rlim_cur = lim.rlim_max = {value};")
        out.append(f"{INDENT}if (setrlimit(RLIMIT_MEMLOCK, &lim) == -1)")
        out.append(f'{INDENT}    err(EXIT_FAILURE, "setrlimit");')
    if unprivileged:
        out.append(f"{INDENT}if (geteuid() == 0) {{")
        out.append(f"{INDENT}    if (setgroups(0, NULL) == -1 || setgid(65534) == -1")
        out.append(f"{INDENT}        || setuid(65534) == -1)")
        out.append(f'{INDENT}    {{')
        out.append(f'{INDENT}        err(EXIT_FAILURE, "dropping privileges");')
        out.append(f'{INDENT}    }}')
        out += comment("setuid() made the process nondumpable, which leaves its /proc/self files to root",
                       INDENT * 2)
        out.append(f"{INDENT}    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);")
        out.append(f"{INDENT}}}")
    if "touch" in helpers:
        out.append(f"{INDENT}memset(&sa, 0, sizeof(sa));")
        out.append(f"{INDENT}sa.sa_handler = on_fault;")
        out.append(f"{INDENT}if (sigaction(SIGSEGV, &sa, NULL) == -1")
        out.append(f"{INDENT}    || sigaction(SIGBUS, &sa, NULL) == -1)")
        out.append(f"{INDENT}{{")
        out.append(f'{INDENT}    err(EXIT_FAILURE, "sigaction");')
        out.append(f"{INDENT}}}")
    out.append("")
    for lines in plan.lines:
        out += lines
    out += ["", f"{INDENT}exit(EXIT_SUCCESS);", "}"]
    return "\n".join(out) + "\n"


def _size_c(size: int) -> str:
    if size and size % PAGE_SIZE == 0:
        pages = size // PAGE_SIZE
        return "page" if pages == 1 else f"{pages} * page"
    return str(size)


def _size_label(size: int | None) -> str:
    if size is None:
        return "unlimited"
    if size and size % PAGE_SIZE == 0:
        pages = size // PAGE_SIZE
        return "1 page" if pages == 1 else f"{pages} pages"
    return f"{size} bytes"


# -- choosing a page's example ---------------------------------------------------------------------------

def examples_dir() -> Path | None:
    """Where the spec's example traces live: the mmsem.examples package data (the
    examples/ folder of the source tree)."""
    import importlib.util

    found = importlib.util.find_spec("mmsem.examples")
    for location in (found.submodule_search_locations or []) if found else []:
        if Path(location).is_dir():
            return Path(location)
    return None


def choose(spec: Spec, calls: list[Syscall], engine: Engine, profile: str,
           directory: Path | None) -> tuple[Example | None, dict[str, str]]:
    """The page's example: among the spec's examples of its calls, the runnable one that uses
    the most of the page's calls (then the most of its steps on them; then the one that
    needs no change of privilege; then spec order). Also why each other one was left out."""
    names = list(dict.fromkeys(name for entry in calls for name in entry.examples))
    page_calls = {entry.name for entry in calls}
    skipped: dict[str, str] = {}
    best, best_key = None, None
    for rank, name in enumerate(names):
        path = directory / f"{name}.yaml" if directory else None
        if path is None or not path.is_file():
            skipped[name] = "no such file in examples/"
            continue
        trace = read_trace(path, spec)
        try:
            example = build(trace, spec, engine, profile)
        except Unsuitable as exc:
            skipped[name] = str(exc)
            continue
        used = [step.call for step in trace.steps if step.call in page_calls]
        key = (len(set(used)), len(used), trace.config.privileged, -rank)
        if best_key is None or key > best_key:
            best, best_key = example, key
    return best, skipped
