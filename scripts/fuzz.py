#!/usr/bin/env python3
"""Adversarial input campaign: every input reader of mmsem against generated bad input.

    python3 scripts/fuzz.py --inputs N [--target NAME ...] [--seed S] [--jobs J] [--out DIR] [--status FILE]
    python3 scripts/fuzz.py --target NAME --seed S --replay NUMBER     # a generated input, with its traceback
    python3 scripts/fuzz.py --target NAME --replay-case DIR/FILE.case  # a saved input, with its traceback

Targets (``--list``): ``roff`` (the man page reader and parser: parse_text, read_page on
plain, gzip and latin-1 files in a scratch manual tree with ``.so`` includes and links),
``spec`` (load_spec and the check-spec compilation on a spec copy with one file changed),
``trace`` (parse_trace, then the engine run that ``mmsem run`` does), ``expr`` (the
expression compiler and interpreter over the namespace programs compile with), and
``patch`` (the patch reader, applier and reviewer of ``mmsem lint-patch``).

Hypothesis draws every input (phase "generate" only: a campaign counts its failures and
goes on rather than stopping at the first to shrink it). Three draws in four are a number
that seeds the target's structure-aware generator, which makes structured-but-wrong input
on purpose (real pages, spec files and example traces mutated; valid YAML with wrong
types, keys and values, deep nesting, huge numbers, unicode and control characters, alias
bombs; roff with unbalanced macros, recursive .de/.ds, odd escapes, huge lines, .so out of
the tree; expressions with attributes, dunders, lambdas, comprehensions, calls outside the
whitelist; mails with lying hunk headers and odd encodings); the fourth is hypothesis's own
bytes or text, strung from pieces of the target's syntax. The output is a table per
target: inputs tried, failures, distinct defects (exception type and innermost mmsem
frame), command-line runs, time.

The only accepted failure is the documented one: InputError, whose text must be one
line (for expressions, the ExprError that the loader turns into an InputError). Anything
else, a time-out (--timeout, default 5 s per input) or running out of the memory bound
(--memory, default 2 GiB per worker) is a failure; its input is saved under --out with a
note that says how to replay it. One input in --cli-every also goes through the real
command line (``mmsem check-spec``, ``mmsem run``, ``mmsem lint``, ``mmsem lint-patch``),
which must exit 0, 1 or 2 without a traceback, its errors one positioned line each.
tests/adversarial/test_campaign.py runs a bounded campaign in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gzip
import multiprocessing
import os
import pickle
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path("fuzz-failures")
#: Largest line the byte-level mutations make by repetition (a MemoryError in the
#: generator once stopped a patch campaign at 95,000 inputs).
MAX_GENERATED = 4 << 20
#: One input in this many also goes through the command line (a subprocess, ~1 s).
CLI_EVERY = 2000

# -- shared generators -------------------------------------------------------------------

NASTY_CHARS = ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\r", "\x1b", "\x7f", "\x85", "\xa0", "\u200b",
               "\u200e", "\u202e", "\u2028", "\u2029", "\ufeff", "\ufffd", "\uffff", "\U0001f600", "\U0010ffff",
               "e\u0301", "\u0130", "\u017f", "\uff58", "\u0661", "\t", "\\", "\"", "'", "%", "{", "}", "[", "]",
               "&", "*", "!", "|", ">", "#", ":", "-", "?", ",", "@", "`"]


def nasty_int(rng: random.Random) -> int:
    choice = rng.randrange(10)
    if choice == 0:
        return rng.choice([0, 1, -1, 2, 4095, 4096, 4097, (1 << 21)])
    if choice == 1:
        return rng.choice([(1 << 31) - 1, 1 << 31, (1 << 32) - 1, 1 << 32, (1 << 63) - 1, 1 << 63,
                           (1 << 64) - 1, 1 << 64, (1 << 64) + 1, -(1 << 63), -(1 << 64)])
    if choice == 2:
        return rng.choice([10 ** 19, 10 ** 30, 10 ** 100, 10 ** 400, -(10 ** 60)])
    if choice == 3:  # longer ones (beyond str()'s 4300 digits) only appear as text: see YAML_SNIPPETS
        return int("9" * rng.choice([50, 1000, 4299]))
    if choice == 4:
        return rng.randrange(-(1 << 70), 1 << 70)
    return rng.randrange(0, 1 << rng.choice([4, 8, 12, 16, 32, 48, 64]))


def nasty_text(rng: random.Random, size: int | None = None) -> str:
    """A short (or, rarely, huge) string of odd characters: unicode, controls, quotes, YAML syntax."""
    if size is None:
        size = rng.choice([0, 1, 2, 5, 10, 40]) if rng.random() < 0.97 else rng.choice([10 ** 3, 10 ** 4, 10 ** 5])
    if size > 1000:
        return rng.choice(NASTY_CHARS + ["a", " "]) * size
    parts = []
    for _ in range(size):
        r = rng.random()
        if r < 0.4:
            parts.append(rng.choice(NASTY_CHARS))
        elif r < 0.8:
            parts.append(chr(rng.randrange(32, 127)))
        else:
            parts.append(chr(rng.choice([rng.randrange(0x80, 0x800), rng.randrange(0x800, 0xD800),
                                         rng.randrange(0xE000, 0x110000)])))
    return "".join(parts)


def random_bytes(rng: random.Random) -> bytes:
    size = rng.choice([0, 1, 3, 16, 100, 1000, 5000])
    return bytes(rng.randrange(256) for _ in range(size))


def yaml_safe_text(text: str) -> str:
    """Text that a YAML file can hold (no lone surrogates)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def deep_value(rng: random.Random):
    depth = rng.choice([30, 63, 64, 65, 100, 300])  # deeper ones as text: see YAML_SNIPPETS
    value = rng.choice([1, "x", None, [], {}])
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {"k": value}
    return value


def nasty_value(rng: random.Random, near=None):
    """A value of any YAML-loadable type, mostly the wrong one for where it goes."""
    choice = rng.randrange(14)
    if choice == 0:
        return nasty_int(rng)
    if choice == 1:
        return yaml_safe_text(nasty_text(rng))
    if choice == 2:
        return rng.choice([True, False, None])
    if choice == 3:
        return [nasty_value(rng) for _ in range(rng.randrange(4))]
    if choice == 4:
        return {yaml_safe_text(nasty_text(rng, 3)): nasty_value(rng) for _ in range(rng.randrange(3))}
    if choice == 5:
        return deep_value(rng)
    if choice == 6:
        return list(range(rng.choice([100, 1000, 10_000])))  # more values: alias bombs in YAML_SNIPPETS
    if choice == 7:
        return rng.choice(["", " ", "0", "-1", "0x", "1e5", "5.10", "6.18", "4.3", "nommu-6.18", "unlimited",
                           "ok", "~", "null", "true", "yes", "NaN", ".inf", "1:0:0", "0b101", "0o17", "1_000"])
    if choice == 8 and isinstance(near, str):
        return mutate_name(rng, near)
    if choice == 9 and isinstance(near, int) and not isinstance(near, bool):
        return rng.choice([near + 1, near - 1, -near, near << 64, str(near)])
    if choice == 10 and isinstance(near, (list, dict)):
        return [near] if rng.random() < 0.5 else {"x": near}
    if choice == 11 and isinstance(near, list) and near:
        return near[0]
    return nasty_int(rng) if rng.random() < 0.5 else yaml_safe_text(nasty_text(rng))


def mutate_name(rng: random.Random, name: str) -> str:
    """A near miss of a name: case, typo, affix, homoglyph, control character."""
    if not name:
        return rng.choice(["x", " ", "\t"])
    choice = rng.randrange(8)
    i = rng.randrange(len(name))
    if choice == 0:
        return name.lower() if name != name.lower() else name.upper()
    if choice == 1:
        return name[:i] + name[i + 1:]
    if choice == 2:
        return name[:i] + rng.choice("aeiouxyz_0") + name[i:]
    if choice == 3:
        return name + rng.choice(["_", "2", " ", "\u200b", "\x00", "\n", "s"])
    if choice == 4:
        return rng.choice([" ", "_", "-", "\ufeff"]) + name
    if choice == 5:
        return name.replace("A", "\u0391").replace("O", "0").replace("l", "1")
    if choice == 6:
        return name * rng.choice([2, 100])
    return name[:i] + rng.choice(NASTY_CHARS) + name[i:]


def paths_of(data, prefix=()):
    """Every (pointer, value) of a loaded YAML document, the root first."""
    out = [(prefix, data)]
    stack = [(prefix, data)]
    while stack:
        pointer, value = stack.pop()
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, child in items:
            out.append((pointer + (key,), child))
            if isinstance(child, (dict, list)):
                stack.append((pointer + (key,), child))
    return out


def get_at(data, pointer):
    for key in pointer:
        data = data[key]
    return data


def mutate_data(rng: random.Random, data, replacements=None, rounds: int | None = None):
    """Apply a few structural mutations to a copy of a YAML document.

    `replacements(rng, pointer, value)` may return a domain-aware replacement (a near
    flag name, an expression...) or None.
    """
    data = copy.deepcopy(data)
    for _ in range(rounds or rng.choice([1, 1, 1, 2, 3])):
        entries = paths_of(data)
        pointer, value = rng.choice(entries)
        op = rng.randrange(10)
        if not pointer:
            if op < 3:
                data = nasty_value(rng, data)
            continue
        parent = get_at(data, pointer[:-1])
        key = pointer[-1]
        if op <= 2 and replacements is not None:
            new = replacements(rng, pointer, value)
            parent[key] = new if new is not None else nasty_value(rng, value)
        elif op <= 4:
            parent[key] = nasty_value(rng, value)
        elif op == 5:
            if isinstance(parent, dict):
                del parent[key]
            elif parent:
                parent.pop(key)
        elif op == 6 and isinstance(parent, dict):
            new_key = mutate_name(rng, str(key)) if rng.random() < 0.7 else yaml_safe_text(nasty_text(rng, 4))
            if rng.random() < 0.5:
                parent[new_key] = parent.pop(key)
            else:
                parent[new_key] = nasty_value(rng, value)
        elif op == 6:
            parent.insert(key, copy.deepcopy(value))
        elif op == 7 and isinstance(value, list) and value:
            rng.shuffle(value)
            value.extend(copy.deepcopy(value[: rng.randrange(len(value) + 1)]))
        elif op == 8 and isinstance(value, dict):
            for k in list(value)[: rng.randrange(len(value) + 1)]:
                del value[k]
        else:
            parent[key] = [value] if rng.random() < 0.5 else {str(key): value}
    return data


