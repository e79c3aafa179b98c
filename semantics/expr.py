"""The spec's expression language: Python syntax, parsed with ``ast``, never eval'd.

Conditions and values in the specs (``flags & ~valid_flags('mlock2')``,
``pages(len) + locked_vm > memlock_limit``) are compiled once into closures over a
whitelisted namespace. Only these constructs exist: integer, boolean and string
literals, tuples (for ``in``), names, calls of whitelisted functions with
positional arguments, ``and``/``or``/``not``, comparisons, ``x if c else y``, and the
arithmetic and bitwise operators. Attribute access, subscripts, keywords, lambdas,
comprehensions and everything else are rejected when the spec is loaded.

Arithmetic follows the kernel's ``unsigned long``: results of ``+ - * << ~`` are
reduced modulo 2**64, so ``start + len < start`` detects wrap-around exactly as the
C code does. Unary minus is not reduced, so ``-1`` stays a plain -1 (for fds).

Only numbers take part in arithmetic, ordering and function arguments: a string or a
tuple there is refused when compiling (``'a' * 10**9`` would build a gigabyte), and a
let-bound name, whose value is not known then, is checked when it is read. A tuple
serves only after ``in``/``not in``. Division or modulo by zero and a negative right
shift raise ExprError when evaluated.
"""

from __future__ import annotations

import ast
import functools
import operator
from dataclasses import dataclass
from typing import Any, Callable

MASK64 = (1 << 64) - 1
MAX_LENGTH = 2000  # characters; spec expressions are a line or two
MAX_DEPTH = 40  # nesting levels; compiling recurses once per level

#: Signature of a compiled expression: (env, ctx) -> value. ``env`` holds arguments
#: and let-bound names; ``ctx`` gives the engine's view of the state.
Compiled = Callable[[dict, Any], Any]


class ExprError(Exception):
    """An expression that cannot be compiled; ``col`` is 0-based within the text."""

    def __init__(self, message: str, col: int = 0):
        super().__init__(message)
        self.col = col


@dataclass(frozen=True)
class Function:
    """A function callable from expressions: ``impl(ctx, *args)``."""

    name: str
    arity: int
    impl: Callable
    doc: str
    literal_kinds: tuple = ()  # per argument: None, or a kind of string literal it must be ("flagset", "flag")


@dataclass(frozen=True)
class Namespace:
    """Everything an expression may name, fixed when a program is compiled."""

    locals: frozenset  # args, params and let-bound names (looked up in env)
    constants: dict  # name -> int
    traits: frozenset  # name -> bool, from the profile (ctx.traits)
    state: dict  # name -> (ctx) -> value
    functions: dict  # name -> Function
    literal_check: Callable[[str, str], str | None] = lambda kind, value: None


def _shift_left(a: int, b: int) -> int:
    """a << b in 64 bits; a shift by 64 or more gives 0 instead of a huge intermediate."""
    return a << b if 0 <= b < 64 else 0


_WRAPPING = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.LShift: _shift_left,
}
def _floordiv(a: int, b: int) -> int:
    if b == 0:
        raise ExprError("division by zero")
    return a // b


def _mod(a: int, b: int) -> int:
    if b == 0:
        raise ExprError("modulo by zero")
    return a % b


def _shift_right(a: int, b: int) -> int:
    if b < 0:
        raise ExprError("negative shift count")
    return a >> b


_PLAIN = {
    ast.FloorDiv: _floordiv,
    ast.Mod: _mod,
    ast.RShift: _shift_right,
    ast.BitOr: operator.or_,
    ast.BitAnd: operator.and_,
    ast.BitXor: operator.xor,
}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_MEMBERSHIP = (ast.In, ast.NotIn)


def names_in(text: str) -> set[str]:
    """Names an expression refers to (for documentation and checks); none for a bare
    number (YAML gives an int) or a text that does not parse (compile_expr says why)."""
    if not isinstance(text, str):  # found by the spec campaign: a placement size of 4096
        return set()
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def compile_expr(source: Any, ns: Namespace) -> Compiled:
    """Compile an expression (a string, or a bare int/bool from YAML)."""
    if isinstance(source, bool) or isinstance(source, int):
        value = source
        return lambda env, ctx: value
    if not isinstance(source, str):
        raise ExprError(f"expected an expression, got {type(source).__name__}")
    text = " ".join(source.split())  # folded YAML may hold newlines
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    body, problem = _parse(text)
    if problem is not None:
        raise ExprError(*problem)
    return _Compiler(ns).node(body)


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> tuple[ast.AST | None, tuple | None]:
    """The parsed expression, or the arguments of its ExprError; memoised, as every spec
    load compiles the same few hundred expressions again (the compiler only reads trees)."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        return None, (f"syntax error in expression: {exc.msg}", max((exc.offset or 1) - 1, 0))
    except (RecursionError, MemoryError):
        return None, ("expression nested too deeply",)
    if _depth(tree.body) > MAX_DEPTH:
        return None, (f"expression nested too deeply (more than {MAX_DEPTH} levels)",)
    return tree.body, None


def _depth(node: ast.AST) -> int:
    """Nesting depth of an expression tree, without recursion."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(current))
    return deepest


