"""Spec expressions reach nothing but numbers, the names of the namespace and the
whitelisted functions: no attributes, dunders, imports, calls of anything else, and
no operation that could build a huge value."""

import pytest

from .conftest import assert_input_error, mmsem

WHEN = "when: flags & ~valid_flags('mlock2')"  # mlock2.yaml, line 24; the expression starts at column 11
WHERE = "syscalls/mlock2.yaml:24:11: in when of step unknown-flags: "


def with_expression(spec_copy, expression: str):
    path = spec_copy / "syscalls" / "mlock2.yaml"
    text = path.read_text()
    assert text.count(WHEN) == 1 and text.splitlines()[23].strip() == WHEN
    quoted = '"' + expression.replace("\\", "\\\\").replace('"', '\\"') + '"'
    path.write_text(text.replace(WHEN, f"when: {quoted}"))


@pytest.mark.parametrize("expression, message", [
    # attributes and dunders
    ("flags.__class__", "Attribute is not allowed in spec expressions"),
    ("valid_flags.__globals__", "Attribute is not allowed in spec expressions"),
    ("().__class__.__base__.__subclasses__()", "only named functions can be called"),
    ("flags.bit_length()", "only named functions can be called"),
    ("flags[0]", "Subscript is not allowed in spec expressions"),
    # imports and builtins
    ("__import__('os').system('id')", "only named functions can be called"),
    ("__import__('os')", "unknown function '__import__'"),
    ("open('/etc/passwd')", "unknown function 'open'"),
    ("eval('1')", "unknown function 'eval'"),
    ("getattr(flags, 'real')", "unknown function 'getattr'"),
    ("__builtins__", "unknown name '__builtins__'"),
    # calls outside the whitelist, or the whitelist misused
    ("(lambda: 1)()", "only named functions can be called"),
    ("valid_flags('mlock2', 'x')", "valid_flags() takes 1 argument(s), got 2"),
    # other syntax
    ("(y := 1)", "NamedExpr is not allowed in spec expressions"),
    ("f'{flags}'", "JoinedStr is not allowed in spec expressions"),
    ("{flags for x in (1,)}", "SetComp is not allowed in spec expressions"),
    # values that could grow without bound
    ("'a' * 10**9", "operator Mult needs a number, not a string"),
    ("(1,) * 999999999", "operator Mult needs a number, not a tuple"),
    ("flags ** 99999", "operator Pow is not allowed"),
    ("flags // 0", "division by zero"),
])
def test_expression_escapes_are_refused(spec_copy, expression, message):
    with_expression(spec_copy, expression)
    assert_input_error(mmsem("check-spec", spec_copy), f"{spec_copy}/{WHERE}{message}")


def test_division_by_zero_when_running_is_a_spec_error(spec_copy):
    # Not a constant zero, so only the run meets it: still a one-line error, at the expression.
    from mmsem.semantics.engine import Engine
    from mmsem.semantics.runner import run_engine
    from mmsem.semantics.trace import parse_trace
    from mmsem.spec.loader import load_spec
    from mmsem.spec.source import InputError

    with_expression(spec_copy, "flags % (flags - flags)")
    spec = load_spec(spec_copy)
    trace = parse_trace("steps:\n  - mlock2: {addr: 0, len: 1p, flags: []}\n", "t.yaml", spec)
    with pytest.raises(InputError) as caught:
        run_engine(trace, Engine(spec))
    assert str(caught.value) == f"{spec_copy}/{WHERE}modulo by zero"


@pytest.mark.parametrize("expression, message", [
    ("(" * 5000 + "flags" + ")" * 5000, "expression longer than 2000 characters"),
    ("(" * 900 + "flags" + ")" * 900, "syntax error in expression: too many nested parentheses"),
    ("-" * 1900 + "flags", "expression nested too deeply (more than 40 levels)"),
    ("not " * 450 + "flags", "expression nested too deeply (more than 40 levels)"),
    ("flags + " * 240 + "flags", "expression nested too deeply (more than 40 levels)"),
])
def test_very_deep_expression(spec_copy, expression, message):
    with_expression(spec_copy, expression)
    assert_input_error(mmsem("check-spec", spec_copy), f"{spec_copy}/{WHERE}{message}")