def _loadable(data) -> bool:
    """Whether the YAML loader could have built this (spec/source.py's depth and size bounds),
    so that handing it to later stages directly tests nothing they cannot meet."""
    count, stack = 0, [(data, 0)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if depth > 64 or count > 200_000:
            return False
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return True


def dump_yaml(rng: random.Random, data) -> bytes:
    """YAML text of a document, in a random but faithful style."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    try:
        text = yaml.dump(data, Dumper=dumper, allow_unicode=rng.random() < 0.5, sort_keys=False,
                         default_flow_style=rng.choice([False, None, True]), width=rng.choice([80, 10 ** 6]))
    except (yaml.YAMLError, RecursionError, ValueError):  # ints beyond str(): write them by hand
        text = repr(data)
    return text.encode("utf-8", "surrogatepass")


YAML_SNIPPETS = [
    # alias bombs ("billion laughs"), merge keys, anchors, tags, odd scalars and directives
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e]\n",
    "base: &base {x: 1}\nother:\n  <<: *base\n",
    "x: !!python/object/apply:os.system [echo pwned]\n",
    "x: !!python/name:os.system\n",
    "x: !!binary aGVsbG8=\n", "x: !!set {a, b}\n", "x: !!omap [a: 1]\n", "x: !!float 1.5\n",
    "x: !!timestamp 2001-12-14\n", "x: !custom 1\n", "x: !!str\n", "? [a, b]\n: c\n", "? {a: 1}\n: c\n",
    "%YAML 1.1\n---\nx: 1\n", "---\na: 1\n---\nb: 2\n", "x: 1\nx: 2\n", "x: 1:0:0:0:0:0:0:0:0:0\n",
    "x: 0x" + "f" * 5000 + "\n", "x: " + "9" * 5000 + "\n", "x: -0b" + "1" * 200 + "\n", "x: .nan\n", "x: 1e400\n",
    "x: '\\u0000'\n", "x: \"\\0\\x01\\e\\N\\_\\L\\P\"\n", "x: \"\\uD800\"\n", "\ufeffx: 1\n", "x:\t1\n", "\tx: 1\n",
    "x: *undefined\n", "x: &a\n  - *a\n", "x: [" * 3000 + "]" * 3000 + "\n", "x: {" * 500 + "}" * 500 + "\n",
    "- " * 200 + "x\n", "x: |\n  literal\n   block\n", "x: >-\n  folded\n", "x: 'unclosed\n", "x: \"unclosed\n",
    "'key with ''quotes''': v\n", "null: 1\n~: 2\n", "true: 1\n", "1: 2\n2.5: 3\n", "[1, 2]: x\n",
    "x: " + "a" * 100_000 + "\n",
]


def mutate_text(rng: random.Random, raw: bytes) -> bytes:
    """Byte- and line-level damage to a text file."""
    for _ in range(rng.choice([1, 1, 2, 3])):
        lines = raw.split(b"\n")
        op = rng.randrange(12)
        i = rng.randrange(len(lines) + 1)
        if op == 0 and raw:
            pos = rng.randrange(len(raw))
            raw = raw[:pos] + bytes([rng.randrange(256)]) + raw[pos + 1:]
        elif op == 1:
            raw = raw[: rng.randrange(len(raw) + 1)]
        elif op == 2 and lines:
            del lines[min(i, len(lines) - 1)]
            raw = b"\n".join(lines)
        elif op == 3 and lines:
            lines.insert(i, lines[rng.randrange(len(lines))])
            raw = b"\n".join(lines)
        elif op == 4:
            lines.insert(i, rng.choice(YAML_SNIPPETS).encode("utf-8", "surrogatepass").rstrip(b"\n"))
            raw = b"\n".join(lines)
        elif op == 5:
            pos = rng.randrange(len(raw) + 1)
            raw = raw[:pos] + nasty_text(rng).encode("utf-8", "surrogatepass") + raw[pos:]
        elif op == 6:
            pos = rng.randrange(len(raw) + 1)
            raw = raw[:pos] + random_bytes(rng)[:50] + raw[pos:]
        elif op == 7 and lines:
            j = min(i, len(lines) - 1)
            lines[j] = rng.choice([b"\t", b"  ", b" ", b"    "]) + lines[j]
            raw = b"\n".join(lines)
        elif op == 8:
            raw = rng.choice([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"---\n", b"%TAG ! tag:x,2000:\n"]) + raw
        elif op == 9:
            raw = raw.replace(b"\n", rng.choice([b"\r\n", b"\r", b"\n\n", b"\x85"]))
        elif op == 10 and lines:
            j = min(i, len(lines) - 1)
            times = rng.choice([2, 50, 5000])
            if len(lines[j]) * times <= MAX_GENERATED:  # the generator must not exhaust the worker itself
                lines[j] = lines[j] * times
                raw = b"\n".join(lines)
        else:
            raw = rng.choice(YAML_SNIPPETS).encode("utf-8", "surrogatepass")
    return raw


# -- expressions ---------------------------------------------------------------------------

BAD_NAMES = ["__import__", "__builtins__", "__class__", "__dict__", "os", "sys", "open", "eval", "exec", "compile",
             "getattr", "setattr", "globals", "locals", "vars", "type", "object", "print", "input", "breakpoint",
             "None", "Ellipsis", "NotImplemented", "_", "self", "ctx", "env", "id", "len", "range", "chr", "dir",
             "help", "exit", "quit", "memoryview", "bytearray", "super", "__loader__", "__spec__"]
PY_BINOPS = ["+", "-", "*", "//", "%", "<<", ">>", "|", "&", "^", "/", "**", "@"]
PY_COMPARE = ["<", "<=", "==", "!=", ">", ">=", "in", "not in", "is", "is not"]


@dataclass
class ExprVocabulary:
    """The names a spec expression can use, and the functions with their arity."""

    locals: list
    constants: list
    traits: list
    state: list
    functions: dict  # name -> (arity, literal kinds)
    flags: list
    flagsets: list


def gen_expr(rng: random.Random, voc: ExprVocabulary, depth: int = 4) -> str:
    """One expression; mostly grammatical, often outside the whitelist."""
    if depth <= 0 or rng.random() < 0.25:
        return _expr_leaf(rng, voc)
    sub = lambda: gen_expr(rng, voc, depth - 1)  # noqa: E731
    choice = rng.randrange(26)
    if choice < 6:
        return f"{sub()} {rng.choice(PY_BINOPS[:10] if rng.random() < 0.8 else PY_BINOPS)} {sub()}"
    if choice < 8:
        return f"{rng.choice(['-', '~', 'not ', '+'])}{sub()}"
    if choice < 10:
        ops = PY_COMPARE[:6] if rng.random() < 0.7 else PY_COMPARE
        return " ".join([sub()] + [f"{rng.choice(ops)} {sub()}" for _ in range(rng.choice([1, 1, 2]))])
    if choice < 11:
        return f" {rng.choice(['and', 'or'])} ".join(sub() for _ in range(rng.choice([2, 3])))
    if choice < 12:
        return f"{sub()} if {sub()} else {sub()}"
    if choice < 13:
        return f"({sub()}, {sub()})" if rng.random() < 0.7 else rng.choice(["()", f"({sub()},)"])
    if choice < 14:
        return f"({sub()})"
    if choice < 17:  # a whitelisted function, with good or bad arguments
        name = rng.choice(sorted(voc.functions)) if voc.functions else "f"
        arity, kinds = voc.functions.get(name, (1, ()))
        count = arity if rng.random() < 0.8 else rng.choice([0, arity + 1, max(arity - 1, 0)])
        args = []
        for i in range(count):
            kind = kinds[i] if i < len(kinds) else None
            if kind == "flag" and rng.random() < 0.8:
                args.append(repr(rng.choice(voc.flags) if rng.random() < 0.8 else mutate_name(rng, "MAP_FIXED")))
            elif kind == "flagset" and rng.random() < 0.8:
                args.append(repr(rng.choice(voc.flagsets) if rng.random() < 0.8 else nasty_text(rng, 3)))
            else:
                args.append(sub())
        if rng.random() < 0.1:
            args.append(f"{rng.choice(['x', 'key'])}={sub()}")
        if rng.random() < 0.05:
            args.append(f"*{sub()}")
        return f"{name}({', '.join(args)})"
    if choice < 18:  # outside the whitelist: calls, attributes, subscripts
        return rng.choice([
            f"{rng.choice(BAD_NAMES)}({sub()})", "__import__('os').system('id')", f"{sub()}.__class__",
            f"{sub()}.__class__.__mro__[-1].__subclasses__()", "().__class__.__base__.__subclasses__()",
            f"{sub()}[{sub()}]", f"{sub()}[1:2]", f"({sub()}).real", f"{rng.choice(voc.locals or ['x'])}.bit_length()",
            "open('/etc/passwd').read()", "getattr(x, '__class__')", "(lambda: 1)()", "[].append(1)",
            f"{rng.choice(sorted(voc.functions) or ['f'])}.__globals__", "ctx.mm", "env['x']",
        ])
    if choice < 19:  # other syntax
        return rng.choice([
            f"lambda: {sub()}", f"lambda x: {sub()}", f"[{sub()} for x in ({sub()},)]", f"{{{sub()} for x in y}}",
            f"{{x: {sub()} for x in y}}", f"({sub()} for x in y)", f"[{sub()}]", f"{{{sub()}}}", f"{{{sub()}: 1}}",
            f"f'{{{sub()}}}'", f"(y := {sub()})", f"*{sub()}", f"await {sub()}", f"yield {sub()}", "...",
            f"{sub()} if {sub()}", f"{sub()};{sub()}", "import os", f"{sub()} = 1", f"del {sub()}",
            f"b'{nasty_text(rng, 3)}'", "1j", "1.5", "1e400", "0o777", "0b101", "1_000", "'%999999999d' % 1",
            "'a' * 99999999999", "(1,) * 999999999", "'%s' * x", "'x' + 'y'", "(1, 2) + (3,)",
        ])
    if choice < 21:  # deep or long
        n = rng.choice([10, 39, 40, 41, 100, 1000, 20000])
        inner = _expr_leaf(rng, voc)
        return rng.choice([
            "(" * n + inner + ")" * n, "not " * n + inner, "-" * n + inner, "~" * n + inner,
            " + ".join([inner] * n), " if ".join([inner] * n) + (" else 1" * (n - 1)),
            "f(" * n + ")" * n, "[" * n + "]" * n, inner + " < " + " < ".join([inner] * n),
        ])
    if choice < 22:  # huge numbers, shifts
        return rng.choice([
            f"1 << {nasty_int(rng)}", f"{sub()} >> {rng.choice(['-1', '-(1<<70)', '10**9', '64', '999999'])}",
            f"{sub()} // 0", f"{sub()} % 0", f"{sub()} // ({sub()} - {sub()})", "9" * rng.choice([100, 1999, 5000]),
            f"{nasty_int(rng)} * {nasty_int(rng)}", "10 ** 10 ** 10", f"~{nasty_int(rng)}", f"-{nasty_int(rng)}",
            "0x" + "f" * rng.choice([16, 17, 600]),
        ])
    if choice < 23:
        return "".join(rng.choice(["x", "(", ")", " ", "+", "'", '"', "\\", ",", "1", ":", "[", "]", "\n", ".",
                                   "\x00", "#", "=", "\u00e9", "if", "else", "lambda", "__"])
                       for _ in range(rng.randrange(1, 30)))
    return f"{sub()} {rng.choice(['and', 'or', '|', '&', '+'])} {sub()}"


def _expr_leaf(rng: random.Random, voc: ExprVocabulary) -> str:
    r = rng.randrange(14)
    if r < 3 and voc.locals:
        return rng.choice(voc.locals)
    if r < 5 and voc.constants:
        return rng.choice(voc.constants)
    if r < 6 and voc.traits:
        return rng.choice(voc.traits)
    if r < 7 and voc.state:
        return rng.choice(voc.state)
    if r < 9:
        return str(rng.choice([0, 1, 2, 12, 4096, 0xFFF, -1])) if rng.random() < 0.6 else hex(abs(nasty_int(rng)))
    if r < 10:
        return rng.choice(BAD_NAMES)
    if r < 11:
        return repr(rng.choice(voc.flags + voc.flagsets + ["", "%s", "%999999d", "x" * 100]) if voc.flags else "a")
    if r < 12 and voc.functions:
        return rng.choice(sorted(voc.functions))  # a function named but not called
    if r < 13:
        return mutate_name(rng, rng.choice((voc.locals or ["x"]) + (voc.constants or ["C"])))
    return rng.choice(["True", "False", "None", "1.0", "'s'", "b'b'", "..."])


# -- traces ----------------------------------------------------------------------------------

QUANTITY_WORDS = ["SIZE_MAX", "ULONG_MAX", "TASK_SIZE", "PAGE_SIZE", "HPAGE_SIZE", "A", "B", "X", "main", "child"]


def gen_quantity(rng: random.Random, names: list):
    """A size or address as a trace writes it: terms with units and names, or something close."""
    if rng.random() < 0.15:
        return nasty_value(rng)
    if rng.random() < 0.2:
        return nasty_int(rng) if rng.random() < 0.5 else rng.randrange(0, 1 << 24)
    terms = []
    for n in range(rng.choice([1, 1, 1, 2, 3, 8])):
        sign = "" if n == 0 and rng.random() < 0.9 else rng.choice(["+", "-", "+", "", "--", " + "])
        r = rng.random()
        if r < 0.4:
            unit = rng.choice(["p", "h", "", "", "k", "P", "pp"])
            digits = rng.choice([str(rng.randrange(0, 16)), str(abs(nasty_int(rng))), hex(rng.randrange(1 << 40)),
                                 "0x", "\u0661\u0662", "1" * rng.choice([20, 400, 5000]), "1_0", "0b11", "010",
                                 "00", "0x" + "f" * rng.choice([16, 17, 300])])
            terms.append(f"{sign}{digits}{unit}")
        elif r < 0.8:
            terms.append(f"{sign}{rng.choice(names + QUANTITY_WORDS if names else QUANTITY_WORDS)}")
        else:
            terms.append(f"{sign}{mutate_name(rng, rng.choice(QUANTITY_WORDS))}")
    return "".join(terms)


def gen_trace(rng: random.Random, spec, seeds: list) -> bytes:
    """A trace: a mutated example, a generated one, damaged text, or random bytes."""
    r = rng.random()
    if r < 0.05:
        return random_bytes(rng)
    if r < 0.45 and seeds:
        data = mutate_data(rng, rng.choice(seeds), lambda g, p, v: _trace_replacement(g, p, v, spec))
    else:
        data = _generated_trace(rng, spec)
    raw = dump_yaml(rng, data)
    if rng.random() < 0.2:
        raw = mutate_text(rng, raw)
    return raw


def _trace_replacement(rng, pointer, value, spec):
    key = pointer[-1]
    names = ["A", "B", "F"]
    if key in ("addr", "len", "new_addr", "old_len", "new_len", "size", "start", "offset", "vmlck", "ret"):
        return gen_quantity(rng, names)
    if key in ("flags", "prot", "advice"):
        return _gen_flags(rng, spec, None)
    if key in ("errno",):
        return rng.choice(sorted(spec.errnos) + ["EWHAT", "", "ENOMEM\n"])
    if key in ("kernel",):
        return rng.choice(sorted(spec.profiles) + ["5.10", "99.99", "", "nommu", "6.18.0", "x" * 100])
    if isinstance(value, str):
        return mutate_name(rng, value)
    return None


def _gen_flags(rng, spec, flagset):
    pool = [f.name for fs in spec.flagsets.values() for f in fs.flags]
    if flagset is not None and rng.random() < 0.7:
        pool = [f.name for f in flagset.flags] or pool
    r = rng.random()
    if r < 0.6:
        return [rng.choice(pool) for _ in range(rng.choice([0, 1, 1, 2, 3]))]
    if r < 0.75:
        return rng.choice(pool)
    if r < 0.85:
        return [nasty_int(rng)] if rng.random() < 0.5 else nasty_int(rng)
    return [mutate_name(rng, rng.choice(pool)), [rng.choice(pool)], None][rng.randrange(3)]


def _generated_trace(rng: random.Random, spec) -> dict:
    calls = sorted(spec.syscalls)
    names: list[str] = []
    files = {}
    for i in range(rng.choice([0, 0, 1, 2])):
        files[rng.choice(["F", "G", "H", "F2"])] = {"size": gen_quantity(rng, []),
                                                    **({"hugetlb": rng.random() < 0.5} if rng.random() < 0.3 else {})}
    steps = []
    for _ in range(rng.choice([0, 1, 2, 4, 8, 30])):
        call = rng.choice(calls) if rng.random() < 0.95 else mutate_name(rng, rng.choice(calls))
        entry = spec.syscalls.get(call)
        args = {}
        for arg in (entry.args if entry else ()):
            if rng.random() < 0.1:
                continue
            if arg.kind in ("addr", "size", "offset", "int"):
                args[arg.name] = gen_quantity(rng, names)
            elif arg.kind in ("flags", "prot"):
                args[arg.name] = _gen_flags(rng, spec, spec.flagsets.get(arg.flagset or "prot"))
            elif arg.kind == "fd":
                args[arg.name] = rng.choice(list(files) + [-1, 0, 3, 1 << 40, "NOFILE"])
            else:
                args[arg.name] = rng.choice([True, False, 1, "yes", None])
        if rng.random() < 0.1:
            args[mutate_name(rng, "addr")] = 1
        step = {call: args if rng.random() < 0.97 else nasty_value(rng)}
        if rng.random() < 0.4:
            name = rng.choice(["A", "B", "C", "child", "main", "A"]) if rng.random() < 0.9 else nasty_text(rng, 3)
            step["as"] = name
            names.append(str(name))
        if rng.random() < 0.1:
            step["proc"] = rng.choice(["main", "child", "child2", "nobody"])
        if rng.random() < 0.3:
            step["expect"] = rng.choice([{"ret": "ok"}, {"errno": rng.choice(sorted(spec.errnos))},
                                         {"signal": rng.choice(sorted(spec.signals) + ["SIGFOO"])},
                                         {"ret": gen_quantity(rng, names)}, {"ret": "ok", "errno": "ENOMEM"}])
        if rng.random() < 0.1:
            step["expect_state"] = _gen_state(rng, names)
        steps.append(step)
    trace = {"steps": steps}
    if rng.random() < 0.5:
        config = {}
        for key in ("kernel", "privileged", "rlimit_memlock", "max_map_count", "hugetlb_pages"):
            if rng.random() < 0.4:
                config[key] = {
                    "kernel": lambda: rng.choice(sorted(spec.profiles) + ["5.10", "1.0", "nommu-6.18"]),
                    "privileged": lambda: rng.choice([True, False, "no"]),
                    "rlimit_memlock": lambda: rng.choice(["unlimited", 0, gen_quantity(rng, [])]),
                    "max_map_count": lambda: rng.choice([0, 1, 3, 65530, nasty_int(rng)]),
                    "hugetlb_pages": lambda: rng.choice([0, 1, 2, nasty_int(rng)]),
                }[key]()
        trace["config"] = config
    if files:
        trace["files"] = files
    if rng.random() < 0.1:
        trace["expect_state"] = _gen_state(rng, names)
    if rng.random() < 0.1:
        trace[mutate_name(rng, "steps")] = []
    return trace


def _gen_state(rng, names):
    pages = {}
    for _ in range(rng.choice([1, 2])):
        first = gen_quantity(rng, names)
        key = f"{first}..{gen_quantity(rng, names)}" if rng.random() < 0.6 else first
        fields = {rng.choice(["locked", "onfault", "resident", "mapped", "shared", "prot", "dirty"]):
                  rng.choice([True, False, "rw-", "r--", 1]) for _ in range(rng.choice([1, 2]))}
        pages[str(key)] = fields
    state = {"pages": pages}
    if rng.random() < 0.3:
        state["vmlck"] = gen_quantity(rng, names)
    return state


# -- roff ------------------------------------------------------------------------------------

MAN_MACROS = ["TH", "SH", "SS", "PP", "P", "LP", "HP", "TP", "TQ", "IP", "RS", "RE", "nf", "fi", "EX", "EE", "TS",
              "TE", "T&", "UR", "UE", "MT", "ME", "MR", "SY", "YS", "OP", "B", "I", "BR", "IR", "RB", "RI", "BI", "IB",
              "SM", "SB", "br", "sp", "in", "ti", "ad", "na", "ne", "hy", "nh", "ft", "ps", "ll", "bp", "ce", "ta",
              "XX", "Dd", "Nm", "\\fB", "B\\"]
SECTIONS = ["NAME", "LIBRARY", "SYNOPSIS", "DESCRIPTION", "RETURN VALUE", "ERRORS", "VERSIONS", "STANDARDS",
            "HISTORY", "NOTES", "BUGS", "EXAMPLES", "SEE ALSO"]
ROFF_ESCAPES = ["\\fB", "\\fI", "\\fR", "\\fP", "\\f(CW", "\\f[BI]", "\\f[]", "\\f", "\\fX", "\\f[nonexistent]",
                "\\*(lq", "\\*[rq]", "\\*x", "\\*[undefined thing]", "\\*[", "\\*(", "\\n(.g", "\\n[.$]", "\\n+x",
                "\\n-[y]", "\\nx", "\\n[", "\\s-1", "\\s+2", "\\s'12'", "\\s(12", "\\s", "\\s'", "\\(em", "\\(",
                "\\[em]", "\\[u0041_0301]", "\\[u110000]", "\\[uD800]", "\\[uFFFFFFFFFFFFFFFFFFFF]", "\\[u]",
                "\\[char65]", "\\[char99999999999999999999]", "\\[", "\\[]", "\\C'em'", "\\C'", "\\w'abc'",
                "\\w'", "\\h'1n'", "\\h'", "\\o'ab'", "\\Z'x\\fBy'", "\\k", "\\kx", "\\g", "\\Y", "\\$1", "\\$*",
                "\\$@", "\\$(12", "\\$[100]", "\\c", "\\e", "\\\\", "\\&", "\\%", "\\-", "\\ ", "\\|", "\\^", "\\0",
                "\\t", "\\a", "\\E", "\\:", "\\{", "\\}", "\\\"", "\\#", "\\\n", "\\", "\\\x00", "\\\u00e9", "\\q",
                "\\D'l 1 1'", "\\X'ps: exec'", "\\V[HOME]", "\\R'x 1'", "\\!", "\\?", "\\z", "\\v'1'", "\\x'1'",
                "\\[char\u00b2]", "\\[char" + "9" * 5000 + "]", "\\$[" + "9" * 5000 + "]", "\\[u\u0661\u0662\u0663\u0664]",
                "\\n[" + "x" * 3000 + "]", "\\*[" + "\\*[" * 50 + "a" + "]" * 50 + "]"]
NR_EXPRESSIONS = ["1", "0", "-1", "1+2*3", "(((1)))", "1/0", "1%0", "\\n(.g", "\\nx*\\nx*\\nx*\\nx", "1e5",
                  "9" * 400, "1" + "0" * 4400, "(" * 3000 + "1" + ")" * 3000, "1" + "+1" * 5000, "(1", "1)",
                  "1<2", "2>=1", "1&0", "1:0", "\\w'abc'", "5u+2m", "--1", "+-+-1", ".5", "1.", "x", "",
                  "\\n[undefined]", "1<>2", "(1)(2)", "1==1", "\\nx*1000000000000"]
CONDITIONS = ["n", "t", "o", "e", "v", "!n", "!!t", "d TH", "d xx", "r .g", "r nope", "m red", "c x", "F B",
              "S x", "'a'a'", "'a'b'", "'\\*x'x'", "\\n(.g", "1", "0", "1+1>1", "(1", "'unterminated", "!",
              "(" * 3000 + "1" + ")" * 3000, "9" * 400, "\\nx", "d", ""]


def gen_roff_line(rng: random.Random, macros: list) -> str:
    """One line of roff: a man(7) macro, a roff request, a text line, or junk."""
    r = rng.random()
    words = lambda: " ".join(gen_roff_word(rng) for _ in range(rng.choice([0, 1, 2, 3, 5])))  # noqa: E731
    if r < 0.25:
        name = rng.choice(MAN_MACROS)
        if name in ("SH", "SS") and rng.random() < 0.6:
            return f".{name} {rng.choice(SECTIONS)}"
        return f"{rng.choice(['.', '.', '.', chr(39), '. ', '.  '])}{name} {words()}"
    if r < 0.4:
        return gen_roff_request(rng, macros)
    if r < 0.45:
        return rng.choice([".", "'", "..", ".\\\"", ".\\\" mmsem: ignore MM101", "'\\\"", ".\\}", "\\}", ".el",
                           ".ie", ".if", ".de", ".so", ".\\\\\\\"", ". \\\" comment", ".\t", '.""', ". \\{"])
    if r < 0.47:
        size = rng.choice([1000, 100_000, 1_000_000])
        unit = rng.choice(["a", "\\fB", "\\(em", "x ", "\\*(lq", "\\", "\\{", "\\n(.g", '"', "\t", "\\c"])
        return (unit * (size // len(unit)))[:size]
    if r < 0.49:
        return "".join(chr(rng.randrange(0, 0x110000)) if rng.random() < 0.3 else chr(rng.randrange(0, 128))
                       for _ in range(rng.randrange(1, 60)))
    if r < 0.5 and macros:
        return f".{rng.choice(macros)} {words()}"
    return words()


def gen_roff_word(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.45:
        return rng.choice(["mlock", "MAP_LOCKED", "ENOMEM", "EINVAL", "(2)", "Since", "Linux", "2.6.23", "the",
                           "pages", "len", "addr", "flags", ",", ".", "int", "void *addr", "*", "|", "EPERM"])
    if r < 0.75:
        return rng.choice(ROFF_ESCAPES) + (rng.choice(["x", "B", "", "1"]) if rng.random() < 0.5 else "")
    if r < 0.85:
        return '"' + gen_roff_word(rng) + rng.choice(['"', "", '""', '" x'])
    return nasty_text(rng, rng.choice([1, 3, 8]))


def gen_roff_request(rng: random.Random, macros: list) -> str:
    r = rng.randrange(14)
    name = rng.choice(["a", "b", "xx", "TH", "SH", "B", "lq", "x", "\\fB", "a b", "", "ENOMEM"])
    if r < 2:
        value = rng.choice(["text", "\\*[" + name + "]", "\\*" + name + "\\*" + name, '"quoted', "\\fBbold",
                            "\\$1", "\\n(.g", "x" * 10000, "\\*(lq\\*(rq", ""])
        return f".{rng.choice(['ds', 'as', 'ds1', 'as1'])} {name} {value}"
    if r < 4:
        return f".nr {name} {rng.choice(NR_EXPRESSIONS)}{rng.choice(['', ' 1', ' -1'])}"
    if r < 6:
        macros.append(name)
        body = rng.choice([f".{name}", f".{name}\n.{name}", ".B \\$1", "\\$*", ".TP\n\\$@", ".if n .{0}".format(name),
                           f".de {name}\n..", ".so man2/inc.2", "text \\$(12 \\$[100]", "..."])
        terminator = rng.choice(["..", "..", ".END", ""])
        return f".{rng.choice(['de', 'am', 'de1', 'am1'])} {name}{' END' if terminator == '.END' else ''}\n{body}\n{terminator}"
    if r < 8:
        body = rng.choice([".SH X", "text", "\\{", "\\{\\", "\\{.B x", "\\{ text\n.B y\n.\\}", "\\{\\{\n\\}",
                           ".ie n .B a\n.el .B b", "", ".so /etc/passwd"])
        return f".{rng.choice(['if', 'ie', 'el', 'if !'])} {rng.choice(CONDITIONS)} {body}"
    if r < 9:
        return rng.choice([".ig", ".ig END", ".ig\ntext\n..", ".ig ..\n.SH X"])
    if r < 10:
        return f".so {rng.choice(SO_TARGETS)}"
    if r < 11:
        return f".{rng.choice(['rm', 'rr', 'do', 'nop', 'cc', 'c2', 'ec', 'eo', 'dei', 'ami', 'tr', 'char'])} {name}"
    if r < 12:
        return f".TS\n{rng.choice(['tab(;);', 'l l.', 'allbox;', ''])}\n{rng.choice(['l l.', 'x;y', 'T{', 'T}'])}\n" \
               f"a;b\nT{{\ntext\nT}}\n{rng.choice(['.TE', '.T&', ''])}"
    if r < 13 and macros:
        return f".{rng.choice(macros)} " + ("\\$1" if rng.random() < 0.5 else "arg")
    return f".{rng.choice(['de', 'ds', 'nr', 'if', 'ie', 'so', 'am'])}"


SO_TARGETS = ["man2/inc.2", "man2/inc.2.gz", "man2/inc", "man7/other.7", "man2/loop.2", "man2/selfloop.2",
              "man2/chain0.2", "/etc/passwd", "../../../../etc/passwd", "man2/../../etc/passwd", "man2/escape.2",
              "man2/dirlink.2", "man2", "", "\"man2/inc.2\"", "man2/inc.2 \\\" comment", "man2/missing.2",
              "man2/a\x00b", "man2/" + "x" * 5000, "man2/latin1.2", "man2/bomb.2.gz", "man2/bad.2.gz", ".",
              "..", "man2/inc.2\\", "~root/x", "man2/dangling.2", "man2/dev.2"]


def gen_roff(rng: random.Random, seeds: list) -> str:
    """A page: generated, or a real page with generated damage."""
    macros: list[str] = []
    if seeds and rng.random() < 0.3:
        lines = rng.choice(seeds).split("\n")
        for _ in range(rng.choice([1, 2, 5, 20])):
            i = rng.randrange(len(lines) + 1)
            op = rng.randrange(4)
            if op == 0:
                lines.insert(i, gen_roff_line(rng, macros))
            elif op == 1 and lines:
                del lines[min(i, len(lines) - 1)]
            elif op == 2 and lines:
                lines.insert(i, lines[rng.randrange(len(lines))])
            elif lines:
                j = min(i, len(lines) - 1)
                pos = rng.randrange(len(lines[j]) + 1)
                lines[j] = lines[j][:pos] + gen_roff_word(rng) + lines[j][pos:]
        return "\n".join(lines)
    lines = []
    if rng.random() < 0.8:
        title = rng.choice(["MLOCK", "x", "", '"a b"'])
        lines.append(f".TH {title} {rng.choice(['2', '', '3', 'x'])} 2024")
    for _ in range(rng.choice([1, 3, 10, 30, 100])):
        if rng.random() < 0.15:
            lines.append(f".SH {rng.choice(SECTIONS)}")
        lines.append(gen_roff_line(rng, macros))
    sep = "\n" if rng.random() < 0.95 else rng.choice(["\r\n", "\\\n", "\n\n"])
    return sep.join(lines) + rng.choice(["\n", "", "\\", "\n\\"])


# -- targets -----------------------------------------------------------------------------------


class Skip(Exception):
    """The target cannot run here (a module that does not exist yet)."""


class Hang(BaseException):
    """An input ran past the time limit (raised by SIGALRM; not an Exception, so nothing swallows it)."""


@dataclass
class Case:
    """One generated input: the bytes saved when it fails, and how to deliver it."""

    data: bytes
    suffix: str = ".txt"
    meta: dict = field(default_factory=dict)


class Target:
    name = ""
    doc = ""

    def setup(self, workdir: Path) -> None:
        """Once per worker process."""

    #: Pieces hypothesis strings its own text inputs from (with any other character).
    alphabet: list = ["\n", " ", "\t", "\\", "\"", "'", "\x00", "\ufeff", "\u2028"]

    def generate(self, rng: random.Random) -> Case:
        raise NotImplementedError

    def case_from_bytes(self, data: bytes) -> Case:
        """A hypothesis-drawn input, delivered as the target reads a file."""
        return Case(data)

    def check(self, case: Case) -> None:
        """Run the input; return normally when the outcome is acceptable."""
        raise NotImplementedError

    def cli(self, case: Case, workdir: Path) -> list[str] | None:
        """A command line to run this input through (argv after ``mmsem``), or None."""
        return None

    def teardown(self) -> None:
        pass


def _input_errors():
    from mmsem.spec.source import InputError
    return (InputError,)


class RoffTarget(Target):
    name = "roff"
    doc = "man page reader and parser (parse_text, read_page; gzip, latin-1, .so, links)"

    def setup(self, workdir: Path) -> None:
        from mmsem.manpages import roff
        self.roff = roff
        self.root = workdir / "man"
        man2 = self.root / "man2"
        man2.mkdir(parents=True, exist_ok=True)
        (self.root / "man7").mkdir(exist_ok=True)
        outside = workdir / "outside.txt"
        outside.write_text(".SH SECRET\nsecret text\n")
        files = {
            "man2/inc.2": ".SH INCLUDED\nincluded text \\fBbold\\fR\n",
            "man7/other.7": ".TH OTHER 7\n.SH NAME\nother \\- page\n",
            "man2/loop.2": ".so man2/loop2.2\n", "man2/loop2.2": ".so man2/loop.2\n",
            "man2/selfloop.2": ".so man2/selfloop.2\n",
        }
        for k in range(12):
            files[f"man2/chain{k}.2"] = f".so man2/chain{k + 1}.2\n" if k < 11 else ".SH END\n"
        for rel, text in files.items():
            (self.root / rel).write_text(text)
        (man2 / "inc.2.gz").write_bytes(gzip.compress(b".SH GZ\ngzipped\n"))
        (man2 / "latin1.2").write_bytes(b".SH LATIN\ncaf\xe9 \xff\xfe\n")
        (man2 / "bomb.2.gz").write_bytes(gzip.compress(b"\n" * (17 << 20)))
        (man2 / "bad.2.gz").write_bytes(gzip.compress(b".SH X\n" * 100)[:-20])
        for link, target in (("escape.2", outside), ("dirlink.2", workdir), ("dangling.2", workdir / "nope"),
                             ("dev.2", "/dev/zero")):
            with contextlib.suppress(FileExistsError):
                os.symlink(target, man2 / link)
        self.page = man2 / "page.2"
        self.seeds = []
        for name in ("mmap", "mlock", "madvise", "mremap", "munmap", "mprotect", "brk"):
            path = Path(f"/usr/share/man/man2/{name}.2.gz")
            if path.exists():
                self.seeds.append(gzip.decompress(path.read_bytes()).decode("utf-8", "replace"))

    alphabet = Target.alphabet + ["\\f", "\\n", "\\*", "\\$", "\\(", "\\[", "]", "(", "\\{", "\\}",
                                  "\n.", ".de ", ".so ", ".if ", ".ie ", ".el ", ".nr ", ".ds ", ".am ", "..", ".ig",
                                  ".TH ", ".SH ", ".TP", ".B ", ".BR ", ".TS", ".TE", "\\\"", "1", "x", "B", "+", "-"]

    def case_from_bytes(self, data: bytes) -> Case:
        return Case(data, ".2", {"mode": "file"})

    def generate(self, rng: random.Random) -> Case:
        if rng.random() < 0.03:
            return Case(random_bytes(rng), ".2", {"mode": rng.choice(["file", "gzip"])})
        text = gen_roff(rng, self.seeds)
        mode = rng.choice(["text", "text", "file", "gzip", "latin1", "link"])
        data = text.encode("utf-8", "surrogatepass")
        if mode == "latin1":
            data = text.encode("latin-1", "replace")
        return Case(data, ".2", {"mode": mode})

    def check(self, case: Case) -> None:
        mode = case.meta["mode"]
        for stale in (self.page, self.page.with_suffix(".2.gz"), self.root / "man2" / "link.2"):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        try:
            if mode == "text":
                doc = self.roff.parse_text(case.data.decode("utf-8", "surrogatepass"), str(self.page))
            else:
                path = self.page
                data = case.data
                if mode == "gzip":
                    path = self.page.with_suffix(".2.gz")
                    data = gzip.compress(data, compresslevel=1)
                path.write_bytes(data)
                if mode == "link":
                    os.symlink("page.2", self.root / "man2" / "link.2")
                    path = self.root / "man2" / "link.2"
                doc = self.roff.read_page(path)
        except _input_errors() as exc:
            _assert_one_line(str(exc))
            return
        for origin, message in doc.problems:
            if origin.line < 1 or origin.col < 1 or "\n" in message:
                raise AssertionError(f"problem with a bad position or message: {origin} {message!r}")

    def cli(self, case: Case, workdir: Path):
        path = workdir / "cli.2"
        path.write_bytes(case.data)
        return ["lint", str(path)]


class TraceTarget(Target):
    name = "trace"
    doc = "trace loader (parse_trace) and the engine run of `mmsem run`"

    def setup(self, workdir: Path) -> None:
        from mmsem.semantics.engine import Engine
        from mmsem.semantics.namespace import TraceError
        from mmsem.semantics.runner import mismatches, run_engine
        from mmsem.semantics.trace import parse_trace
        from mmsem.spec import default_spec
        self.spec = default_spec()
        self.engine = Engine(self.spec)
        self.parse_trace, self.run_engine, self.mismatches = parse_trace, run_engine, mismatches
        self.TraceError = TraceError
        self.seeds = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "examples").glob("*.yaml"))]

    alphabet = Target.alphabet + ["steps:", "\n- ", "mmap:", "munmap:", "mlock:", "madvise:", "mremap:", " addr: ",
                                  " len: ", " flags: ", "[", "]", "{", "}", ": ", "as: ", "A", "+", "p", "0x",
                                  "expect:", "expect_state:", "pages:", "..", "&a", "*a", "!!", "---", "#"]

    def case_from_bytes(self, data: bytes) -> Case:
        return Case(data, ".yaml")

    def generate(self, rng: random.Random) -> Case:
        return Case(gen_trace(rng, self.spec, self.seeds), ".yaml")

    def check(self, case: Case) -> None:
        try:
            text = case.data
            trace = self.parse_trace(text, "fuzz.yaml", self.spec)
            result = self.run_engine(trace, self.engine)
            for problem in self.mismatches(result):
                str(problem)
        except _input_errors() as exc:
            _assert_one_line(str(exc))

    def cli(self, case: Case, workdir: Path):
        path = workdir / "cli.yaml"
        path.write_bytes(case.data)
        return ["run", str(path)]


class ExprTarget(Target):
    """The interpreter itself: the namespace has the real names, arities and quoted-name
    checks, but its functions and state values are stubs that insist on getting numbers
    (what the interpreter promises them) rather than the engine's code, whose own
    preconditions on the state are not the interpreter's business."""

    name = "expr"
    doc = "expression compiler and interpreter (compile_expr over a program namespace)"

    def setup(self, workdir: Path) -> None:
        from types import SimpleNamespace

        from mmsem.semantics.expr import ExprError, Function, Namespace, compile_expr
        from mmsem.semantics.namespace import FUNCTIONS, STATE
        from mmsem.semantics.program import Compiler
        from mmsem.spec import default_spec
        spec = default_spec()
        self.compile_expr, self.ExprError = compile_expr, ExprError
        real = Compiler(spec).namespace(())

        def stub(function):
            def impl(ctx, *args):
                for i, arg in enumerate(args):
                    literal = i < len(function.literal_kinds) and function.literal_kinds[i] is not None
                    if literal != isinstance(arg, str) or not isinstance(arg, (int, str)):
                        raise AssertionError(f"{function.name}() got {arg!r} as argument {i + 1}")
                return sum(hash(a) & 0xFFFF for a in args)
            return Function(function.name, function.arity, impl, function.doc, function.literal_kinds)

        self.local_names = ["addr", "len", "flags", "start", "end", "prot", "fd", "pgoff", "x"]
        self.ns = Namespace(frozenset(self.local_names), real.constants, real.traits,
                            {name: (lambda ctx: 4096) for name in STATE},
                            {name: stub(f) for name, f in FUNCTIONS.items()}, real.literal_check)
        self.ctx = SimpleNamespace(traits=frozenset(list(spec.traits)[::2]))
        self.voc = ExprVocabulary(
            locals=self.local_names, constants=sorted(spec.constants), traits=sorted(spec.traits),
            state=sorted(STATE), functions={n: (f.arity, f.literal_kinds) for n, f in FUNCTIONS.items()},
            flags=sorted({f.name for fs in spec.flagsets.values() for f in fs.flags}), flagsets=sorted(spec.flagsets))

    alphabet = Target.alphabet + ["addr", "len", "flags", "x", "(", ")", ",", "+", "-", "*", "//", "%", "<<", ">>",
                                  "|", "&", "^", "~", " not ", " and ", " or ", " if ", " else ", " in ", "<", "==",
                                  ".", "__class__", "__", "lambda", "[", "]", "1", "0x", "4096", "'", "=",
                                  "page_align", "MAP_FIXED", "has("]

    def case_from_bytes(self, data: bytes) -> Case:
        source = data.decode("utf-8", "replace")
        envs = [{name: value for name in self.local_names} for value in (0, 4096, (1 << 64) - 1)]
        return Case(source.encode("utf-8"), ".expr", {"envs": envs})

    def generate(self, rng: random.Random) -> Case:
        if rng.random() < 0.02:
            source = random_bytes(rng).decode("latin-1")
        else:
            source = gen_expr(rng, self.voc, rng.choice([1, 2, 3, 4, 6]))
        # locals hold numbers, as arguments do; a let: may also have bound a string or tuple
        values = [0, 1, 4096, (1 << 64) - 1, -1, 1 << 63, rng.randrange(1 << 64)]
        if rng.random() < 0.1:
            values += ["a", (1, 2), "%999999999d"]
        envs = [{name: rng.choice(values) for name in self.local_names} for _ in range(3)]
        return Case(source.encode("utf-8", "surrogatepass"), ".expr", {"envs": envs})

    def check(self, case: Case) -> None:
        source = case.data.decode("utf-8", "surrogatepass")
        try:
            compiled = self.compile_expr(source, self.ns)
        except self.ExprError as exc:
            _assert_one_line(str(exc))
            return
        for env in case.meta["envs"]:
            try:
                compiled(dict(env), self.ctx)
            except self.ExprError as exc:
                _assert_one_line(str(exc))


class SpecTarget(Target):
    """One spec file changed per input; unchanged files are parsed once (memoised)."""

    name = "spec"
    doc = "spec loader (load_spec) and the check-spec compilation, one file changed per input"

    def setup(self, workdir: Path) -> None:
        from mmsem.semantics import specchecks
        from mmsem.spec import PACKAGE_DIR, default_spec, schemas, source
        self.specchecks, self.source_module, self.schemas = specchecks, source, schemas
        self.dir = workdir / "spec"
        if not self.dir.exists():
            shutil.copytree(PACKAGE_DIR, self.dir, ignore=shutil.ignore_patterns("__pycache__", "*.py", "schema"))
        self.files = sorted(str(p.relative_to(self.dir)) for p in self.dir.rglob("*.yaml"))
        self.originals = {rel: (self.dir / rel).read_bytes() for rel in self.files}
        self.data = {rel: yaml.safe_load(raw) for rel, raw in self.originals.items()}
        spec = default_spec()
        self.voc = ExprVocabulary(
            locals=["addr", "len", "flags", "start", "end", "prot"], constants=sorted(spec.constants),
            traits=sorted(spec.traits), state=[], functions={}, flags=[], flagsets=sorted(spec.flagsets))
        from mmsem.semantics.namespace import FUNCTIONS, STATE
        self.voc.state = sorted(STATE)
        self.voc.functions = {n: (f.arity, f.literal_kinds) for n, f in FUNCTIONS.items()}
        self.voc.flags = sorted({f.name for fs in spec.flagsets.values() for f in fs.flags})
        self.names = sorted(set(spec.constants) | set(spec.errnos) | set(spec.syscalls) | set(spec.flagsets))
        self.memo: dict = {}
        self.memo_ids: set = set()
        self.checked: dict = {}
        self.mutated_bytes = None
        self.mutated: dict = {}  # path -> Located built straight from mutated data
        self.real_load, self.real_loads, self.real_check = source.load, source.loads, schemas.check
        source.load, source.loads, schemas.check = self._load, self._loads, self._check
        self.real_properties = specchecks.load_properties
        specchecks.load_properties = self._properties
        self.catalogue = None  # (catalogue, errors) of the intact catalogue loaded without a spec

    def teardown(self) -> None:
        self.source_module.load, self.source_module.loads = self.real_load, self.real_loads
        self.schemas.check = self.real_check
        self.specchecks.load_properties = self.real_properties

    def _properties(self, folder, errors, spec):
        """Without a spec (the spec had defects) the catalogue depends on its own files only."""
        if spec is not None or self.touched.startswith("properties/"):
            return self.real_properties(folder, errors, spec)
        if self.catalogue is None:
            found: list = []
            self.catalogue = (self.real_properties(folder, found, None), found)
        errors.extend(self.catalogue[1])
        return self.catalogue[0]

    # Unchanged files (and witness traces) are parsed and schema-checked once: both are
    # pure functions of the text, and nothing downstream changes a Located (the CI test
    # checks that against fresh parses).
    def _loads(self, text, path="<string>"):
        key = (text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"), str(path))
        if key in self.memo:
            return self.memo[key]
        located = self.real_loads(text, path)
        if key[0] != self.mutated_bytes and len(self.memo) < 5000:
            self.memo[key] = located
            self.memo_ids.add(id(located))
        return located

    def _load(self, path):
        path = Path(path)
        if str(path) in self.mutated:
            return self.mutated[str(path)]
        try:
            raw = path.read_bytes() if path.is_file() and path.stat().st_size < (1 << 20) else None
        except OSError:
            raw = None
        if raw is None:
            return self.real_load(path)
        return self._loads(raw, str(path))

    def _check(self, located, name):
        key = (id(located), name)
        if key in self.checked:
            if self.checked[key] is not None:
                raise self.checked[key]
            return
        try:
            self.real_check(located, name)
            error = None
        except _input_errors() as exc:
            error = exc
        if id(located) in self.memo_ids:  # memoised Locateds live as long as the worker
            self.checked[key] = error
        if error is not None:
            raise error

    alphabet = Target.alphabet + ["\n  ", "- ", ": ", "name:", "when: ", "errno: ", "flags:", "args:", "[", "]",
                                  "{", "}", "&a", "*a", "<<: ", "!!", "---", "EINVAL", "MAP_FIXED", "addr", "len"]

    def case_from_bytes(self, data: bytes) -> Case:
        rel = self.files[zlib.crc32(data) % len(self.files)]
        return Case(data, ".yaml", {"file": rel, "op": "text"})

    def generate(self, rng: random.Random) -> Case:
        rel = rng.choice(self.files)
        r = rng.random()
        if r < 0.03:
            return Case(b"", ".yaml", {"file": rel, "op": rng.choice(["delete", "dir", "devzero", "copy", "empty"])})
        if r < 0.70:
            data = mutate_data(rng, self.data[rel], self._replacement)
            if _loadable(data):
                return Case(b"", ".yaml", {"file": rel, "op": "data", "data": data, "style": rng.random()})
            return Case(dump_yaml(rng, data), ".yaml", {"file": rel, "op": "text"})  # let the parser refuse it
        if r < 0.85:
            raw = mutate_text(rng, self.originals[rel])
        else:
            raw = dump_yaml(rng, mutate_data(rng, self.data[rel], self._replacement))
            if rng.random() < 0.5:
                raw = mutate_text(rng, raw)
        return Case(raw, ".yaml", {"file": rel, "op": "text"})

    def _replacement(self, rng, pointer, value):
        key = pointer[-1]
        if key in ("when", "return", "skip_when", "size", "fixed") or (len(pointer) > 2 and pointer[-2] in ("let", "args", "force")):
            return gen_expr(rng, self.voc, rng.choice([1, 2, 3]))
        if key in ("since", "until", "version"):
            return rng.choice(["5.10", "99999999999999999999.1", "6", "", "6.18.1.2.3", "v6", "-1.0", "4.3",
                               "1." + "0" * 5000, 6, None, "\u0665.\u0661"])
        if isinstance(value, str) and rng.random() < 0.5:
            return rng.choice(self.names) if rng.random() < 0.5 else mutate_name(rng, value)
        return None

    def save_bytes(self, case: Case) -> bytes:
        if case.meta["op"] == "data":
            return dump_yaml(random.Random(case.meta["style"]), case.meta["data"])
        return case.data

    def check(self, case: Case) -> None:
        rel, op = case.meta["file"], case.meta["op"]
        self.touched = rel
        path = self.dir / rel
        extra = None
        self.mutated_bytes = None
        try:
            if op == "data":
                self.mutated[str(path)] = self._located(path, case.meta["data"], self.originals[rel])
                if rel.startswith("properties/"):  # the catalogue reads its files' lines again
                    path.write_bytes(self.save_bytes(case))
            elif op == "text":
                self.mutated_bytes = case.data
                path.write_bytes(case.data)
            elif op == "delete":
                path.unlink()
            elif op == "dir":
                path.unlink()
                path.mkdir()
            elif op == "devzero":
                path.unlink()
                path.symlink_to("/dev/zero")
            elif op == "copy":
                extra = path.with_name("copy_" + path.name)
                shutil.copy(path, extra)
            elif op == "empty":
                path.write_bytes(b"")
            try:
                errors = self.specchecks.check_spec(self.dir)
            except _input_errors() as exc:
                errors = [exc]
            for error in errors:
                _assert_one_line(str(error))
        finally:
            self.mutated.clear()
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            elif path.exists() or path.is_symlink():
                path.unlink()
            path.write_bytes(self.originals[rel])
            if extra is not None:
                extra.unlink()

    def _located(self, path: Path, data, original: bytes):
        """A Located for mutated data, at the original's positions where the pointer still exists."""
        from mmsem.spec.source import Located
        base = self._loads(original, str(path))
        return Located(data, str(path), dict(base.positions))

    def cli(self, case: Case, workdir: Path):
        target = workdir / "cli-spec"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(self.dir, target, symlinks=True)
        rel = case.meta["file"]
        if case.meta["op"] in ("data", "text"):
            (target / rel).write_bytes(self.save_bytes(case))
        else:
            return None
        return ["check-spec", str(target)]


class PatchTarget(Target):
    """The patch reader and applier of `mmsem lint-patch` (mmsem.manpages.patch).

    Every input is read and applied to the pages of a scratch man-pages tree; one in
    REVIEW_EVERY also goes through the whole review (both versions linted)."""

    name = "patch"
    doc = "patch reader, applier and reviewer of `mmsem lint-patch`"
    REVIEW_EVERY = 10

    def setup(self, workdir: Path) -> None:
        try:
            from mmsem.manpages import patch, patch_apply, patch_input
        except ImportError:
            raise Skip("mmsem.manpages.patch does not exist yet") from None
        from mmsem.manpages.lint import Linter
        self.patch, self.apply, self.parse = patch, patch_apply.apply, patch_input.parse_patches
        self.linter = Linter("6.18", None, [])
        self.workdir = workdir
        self.base = workdir / "base"
        (self.base / "man2").mkdir(parents=True, exist_ok=True)
        self.seeds = {}
        for name in ("mlock", "mmap", "munmap"):
            path = Path(f"/usr/share/man/man2/{name}.2.gz")
            if path.exists():
                text = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
                (self.base / "man2" / f"{name}.2").write_text(text)
                self.seeds[f"man2/{name}.2"] = text
        self.count = 0

    alphabet = Target.alphabet + ["\n+", "\n-", "\n ", "@@ -1,3 +1,3 @@", "--- a/man2/mlock.2", "+++ b/man2/mlock.2",
                                  "diff --git ", "From ", "Subject: ", "Content-Transfer-Encoding: ", "base64",
                                  "\n\n", "---\n", ".SH ", "\\fB", "/dev/null", "index ", "GIT binary patch"]

    def case_from_bytes(self, data: bytes) -> Case:
        return Case(data, ".patch")

    def generate(self, rng: random.Random) -> Case:
        if rng.random() < 0.03:
            return Case(random_bytes(rng), ".patch")
        return Case(gen_patch(rng, self.seeds), ".patch")

    def check(self, case: Case) -> None:
        self.count += 1
        try:
            patches = self.parse(case.data, "fuzz.patch")
            if self.count % self.REVIEW_EVERY == 0:
                for finding in self.patch.Reviewer(self.linter, str(self.base)).review(patches):
                    _assert_one_line(str(finding))
                return
            for patch in patches:
                for diff in patch.files:
                    lines = self.seeds.get(diff.old_path or "", "").split("\n")
                    self.apply(lines, diff, patch.source)
        except _input_errors() as exc:
            _assert_one_line(str(exc))

    def cli(self, case: Case, workdir: Path):
        path = workdir / "cli.patch"
        path.write_bytes(case.data)
        return ["lint-patch", "--base", str(self.base), str(path)]


def gen_patch(rng: random.Random, seeds: dict) -> bytes:
    """A mail, mbox series or plain diff of a man page, often with lying hunk headers, odd
    paths, odd encodings, binary parts; sometimes damaged further."""
    mails = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        path = rng.choice(sorted(seeds)) if seeds else "man2/mlock.2"
        page = seeds.get(path, ".TH X 2\n.SH NAME\nx \\- y").split("\n")
        start = rng.randrange(len(page))
        old = page[start:start + rng.choice([1, 3, 7])]
        new = [gen_roff_line(rng, []) if rng.random() < 0.4 else line for line in old]
        if rng.random() < 0.2:
            new = [line for line in new if rng.random() < 0.5]
        name = path if rng.random() < 0.8 else rng.choice(
            ["man/" + path, "/etc/passwd", "../../x.2", "man2/nope.2", "", "a b", "README", "man2/mlock.2.gz",
             yaml_safe_text(nasty_text(rng, 3)), "man2/" + "x" * 300 + ".2", "man2/../../../etc/passwd.2"])
        counts = (len(old), len(new)) if rng.random() < 0.8 else (rng.choice([0, 1, 10 ** 6, nasty_int(rng)]),
                                                                   rng.randrange(100))
        hunk = f"@@ -{start + 1},{counts[0]} +{start + 1},{counts[1]} @@ {rng.choice(['', 'DESCRIPTION'])}\n"
        if rng.random() < 0.1:
            hunk = rng.choice(["@@ -1 +1 @@\n", "@@ garbage @@\n", "@@ -0,0 +0,0 @@\n",
                               f"@@ -{abs(nasty_int(rng))} +1 @@\n", "@@ -1,1 +1,1 @@\n@@ -1,1 +1,1 @@\n"])
        context = rng.random() < 0.5
        body = "".join(f"{' ' if context and k == 0 else '-'}{line}\n" for k, line in enumerate(old))
        body += "".join(f"+{line}\n" for k, line in enumerate(new) if not (context and k == 0))
        diff = rng.choice([f"diff --git a/{name} b/{name}\nindex 1111111..2222222 100644\n", "", f"Index: {name}\n"])
        diff += f"--- {rng.choice(['a/', '', 'c/'])}{name}\n+++ {rng.choice(['b/', '', 'w/'])}{name}\n{hunk}{body}"
        if rng.random() < 0.1:
            diff += rng.choice(["\\ No newline at end of file\n", "GIT binary patch\nliteral 0\nHcmV?d00001\n\n",
                                "Binary files a/x and b/x differ\n", "--- /dev/null\n+++ b/man2/new.2\n@@ -0,0 +1 @@\n+.TH\n",
                                f"--- a/{name}\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"])
        if rng.random() < 0.6:
            encoding = rng.choice(["8bit", "8bit", "quoted-printable", "base64", "7bit", "x-uuencode"])
            charset = rng.choice(["utf-8", "UTF-8", "iso-8859-1", "x-unknown", "utf-16", ""])
            payload = diff
            if encoding == "base64":
                import base64
                payload = base64.encodebytes(diff.encode("utf-8", "surrogatepass")).decode()
                if rng.random() < 0.2:
                    payload = payload[: rng.randrange(len(payload) + 1)] + "!!!"
            elif encoding == "quoted-printable":
                import quopri
                payload = quopri.encodestring(diff.encode("utf-8", "surrogatepass")).decode("latin-1")
            mail = (f"From 1234567890abcdef Mon Sep 17 00:00:00 2001\nFrom: A <a@b.c>\n"
                    f"Subject: [PATCH {rng.choice(['1/2', ''])}] {yaml_safe_text(nasty_text(rng, 4))}\n"
                    f"MIME-Version: 1.0\nContent-Type: text/plain; charset={charset}\n"
                    f"Content-Transfer-Encoding: {encoding}\n\nmessage\n---\n{payload}\n")
            if rng.random() < 0.1:
                mail = mail.replace("Content-Type: text/plain", 'Content-Type: multipart/mixed; boundary="b"', 1)
                mail += rng.choice(["--b\nContent-Type: text/x-patch\n\n" + diff + "\n--b--\n", "--b\n", ""])
            mails.append(mail)
        else:
            mails.append(diff)
    raw = "\n".join(mails).encode("utf-8", "surrogatepass")
    return mutate_text(rng, raw) if rng.random() < 0.25 else raw


TARGETS = {t.name: t for t in (RoffTarget, SpecTarget, TraceTarget, ExprTarget, PatchTarget)}


def _assert_one_line(message: str) -> None:
    if "\n" in message or not message.strip():
        raise AssertionError(f"error message is not one line: {message[:200]!r}")


# -- running a campaign ------------------------------------------------------------------------

@dataclass
class Failure:
    target: str
    label: str  # the generator's number (--replay), or "wJ-K" for hypothesis's own inputs
    signature: str  # exception type and innermost mmsem frame: what counts as one defect
    message: str
    saved: str = ""


@dataclass
class Result:
    target: str
    tried: int = 0
    failures: list = field(default_factory=list)
    seconds: float = 0.0
    cli_runs: int = 0
    skipped: str = ""

    @property
    def defects(self) -> dict:
        out: dict = {}
        for failure in self.failures:
            out.setdefault(failure.signature, failure)
        return out


def case_rng(seed: int, target: str, index: int) -> random.Random:
    return random.Random(f"{seed}/{target}/{index}")


def _signature(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/mmsem/" in f.filename or any(
        f"/{d}/" in f.filename for d in ("spec", "semantics", "manpages"))]
    where = f"{Path(ours[-1].filename).name}:{ours[-1].name}" if ours else (
        f"{Path(frames[-1].filename).name}:{frames[-1].name}" if frames else "?")
    return f"{type(exc).__name__} in {where}"


def _on_alarm(signum, frame):
    raise Hang("time limit exceeded")


def run_one(target: Target, case: Case, timeout: float) -> BaseException | None:
    """None when the input was handled; else the exception (Hang on a time-out)."""
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        target.check(case)
        return None
    except (Exception, Hang, RecursionError, MemoryError) as exc:
        return exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_cli(argv: list[str], cwd: Path) -> str | None:
    """None when `mmsem ARGV` behaved (exit 0/1/2, no traceback, one-line errors); else what went wrong."""
    env = dict(os.environ, LC_ALL="C")
    try:
        done = subprocess.run([sys.executable, "-m", "mmsem", *argv], cwd=cwd, env=env, capture_output=True,
                              timeout=300)
    except subprocess.TimeoutExpired:
        return "the command timed out"
    err = done.stderr.decode("utf-8", "replace")
    if "Traceback" in err or done.returncode not in (0, 1, 2):
        return f"exit {done.returncode}: {err.strip().splitlines()[-1:] if err.strip() else ''}"
    lines = [line for line in err.splitlines() if line]
    # lint-patch's errors say PATCH:LINE (no column); check-spec prints one line per defect
    position = r".+:\d+: .+" if argv[0] == "lint-patch" else r".+:\d+:\d+: .+"
    if done.returncode == 2 and (not lines or (len(lines) != 1 and argv[0] != "check-spec")
                                 or not all(re.match(position, line) for line in lines)):
        return f"exit 2 without positioned error lines: {err[:300]!r}"
    return None


def _save(out: Path, target: Target, seed: int, label: str, case: Case, exc_text: str) -> str:
    """The failing input (its bytes, and the pickled Case for --replay-case) and a note."""
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{target.name}-s{seed}-{label}"
    data = target.save_bytes(case) if hasattr(target, "save_bytes") else case.data
    Path(f"{stem}{case.suffix}").write_bytes(data)
    Path(f"{stem}.case").write_bytes(pickle.dumps(case))
    meta = {k: v for k, v in case.meta.items() if k not in ("data",)}
    Path(f"{stem}.txt").write_text(
        f"target {target.name}, seed {seed}, input {label}, delivery {meta}\n"
        f"replay: python3 scripts/fuzz.py --target {target.name} --replay-case {stem}.case\n\n{exc_text}")
    return f"{stem}{case.suffix}"


# -- hypothesis drives the generation ----------------------------------------------------------
#
# Every input is drawn by hypothesis (phase "generate" only: a campaign counts failures and goes
# on, it does not stop at the first one to shrink it). Most draws are a 64-bit number that seeds
# the structure-aware generator of the target (a mutated real page, spec file, trace...); the
# rest are hypothesis's own text and bytes, fed to the same reader. Hypothesis's memory of what
# it drew grows with the number of examples of one run, so a campaign is a series of runs of
# CHUNK examples, each with its own seed.

CHUNK = 1000


def _native(target: Target):
    """Hypothesis's own inputs for a target: raw bytes and text in the target's alphabet."""
    from hypothesis import strategies as st
    pieces = st.sampled_from(target.alphabet) | st.characters(codec="utf-8")
    text = st.lists(pieces, max_size=300).map(lambda parts: "".join(parts).encode("utf-8"))
    return (st.binary(max_size=2000) | text | text).map(target.case_from_bytes)


def case_strategy(target: Target, seed: int):
    """Cases of a target: 3 in 4 from the structure-aware generator, 1 in 4 hypothesis's own."""
    from hypothesis import strategies as st
    generated = st.integers(0, (1 << 64) - 1).map(
        lambda n: _labelled(target.generate(case_rng(seed, target.name, n)), str(n)))
    return st.one_of(generated, generated, generated, _native(target).map(lambda c: _labelled(c, "")))


def _labelled(case: Case, label: str) -> Case:
    case.meta["label"] = label
    return case


def run_hypothesis(body, strategy, count: int, seed: int) -> None:
    """Call body(case) on `count` cases drawn by hypothesis from `strategy` (one run)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fix_seed

    @fix_seed(seed)
    @settings(max_examples=count, phases=[Phase.generate], database=None, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    @given(strategy)
    def run(case):
        body(case)
    run()


def campaign(target_name: str, inputs: int, seed: int = 1, out: Path | None = None, timeout: float = 5.0,
             start: int = 0, step: int = 1, cli_every: int = CLI_EVERY, max_saved: int = 3,
             workdir: Path | None = None, progress: Path | None = None, status: Path | None = None) -> Result:
    """This worker's share of one target's campaign: inputs // step (+1 for the first
    inputs % step workers), drawn by hypothesis runs seeded by (seed, target, worker, run)."""
    target = TARGETS[target_name]()
    result = Result(target_name)
    quota = inputs // step + (1 if start < inputs % step else 0)
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"mmsem-fuzz-{target_name}-")))
        try:
            target.setup(workdir)
        except Skip as exc:
            result.skipped = str(exc)
            return result
        stack.callback(target.teardown)
        saved_per_signature: dict = {}
        strategy = case_strategy(target, seed)
        began = time.perf_counter()

        def body(case: Case) -> None:
            if result.tried >= quota:
                return
            label = case.meta.get("label") or f"w{start}-{result.tried}"
            if progress is not None:  # so that a worker killed outright can be blamed on its input
                progress.write_bytes(pickle.dumps(case))
            exc = run_one(target, case, timeout)
            result.tried += 1
            problem = text = None
            if exc is not None:
                signature = "time-out" if isinstance(exc, Hang) else _signature(exc)
                text = "".join(traceback.format_exception(exc))
                problem = Failure(target_name, label, signature, f"{type(exc).__name__}: {str(exc)[:300]}")
            elif cli_every and (result.tried * step + start) % cli_every == cli_every - 1:
                argv = target.cli(case, workdir)
                if argv is not None:
                    result.cli_runs += 1
                    complaint = run_cli(argv, workdir)
                    if complaint is not None:
                        problem = Failure(target_name, label, f"command line: {argv[0]}", complaint)
                        text = f"mmsem {' '.join(argv)}: {complaint}\n"
            if problem is not None:
                count = saved_per_signature.get(problem.signature, 0)
                if out is not None and count < max_saved:
                    problem.saved = _save(out, target, seed, label, case, text)
                saved_per_signature[problem.signature] = count + 1
                result.failures.append(problem)

        run_number = 0
        while result.tried < quota:
            before = result.tried
            run_seed = int.from_bytes(f"{seed}/{target_name}/{start}/{run_number}".encode()[-16:], "big")
            run_hypothesis(body, strategy, min(CHUNK, quota - result.tried), run_seed)
            run_number += 1
            if status is not None:  # a running count, so that a campaign stopped early still tells
                with open(status, "a") as handle:
                    handle.write(f"{target_name} worker {start}: {result.tried} tried, {len(result.failures)} "
                                 f"failed, {time.perf_counter() - began:.0f} s\n")
            if result.tried == before:  # hypothesis found nothing new to try: never expected
                break
        result.seconds = time.perf_counter() - began
    return result


def _worker(target_name, inputs, seed, out, timeout, start, step, memory, cli_every, progress, status) -> Result:
    import warnings
    warnings.simplefilter("ignore", SyntaxWarning)  # ast.parse's remarks on odd expressions
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    return campaign(target_name, inputs, seed, out, timeout, start, step, cli_every, progress=progress, status=status)


def run_parallel(target_name: str, inputs: int, seed: int, out: Path, timeout: float, jobs: int,
                 memory: int, cli_every: int = CLI_EVERY, status: Path | None = None) -> Result:
    """The campaign of one target split over `jobs` worker processes (input j, j+jobs, ...)."""
    began = time.perf_counter()
    parts = []
    with tempfile.TemporaryDirectory(prefix="mmsem-fuzz-progress-") as tmp:
        progress = [Path(tmp) / f"worker-{j}" for j in range(jobs)]
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(_worker, target_name, inputs, seed, out, timeout, j, jobs, memory, cli_every,
                                   progress[j], status) for j in range(jobs)]
            for j, future in enumerate(futures):
                try:
                    parts.append(future.result())
                except BrokenProcessPool:  # a worker died outright (a crash in C code, the OOM killer)
                    part = Result(target_name)
                    failure = Failure(target_name, "?", "worker process died", "while running the input saved")
                    if progress[j].exists():
                        case = pickle.loads(progress[j].read_bytes())
                        failure.label = case.meta.get("label") or "?"
                        failure.saved = _save(out, TARGETS[target_name](), seed, f"died-{j}", case, "worker died\n")
                    part.failures.append(failure)
                    parts.append(part)
    total = Result(target_name, skipped=parts[0].skipped)
    for part in parts:
        total.tried += part.tried
        total.cli_runs += part.cli_runs
        total.failures.extend(part.failures)
        total.seconds = time.perf_counter() - began
    return total


def table(results: list[Result]) -> str:
    rows = [("target", "inputs", "failures", "defects", "cli runs", "seconds", "inputs/s")]
    for r in results:
        if r.skipped:
            rows.append((r.target, "-", "-", "-", "-", "-", f"skipped: {r.skipped}"))
            continue
        rate = f"{r.tried / r.seconds:.0f}" if r.seconds else "-"
        rows.append((r.target, str(r.tried), str(len(r.failures)), str(len(r.defects)), str(r.cli_runs),
                     f"{r.seconds:.0f}", rate))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    for r in results:
        for signature, first in r.defects.items():
            count = sum(f.signature == signature for f in r.failures)
            lines.append(f"  {r.target}: {signature}: {count} input(s), first {first.label}: {first.message[:160]}"
                         + (f" [{first.saved}]" if first.saved else ""))
    return "\n".join(lines)


def replay(target_name: str, seed: int, index: int | None, timeout: float, case_file: Path | None = None) -> int:
    """Run one input with its traceback: the generator's input INDEX, or a saved Case."""
    target = TARGETS[target_name]()
    with tempfile.TemporaryDirectory() as tmp:
        target.setup(Path(tmp))
        try:
            if case_file is not None:
                case = pickle.loads(case_file.read_bytes())
            else:
                case = target.generate(case_rng(seed, target_name, index))
            shown = (target.save_bytes(case) if hasattr(target, "save_bytes") else case.data)
            print(f"input ({len(shown)} bytes, {case.meta.get('mode') or case.meta.get('op') or ''}): "
                  f"{shown[:400]!r}")
            exc = run_one(target, case, timeout)
        finally:
            target.teardown()
    if exc is None:
        print("handled")
        return 0
    traceback.print_exception(exc)
    return 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1000, help="inputs per target (default 1000)")
    parser.add_argument("--target", action="append", choices=sorted(TARGETS), help="a target (default: all)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per input (default 5)")
    parser.add_argument("--memory", type=int, default=2048, help="MiB of address space per worker (default 2048)")
    parser.add_argument("--cli-every", type=int, default=CLI_EVERY,
                        help=f"run one input in N through the mmsem command too (default {CLI_EVERY}; 0: never)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where failing inputs go (default fuzz-failures)")
    parser.add_argument("--replay", type=int, default=None, metavar="NUMBER",
                        help="run the generated input NUMBER (as in the table) and show its traceback")
    parser.add_argument("--replay-case", type=Path, default=None, metavar="FILE",
                        help="run one saved input (a .case file under --out) and show its traceback")
    parser.add_argument("--status", type=Path, default=None, metavar="FILE",
                        help=f"append each worker's running count to FILE after every {CHUNK} inputs")
    parser.add_argument("--list", action="store_true", help="list the targets")
    args = parser.parse_args(argv)
    if args.list:
        for name, cls in TARGETS.items():
            print(f"{name:6} {cls.doc}")
        return 0
    names = args.target or list(TARGETS)
    if args.replay is not None or args.replay_case is not None:
        return replay(names[0], args.seed, args.replay, args.timeout, args.replay_case)
    results = []
    for name in names:
        result = run_parallel(name, args.inputs, args.seed, args.out, args.timeout, args.jobs, args.memory << 20,
                              args.cli_every, args.status)
        results.append(result)
        print(table([result]).splitlines()[1], file=sys.stderr, flush=True)
    print(table(results))
    return 1 if any(r.failures for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
