"""Compile a spec program (checks, lets, effects, calls, returns) and run it.

A syscall's program runs top to bottom over an environment of its arguments: a
``check`` whose condition holds ends the call with its errno or signal; ``let``
binds names; ``do`` runs an effect primitive and maps the errno it reports through
the step's ``raises``; ``call`` runs a shared procedure; ``return`` ends the call
(or the procedure) with a value. Compilation resolves every name once, so running
is a walk over closures.
"""

from __future__ import annotations

import errno as errno_module
from dataclasses import dataclass, field

from mmsem.semantics.expr import ExprError, Namespace, compile_expr
from mmsem.semantics.namespace import FUNCTIONS, STATE
from mmsem.semantics.effects import PRIMITIVES
from mmsem.spec.model import Spec, Step, Syscall
from mmsem.spec.source import InputError


@dataclass(frozen=True)
class Outcome:
    """What one step did: a return value, an errno, or the signal that ended it."""

    ret: int | None = None
    errno: str | None = None
    signal: str | None = None

    @property
    def ok(self) -> bool:
        return self.errno is None and self.signal is None

    def __str__(self) -> str:
        if self.signal:
            return self.signal
        if self.errno:
            return f"-1 {self.errno}"
        return hex(self.ret) if self.ret is not None and self.ret > 0xFFFF else str(self.ret)

    def as_dict(self) -> dict:
        return {"ret": self.ret if self.ok else -1 if self.errno else None,
                "errno": self.errno, "signal": self.signal}


def errno_name(number: int, spec) -> str:
    """An errno number by name: the spec's names first, then the C library's, else E<number>."""
    for name in spec.errnos:
        if spec.constants.get(name) == number:
            return name
    return errno_module.errorcode.get(number, f"E{number}")


class InternalError(Exception):
    """The engine and the spec disagree (a primitive reported an undeclared errno)."""


@dataclass
class Context:
    """The engine's view while one step runs."""

    system: object
    proc: object
    traits: frozenset
    flag_masks: dict
    tables: dict  # compiled per-value rules of value sets (madvise), by set name
    slot: int | None = None
    new_process: str | None = None  # the name a fork step gives the process it creates
    alternatives: list = field(default_factory=list)

    @property
    def mm(self):
        return self.proc.mm


@dataclass
class Program:
    name: str
    ops: list


def expression_error(step: Step, key: str, exc: ExprError) -> InputError:
    """An expression error at the position of the expression itself."""
    origin = step.positions.get(key, step.origin)
    return InputError(origin.path, origin.line, origin.col, f"in {key} of step {step.id or step.op}: {exc}")


class Compiler:
    """Compiles every program of a spec; procedures are compiled once and shared."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.procedures: dict[str, Program] = {}
        flags = {f.name for fs in spec.flagsets.values() for f in fs.flags}

        def literal_check(kind: str, value: str) -> str | None:
            if kind == "flagset" and value not in spec.flagsets:
                return f"unknown flag set {value!r}"
            if kind == "flag" and value not in flags:
                return f"unknown flag {value!r}"
            return None

        self.literal_check = literal_check

    def namespace(self, local_names) -> Namespace:
        return Namespace(frozenset(local_names), self.spec.constants, frozenset(self.spec.traits),
                         STATE, FUNCTIONS, self.literal_check)

    def expr(self, source, step: Step, key: str, local_names):
        try:
            compiled = compile_expr(source, self.namespace(local_names))
        except ExprError as exc:
            raise expression_error(step, key, exc) from None

        def guarded(env, ctx):  # a division by zero met when running is the spec's defect too
            try:
                return compiled(env, ctx)
            except ExprError as exc:
                raise expression_error(step, key, exc) from None
        return guarded

    def compile(self, entry: Syscall) -> Program:
        names = set(entry.params) | {a.name for a in entry.args}
        ops = []
        for step in entry.program:
            when = self.expr(step.when, step, "when", names) if step.when is not None else None
            if step.op == "check":
                outcome = Outcome(errno=step.errno) if step.errno else Outcome(signal=step.signal)
                ops.append(("check", when, outcome))
            elif step.op == "let":
                bindings = []
                for name, source in step.bindings:
                    bindings.append((name, self.expr(source, step, f"let {name}", names)))
                names |= {name for name, _ in step.bindings}
                ops.append(("let", bindings))
            elif step.op == "do":
                ops.append(self.compile_do(step, names, when))
                if step.bind:
                    names.add(step.bind)
            elif step.op == "call":
                ops.append(self.compile_call(step, names, when))
            else:
                ops.append(("return", self.expr(step.value, step, "return", names), when))
        return Program(entry.name, ops)

    def arguments(self, step: Step, what: str, params, names) -> list:
        """Compile the arguments of a do/call step, which must be exactly `params` (None: unknown target)."""
        origin = step.origin
        if params is None:
            raise InputError(origin.path, origin.line, origin.col, f"unknown {what} {step.id!r}")
        given = [name for name, _ in step.args]
        if sorted(given) != sorted(params):
            raise InputError(origin.path, origin.line, origin.col,
                             f"{step.id} takes ({', '.join(params)}), got ({', '.join(given)})")
        return [(name, self.expr(source, step, f"argument {name}", names)) for name, source in step.args]

    def compile_do(self, step: Step, names, when):
        prim = PRIMITIVES.get(step.id)
        args = self.arguments(step, "primitive", prim.params if prim else None, names)
        errmap, alternatives = {}, []
        for entry in step.raises:
            if entry.nondeterministic:
                alternatives.append(Outcome(errno=entry.errno))
            else:
                errmap[entry.source_errno or entry.errno] = entry.errno
        return ("do", prim, args, when, errmap, tuple(alternatives), step.bind)

    def compile_call(self, step: Step, names, when):
        target = self.spec.procedures.get(step.id)
        args = self.arguments(step, "procedure", target.params if target else None, names)
        if step.id not in self.procedures:
            self.procedures[step.id] = Program(step.id, [])  # placeholder against recursion
            self.procedures[step.id] = self.compile(target)
        return ("call", step.id, args, when)

    def program(self, name: str) -> Program:
        return self.compile(self.spec.syscalls[name])


def run(program: Program, env: dict, ctx: Context, procedures: dict) -> tuple[str, object]:
    """Run a program; returns ("fail", Outcome), ("return", value) or ("end", None)."""
    for op in program.ops:
        kind = op[0]
        if kind == "check":
            if op[1](env, ctx):
                return "fail", op[2]
        elif kind == "let":
            for name, value in op[1]:
                env[name] = value(env, ctx)
        elif kind == "do":
            _, prim, args, when, errmap, alternatives, bind = op
            if when is not None and not when(env, ctx):
                continue
            ctx.alternatives.extend(alternatives)
            result = prim.impl(ctx, **{name: value(env, ctx) for name, value in args})
            if isinstance(result, str):
                if result not in errmap:
                    raise InternalError(f"{prim.name} reported {result}, which the spec does not declare")
                return "fail", Outcome(errno=errmap[result])
            if bind:
                env[bind] = result
        elif kind == "call":
            _, name, args, when = op
            if when is not None and not when(env, ctx):
                continue
            sub_env = {param: value(env, ctx) for param, value in args}
            result = run(procedures[name], sub_env, ctx, procedures)
            if result[0] == "fail":
                return result
        else:
            _, value, when = op
            if when is None or when(env, ctx):
                return "return", value(env, ctx)
    return "end", None
