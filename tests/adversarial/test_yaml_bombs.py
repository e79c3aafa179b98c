"""YAML alias bombs ("billion laughs") and their kin are refused fast, in bounded memory."""

import time

import pytest

from .conftest import assert_input_error, mmsem

MEMORY = 512 << 20  # address space of the whole mmsem process


def laughs(levels: int, key: str) -> str:
    """Nine aliases per level: 9**levels values once expanded (9**9 = 387 million)."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    lines.append(f"{key}: *l{levels - 1}")
    return "\n".join(lines) + "\n"


def test_alias_bomb_in_a_trace(tmp_path):
    trace = tmp_path / "bomb.yaml"
    trace.write_text(laughs(9, "steps"))
    started = time.monotonic()
    result = mmsem("run", trace, memory=MEMORY, timeout=60)
    assert time.monotonic() - started < 30
    # where the 200,001st value was built: in the first list, reached through the aliases
    assert_input_error(result, f"{trace}:1:50: document too large: more than 200000 values (alias expansion?)")


def test_alias_bomb_in_a_spec_file(spec_copy):
    path = spec_copy / "syscalls" / "munlockall.yaml"
    path.write_text(path.read_text() + laughs(9, "bomb"))
    started = time.monotonic()
    result = mmsem("check-spec", spec_copy, memory=MEMORY, timeout=60)
    assert time.monotonic() - started < 60
    first = len(path.read_text().splitlines()) - 9  # the line l0: of the bomb
    assert_input_error(result, f"{path}:{first}:25: document too large: more than 200000 values "
                               "(alias expansion?)")


@pytest.mark.parametrize("text, line", [
    ("steps: !!python/object/apply:os.system [touch /tmp/mmsem-pwned]\n",
     "1:8: unsupported YAML tag tag:yaml.org,2002:python/object/apply:os.system"),
    ("steps: !!python/name:os.system\n", "1:8: unsupported YAML tag tag:yaml.org,2002:python/name:os.system"),
    ("steps: !!set {a, b}\n", "1:8: unsupported YAML tag tag:yaml.org,2002:set"),
    ("steps: &a [*a]\n", "1:8: nesting deeper than 64 levels"),  # a list that holds itself
    ("a: &a {<<: *a}\nsteps: []\n", "1:8: merge keys ('<<') are not supported"),
    ("steps: 0x" + "f" * 5000 + "\n", "1:8: integer literal longer than 100 characters"),
])
def test_yaml_tricks_in_a_trace(tmp_path, text, line):
    trace = tmp_path / "t.yaml"
    trace.write_text(text)
    assert_input_error(mmsem("run", trace, memory=MEMORY), f"{trace}:{line}")
