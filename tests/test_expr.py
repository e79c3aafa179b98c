"""The spec expression language (semantics/expr.py): meaning and refusals.

The namespace is built by hand, so these tests depend on no spec file: two locals,
a few constants, two traits (one of which the context has), one state value and
two functions, one of which wants a quoted flag set name.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mmsem.semantics.expr import MASK64, ExprError, Function, Namespace, compile_expr, names_in

TOP = 1 << 64


def _explode(ctx, value):
    raise AssertionError("a branch that must not run was evaluated")


NS = Namespace(
    locals=frozenset({"x", "y", "start", "len", "flags"}),
    constants={"MAP_TYPE": 0xF, "MAP_SHARED_VALIDATE": 0x3, "PAGE_SIZE": 4096},
    traits=frozenset({"new_kernel", "old_kernel"}),
    state={"locked_vm": lambda ctx: ctx.locked_vm},
    functions={
        "double": Function("double", 1, lambda ctx, value: 2 * value, "twice the value"),
        "explode": Function("explode", 1, _explode, "fails the test when called"),
        "set_mask": Function("set_mask", 1, lambda ctx, name: {"mlock2": 1}[name], "a flag set's mask",
                             ("flagset",)),
    },
    literal_check=lambda kind, value: None if value == "mlock2" else f"unknown flag set {value!r}",
)
CTX = SimpleNamespace(traits=frozenset({"new_kernel"}), locked_vm=7)


def ev(text, **env):
    return compile_expr(text, NS)(env, CTX)


def rejected(text) -> ExprError:
    with pytest.raises(ExprError) as info:
        compile_expr(text, NS)
    return info.value


# -- unsigned long arithmetic ------------------------------------------------------------

def test_addition_wraps_and_detects_overflow_like_c():
    start = TOP - 4096
    assert ev("start + len", start=start, len=8192) == 4096
    assert ev("start + len < start", start=start, len=8192) is True
    assert ev("start + len", start=start, len=4096) == 0  # exactly 2**64 wraps to 0 ...
    assert ev("start + len < start", start=start, len=4096) is True  # ... which is below start too
    assert ev("start + len < start", start=start, len=4095) is False


def test_invert_is_64_bit():
    assert ev("~0") == TOP - 1 == MASK64
    assert ev("~x", x=0xFFF) == TOP - 1 - 0xFFF
    assert ev("x & ~(PAGE_SIZE - 1)", x=0x12345) == 0x12000


def test_subtraction_multiplication_and_shift_wrap():
    assert ev("0 - 1") == TOP - 1
    assert ev("x * y", x=1 << 40, y=1 << 30) == (1 << 70) % TOP
    assert ev("1 << 64") == 0
    assert ev("1 << 63") == 1 << 63


def test_unary_minus_is_not_reduced():
    # Kept negative on purpose, for fds (fd: -1 if anonymous else fd).
    assert ev("-1") == -1
    assert ev("-x if x else 5", x=3) == -3


def test_division_modulo_and_right_shift_are_plain():
    assert ev("x // 4096", x=3 * 4096 + 5) == 3
    assert ev("x % 4096", x=3 * 4096 + 5) == 5
    assert ev("x >> 12", x=TOP - 1) == (1 << 52) - 1


def test_bitwise_and_binds_tighter_than_equality():
    # Python precedence, not C's: flags & MAP_TYPE == X means (flags & MAP_TYPE) == X.
    assert ev("flags & MAP_TYPE == MAP_SHARED_VALIDATE", flags=0x13) is True
    assert ev("flags & MAP_TYPE == MAP_SHARED_VALIDATE", flags=0x11) is False
    assert ev("flags & (MAP_TYPE == MAP_SHARED_VALIDATE)", flags=0x13) == 0  # the C reading
    assert ev("x | y == 3", x=1, y=2) is True


def test_membership_in_tuples():
    assert ev("x in (1, 2, 3)", x=2) is True
    assert ev("x in (1, 2, 3)", x=4) is False
    assert ev("x not in (1, 2)", x=4) is True
    assert ev("x in (y, y + 1)", x=6, y=5) is True
    assert ev("(x, y)", x=1, y=2) == (1, 2)


def test_conditional_expression_evaluates_one_branch():
    assert ev("double(x) if x else 5", x=4) == 8
    assert ev("explode(x) if x else 5", x=0) == 5
    assert ev("1 if x > 2 else 2 if x > 1 else 3", x=2) == 2


def test_chained_comparisons():
    assert ev("0 < x < 10", x=5) is True
    assert ev("0 < x < 10", x=10) is False
    assert ev("0 <= x <= y < 10", x=0, y=9) is True
    assert ev("x == y != 3", x=3, y=3) is False
    assert ev("x < y > 1", x=0, y=2) is True


def test_boolean_operators_short_circuit_and_yield_operands():
    assert ev("x and explode(x)", x=0) == 0
    assert ev("x or explode(x)", x=7) == 7
    assert ev("x and y", x=1, y=9) == 9
    assert ev("not x", x=0) is True


def test_names_resolve_to_locals_constants_traits_and_state():
    assert ev("x + PAGE_SIZE", x=1) == 4097
    assert ev("new_kernel") is True
    assert ev("old_kernel") is False  # a trait of the spec that this profile lacks
    assert ev("locked_vm + 1") == 8


def test_literal_sources_from_yaml():
    assert compile_expr(5, NS)({}, CTX) == 5
    assert compile_expr(True, NS)({}, CTX) is True
    assert compile_expr("x +\n  1", NS)({"x": 1}, CTX) == 2  # folded YAML keeps newlines
    assert ev("'a'") == "a"


def test_functions_and_quoted_flagset_names():
    assert ev("double(x) + 1", x=20) == 41
    assert ev("x & ~set_mask('mlock2')", x=3) == 2


def test_names_in_lists_every_name():
    assert names_in("double(x) + PAGE_SIZE if new_kernel else y") == {"double", "x", "PAGE_SIZE",
                                                                      "new_kernel", "y"}


# -- refusals ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    # reaching into Python objects
    ("x.__class__", "Attribute is not allowed in spec expressions"),
    ("double.__globals__", "Attribute is not allowed in spec expressions"),
    ("x.bit_length()", "only named functions can be called"),
    ("x[0]", "Subscript is not allowed in spec expressions"),
    ("(1, 2)[0]", "Subscript is not allowed in spec expressions"),
    # code that is not a plain expression
    ("lambda: 1", "Lambda is not allowed in spec expressions"),
    ("[i for i in x]", "ListComp is not allowed in spec expressions"),
    ("{i for i in x}", "SetComp is not allowed in spec expressions"),
    ("{i: 1 for i in x}", "DictComp is not allowed in spec expressions"),
    ("(i for i in x)", "GeneratorExp is not allowed in spec expressions"),
    ("(y := 1)", "NamedExpr is not allowed in spec expressions"),
    ('f"{x}"', "JoinedStr is not allowed in spec expressions"),
    ("[1]", "List is not allowed in spec expressions"),
    ("{1: 2}", "Dict is not allowed in spec expressions"),
    ("{1}", "Set is not allowed in spec expressions"),
    # calls
    ("open('/etc/passwd')", "unknown function 'open'"),
    ("__import__('os')", "unknown function '__import__'"),
    ("eval('1')", "unknown function 'eval'"),
    ("getattr(x, 'y')", "unknown function 'getattr'"),
    ("x(1)", "unknown function 'x'"),
    ("double(1)(2)", "only named functions can be called"),
    ("double(x=1)", "double() takes positional arguments only"),
    ("double(**x)", "double() takes positional arguments only"),
    ("double(*x)", "Starred is not allowed in spec expressions"),
    ("double(1, 2)", "double() takes 1 argument(s), got 2"),
    ("double", "double is a function: call it"),
    ("set_mask(x)", "argument 1 of set_mask() must be a quoted flagset name"),
    ("set_mask('mmap')", "unknown flag set 'mmap'"),
    # names that are not in the namespace
    ("print", "unknown name 'print'"),
    ("__builtins__", "unknown name '__builtins__'"),
    ("True_", "unknown name 'True_'"),
    # literals and operators outside the language
    ("1.5", "literal 1.5 is not allowed"),
    ("1e3", "literal 1000.0 is not allowed"),
    ("1j", "literal 1j is not allowed"),
    ("None", "literal None is not allowed"),
    ("b'x'", "literal b'x' is not allowed"),
    ("...", "literal Ellipsis is not allowed"),
    ("x / 2", "operator Div is not allowed"),
    ("x ** 2", "operator Pow is not allowed"),
    ("x @ y", "operator MatMult is not allowed"),
    ("x is y", "comparison Is is not allowed"),
    ("x is not y", "comparison IsNot is not allowed"),
    ("+x", "unary + is not allowed"),
])
def test_refused(text, message):
    assert str(rejected(text)) == message


def test_refusal_column_points_at_the_construct():
    assert rejected("x + y.z").col == 4
    assert rejected("x + double(*y)").col == 11
    assert rejected("x + (y := 1)").col == 5


def test_syntax_error():
    assert str(rejected("x +")) == "syntax error in expression: invalid syntax"
    error = rejected("x + y)")
    assert (str(error), error.col) == ("syntax error in expression: unmatched ')'", 5)


def test_statements_are_syntax_errors():
    assert str(rejected("import os")) == "syntax error in expression: invalid syntax"
    assert str(rejected("x = 1")) == "syntax error in expression: invalid syntax"


def test_non_expression_source():
    with pytest.raises(ExprError) as info:
        compile_expr(None, NS)
    assert str(info.value) == "expected an expression, got NoneType"
    with pytest.raises(ExprError) as info:
        compile_expr([1], NS)
    assert str(info.value) == "expected an expression, got list"


def test_deep_nesting_is_an_expression_error():
    assert str(rejected("x" + " + 1" * 600)) == "expression longer than 2000 characters"
    assert str(rejected("-" * 100000 + "1")) == "expression longer than 2000 characters"
    assert str(rejected("x" + " + 1" * 60)) == "expression nested too deeply (more than 40 levels)"