def _kind(node: ast.AST, ns: Namespace) -> str:
    """What a node evaluates to, as far as is known when compiling: "number", "string",
    "tuple", or "unknown" (a local name: a let: may have bound anything)."""
    if isinstance(node, ast.Constant):
        return "string" if isinstance(node.value, str) else "number"
    if isinstance(node, ast.Tuple):
        return "tuple"
    if isinstance(node, ast.Name):
        return "unknown" if node.id in ns.locals else "number"
    if isinstance(node, (ast.IfExp, ast.BoolOp)):
        kinds = {_kind(n, ns) for n in ((node.body, node.orelse) if isinstance(node, ast.IfExp) else node.values)}
        return next((k for k in ("string", "tuple", "unknown") if k in kinds), "number")
    return "number"  # arithmetic, comparisons and calls give numbers


def _not_a_number(what: str, value) -> ExprError:
    return ExprError(f"{what} needs a number, not {type(value).__name__} {value!r}"[:200])


class _Compiler:
    def __init__(self, ns: Namespace):
        self.ns = ns

    def number(self, node: ast.AST, what: str) -> Compiled:
        """Compile an operand that must be a number (see the module docstring)."""
        kind = _kind(node, self.ns)
        if kind in ("string", "tuple"):
            raise self.fail(node, f"{what} needs a number, not a {kind}")
        if kind == "number":
            return self.node(node)
        if isinstance(node, ast.Name):  # the common case, a local, checked in its lookup
            name = node.id

            def local(env, ctx):
                value = env[name]
                if value.__class__ is int or value.__class__ is bool:
                    return value
                raise _not_a_number(what, value)
            return local
        compiled = self.node(node)

        def checked(env, ctx):
            value = compiled(env, ctx)
            if value.__class__ is int or value.__class__ is bool:
                return value
            raise _not_a_number(what, value)
        return checked

    def fail(self, node: ast.AST, message: str) -> ExprError:
        return ExprError(message, getattr(node, "col_offset", 0))

    def node(self, node: ast.AST) -> Compiled:
        method = getattr(self, "n_" + type(node).__name__, None)
        if method is None:
            raise self.fail(node, f"{type(node).__name__} is not allowed in spec expressions")
        return method(node)

    def n_Constant(self, node: ast.Constant) -> Compiled:
        value = node.value
        if not isinstance(value, (int, bool, str)):
            raise self.fail(node, f"literal {value!r} is not allowed")
        return lambda env, ctx: value

    def n_Tuple(self, node: ast.Tuple) -> Compiled:
        items = [self.node(item) for item in node.elts]
        return lambda env, ctx: tuple(item(env, ctx) for item in items)

    def n_Name(self, node: ast.Name) -> Compiled:
        name = node.id
        ns = self.ns
        if name in ns.locals:
            return lambda env, ctx: env[name]
        if name in ns.constants:
            value = ns.constants[name]
            return lambda env, ctx: value
        if name in ns.traits:
            return lambda env, ctx: name in ctx.traits
        if name in ns.state:
            getter = ns.state[name]
            return lambda env, ctx: getter(ctx)
        if name in ns.functions:
            raise self.fail(node, f"{name} is a function: call it")
        raise self.fail(node, f"unknown name {name!r}")

    def n_Call(self, node: ast.Call) -> Compiled:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, "only named functions can be called")
        name = node.func.id
        function = self.ns.functions.get(name)
        if function is None:
            raise self.fail(node, f"unknown function {name!r}")
        if node.keywords:
            raise self.fail(node, f"{name}() takes positional arguments only")
        if len(node.args) != function.arity:
            raise self.fail(node, f"{name}() takes {function.arity} argument(s), got {len(node.args)}")
        for i, kind in enumerate(function.literal_kinds):
            if kind is None:
                continue
            arg = node.args[i]
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                raise self.fail(arg, f"argument {i + 1} of {name}() must be a quoted {kind} name")
            problem = self.ns.literal_check(kind, arg.value)
            if problem:
                raise self.fail(arg, problem)
        args = []
        for i, arg in enumerate(node.args):
            if i < len(function.literal_kinds) and function.literal_kinds[i] is not None:
                args.append(lambda env, ctx, value=arg.value: value)  # the quoted name checked above
            else:
                args.append(self.number(arg, f"argument {i + 1} of {name}()"))
        impl = function.impl
        if len(args) == 1:
            (a,) = args
            return lambda env, ctx: impl(ctx, a(env, ctx))
        if len(args) == 2:
            a, b = args
            return lambda env, ctx: impl(ctx, a(env, ctx), b(env, ctx))
        return lambda env, ctx: impl(ctx, *[arg(env, ctx) for arg in args])

    def n_BoolOp(self, node: ast.BoolOp) -> Compiled:
        values = [self.node(v) for v in node.values]
        if isinstance(node.op, ast.And):
            def conj(env, ctx):
                result = True
                for value in values:
                    result = value(env, ctx)
                    if not result:
                        return result
                return result
            return conj

        def disj(env, ctx):
            result = False
            for value in values:
                result = value(env, ctx)
                if result:
                    return result
            return result
        return disj

    def n_UnaryOp(self, node: ast.UnaryOp) -> Compiled:
        if isinstance(node.op, ast.Not):
            operand = self.node(node.operand)
            return lambda env, ctx: not operand(env, ctx)
        if isinstance(node.op, ast.UAdd):
            raise self.fail(node, "unary + is not allowed")
        operand = self.number(node.operand, f"operator {type(node.op).__name__}")
        if isinstance(node.op, ast.Invert):
            return lambda env, ctx: ~operand(env, ctx) & MASK64
        if isinstance(node.op, ast.USub):
            return lambda env, ctx: -operand(env, ctx)
        raise self.fail(node, "unary + is not allowed")

    def n_BinOp(self, node: ast.BinOp) -> Compiled:
        op_type = type(node.op)
        if op_type not in _WRAPPING and op_type not in _PLAIN:
            raise self.fail(node, f"operator {op_type.__name__} is not allowed")
        what = f"operator {op_type.__name__}"
        left, right = self.number(node.left, what), self.number(node.right, what)
        if op_type in (ast.FloorDiv, ast.Mod) and isinstance(node.right, ast.Constant) and node.right.value == 0:
            raise self.fail(node, f"{'division' if op_type is ast.FloorDiv else 'modulo'} by zero")
        if op_type in _WRAPPING:
            op = _WRAPPING[op_type]
            return lambda env, ctx: op(left(env, ctx), right(env, ctx)) & MASK64
        if op_type in _PLAIN:
            op = _PLAIN[op_type]
            return lambda env, ctx: op(left(env, ctx), right(env, ctx))
        raise self.fail(node, f"operator {op_type.__name__} is not allowed")

    def n_Compare(self, node: ast.Compare) -> Compiled:
        nodes = [node.left] + node.comparators
        ops = []
        for i, op in enumerate(node.ops):
            if type(op) not in _COMPARE:
                raise self.fail(node, f"comparison {type(op).__name__} is not allowed")
            if isinstance(op, _MEMBERSHIP) and _kind(nodes[i + 1], self.ns) != "tuple":
                raise self.fail(nodes[i + 1], f"{type(op).__name__} needs a tuple (a, b, ...) on its right")
            ops.append(_COMPARE[type(op)])
        operands = []
        for i, operand in enumerate(nodes):
            ordered = [op for op in node.ops[max(i - 1, 0):i + 1] if isinstance(op, _ORDERING)]
            if ordered:
                operands.append(self.number(operand, f"comparison {type(ordered[0]).__name__}"))
            else:
                operands.append(self.node(operand))
        if len(ops) == 1:
            a, b = operands
            op = ops[0]
            return lambda env, ctx: op(a(env, ctx), b(env, ctx))

        def chain(env, ctx):
            left = operands[0](env, ctx)
            for op, operand in zip(ops, operands[1:]):
                right = operand(env, ctx)
                if not op(left, right):
                    return False
                left = right
            return True
        return chain

    def n_IfExp(self, node: ast.IfExp) -> Compiled:
        test, body, orelse = self.node(node.test), self.node(node.body), self.node(node.orelse)
        return lambda env, ctx: body(env, ctx) if test(env, ctx) else orelse(env, ctx)
