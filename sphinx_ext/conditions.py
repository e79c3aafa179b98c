"""Spec conditions (``when:``) put into words for the reference.

The spec's expressions are Python syntax (semantics/expr.py); here the same ``ast``
is walked to produce a phrase instead of a value. A condition reads as a sentence
where the spec's vocabulary allows it (``not can_do_mlock`` -> "the caller may not
lock memory", ``flags & ~valid_flags('mlock2')`` -> "flags has a bit that is not a
valid mlock2 flag", a trait -> "Linux 4.9 or later"); everything else stays code,
with flags linked to their descriptions and the engine's state values and functions
explained by their docstrings (a tooltip).

The result is a list of tokens, turned into docutils nodes by :func:`to_nodes` or
into plain text by :func:`to_text`::

    ("text", "the caller lacks ")   prose
    ("code", "pages(len) + ")       code, merged with neighbouring code
    ("flag", "MAP_LOCKED")          a flag name: a cross-reference
    ("term", "locked_vm", "doc")    a state value or function: code with an explanation
    ("term", "Linux 4.9 or later", "doc", "trait_name")   a kernel trait, also linked
    ("list", "all", [tokens, ...])  a top-level conjunction or disjunction, as a list
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from docutils import nodes
from sphinx import addnodes

from mmsem.semantics.namespace import FUNCTIONS, STATE
from mmsem.sphinx_ext.objects import xref

#: Boolean state values: (holds, does not hold).
PREDICATE_NAMES = {
    "can_do_mlock": ("the caller may lock memory",
                     "the caller may not lock memory (it lacks CAP_IPC_LOCK and its RLIMIT_MEMLOCK is 0)"),
    "cap_ipc_lock": ("the caller has CAP_IPC_LOCK", "the caller lacks CAP_IPC_LOCK"),
    "cap_sys_rawio": ("the caller has CAP_SYS_RAWIO", "the caller lacks CAP_SYS_RAWIO"),
}

#: Boolean functions: (holds, does not hold), {0}.. are the arguments.
PREDICATE_CALLS = {
    "mapped": ("{0} is mapped", "{0} is not mapped"),
    "is_file": ("{0} is an open file", "{0} is not an open file"),
    "file_writable": ("{0} is open for writing", "{0} is not open for writing"),
    "known_value": ("{0} is a {1} value this kernel knows", "{0} is not a {1} value this kernel knows"),
    "file_is_hugetlb": ("{0} is a hugetlbfs file", "{0} is not a hugetlbfs file"),
    "intersects": ("some mapping intersects [{0}, {1})", "no mapping intersects [{0}, {1})"),
    "beyond_eof": ("{0} lies beyond the end of its file", "{0} lies within its file"),
    "available": ("the kernel knows {0}", "the kernel does not know {0}"),
    "huge_size_supported": ("the huge page size {0} is supported", "the huge page size {0} is not supported"),
    "huge_page_available": ("a page can be found for {0}", "no huge page can be found for {0}"),
    "growsdown_above": ("a MAP_GROWSDOWN mapping lies just above {0}",
                        "no MAP_GROWSDOWN mapping lies just above {0}"),
    "stack_gap_ok": ("the stack guard gap below {0} is free", "the stack guard gap below {0} is in use"),
}

COMPARE_WORDS = {ast.Eq: "=", ast.NotEq: "≠", ast.Lt: "<", ast.LtE: "≤", ast.Gt: ">", ast.GtE: "≥",
                 ast.In: "is one of", ast.NotIn: "is not one of"}
BINOP_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Mod: "%",
                 ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^"}
#: Binding strength of binary operators (Python's), for parentheses in code.
PRECEDENCE = {ast.BitOr: 1, ast.BitXor: 2, ast.BitAnd: 3, ast.LShift: 4, ast.RShift: 4,
              ast.Add: 5, ast.Sub: 5, ast.Mult: 6, ast.FloorDiv: 6, ast.Mod: 6}
#: A condition longer than this (in characters) is shown as a list of its parts.
LIST_THRESHOLD = 90

_PLACEHOLDER_RE = re.compile(r"\{(\d)\}")


@dataclass(frozen=True)
class Vocabulary:
    """What the names in a spec expression stand for."""

    flags: frozenset
    traits: dict  # name -> Trait

    @classmethod
    def from_spec(cls, spec) -> "Vocabulary":
        flags = frozenset(f.name for fs in spec.flagsets.values() for f in fs.flags)
        return cls(flags, dict(spec.traits))


def describe(source, vocabulary: Vocabulary) -> list:
    """Tokens for a condition; a long top-level and/or becomes a list."""
    if isinstance(source, bool):
        return [("text", "always" if source else "never")]
    tree = ast.parse(str(source).strip(), mode="eval").body
    words = _Words(vocabulary)
    tokens = words.pred(tree)
    if isinstance(tree, ast.BoolOp) and (len(tree.values) > 2 or len(to_text(tokens)) > LIST_THRESHOLD):
        kind = "all" if isinstance(tree.op, ast.And) else "any"
        return [("list", kind, [words.pred(value) for value in tree.values])]
    return tokens


def value_tokens(source, vocabulary: Vocabulary) -> list:
    """Tokens for a value (an argument, a let binding): code, with flags linked."""
    if isinstance(source, bool):
        return [("code", "true" if source else "false")]
    return _Words(vocabulary).value(ast.parse(str(source).strip(), mode="eval").body)


class _Words:
    def __init__(self, vocabulary: Vocabulary):
        self.vocabulary = vocabulary

    # -- boolean positions: a phrase -------------------------------------------------
    def pred(self, node, negated: bool = False) -> list:
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return self.pred(node.operand, not negated)
        if isinstance(node, ast.BoolOp):
            # De Morgan keeps negations on the leaves, where they read naturally.
            is_and = isinstance(node.op, ast.And) != negated
            parts = [self._grouped(value, negated) for value in node.values]
            return _join(parts, " and " if is_and else ", or " if len(parts) > 2 else " or ")
        if isinstance(node, ast.Name):
            return self._name_pred(node.id, negated)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in PREDICATE_CALLS:
            template = PREDICATE_CALLS[node.func.id][1 if negated else 0]
            return _fill(template, [self._argument(arg) for arg in node.args])
        if isinstance(node, ast.Call):  # a boolean function without a phrase (yet)
            return self.value(node) + [("text", " does not hold" if negated else " holds")]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitAnd):
            return self._mask_pred(node, negated)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            op = type(node.ops[0])
            if negated:
                op = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt,
                      ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In}[op]
            right = node.comparators[0]
            if op in (ast.Eq, ast.NotEq) and isinstance(right, ast.Constant) and right.value == 0:
                word = " is 0" if op is ast.Eq else " is not 0"
                return self.value(node.left) + [("text", word)]
            return self.value(node.left) + [("text", f" {COMPARE_WORDS[op]} ")] + self.value(right)
        tokens = self.value(node)
        return tokens + [("text", " is 0" if negated else " is not 0")]

    def _grouped(self, node, negated: bool) -> list:
        tokens = self.pred(node, negated)
        if isinstance(node, ast.BoolOp):
            return [("text", "(")] + tokens + [("text", ")")]
        return tokens

    def _name_pred(self, name: str, negated: bool) -> list:
        if name in PREDICATE_NAMES:
            return [("text", PREDICATE_NAMES[name][1 if negated else 0])]
        trait = self.vocabulary.traits.get(name)
        if trait is not None:
            return [("term", _trait_phrase(trait, negated), trait.text.strip(), name)]
        return ([("text", "not ")] if negated else []) + self.value(ast.Name(id=name))

    def _mask_pred(self, node: ast.BinOp, negated: bool) -> list:
        """x & MASK in a boolean position: which bits x has."""
        left, right = self.value(node.left), node.right
        if isinstance(right, ast.UnaryOp) and isinstance(right.op, ast.Invert):
            inner = right.operand
            if _is_call(inner, "valid_flags") and isinstance(inner.args[0], ast.Constant):
                what = f"a valid {inner.args[0].value} flag"
                word = " has no bit that is not " if negated else " has a bit that is not "
                return left + [("text", word + what)]
            word = " has no bit outside " if negated else " has a bit outside "
            return left + [("text", word)] + self.value(inner)
        if isinstance(right, ast.BinOp) and isinstance(right.op, ast.Sub) \
                and isinstance(right.right, ast.Constant) and right.right.value == 1:
            word = " is a multiple of " if negated else " is not a multiple of "
            return left + [("text", word)] + self.value(right.left)
        names = _flag_union(right, self.vocabulary.flags)
        if names:
            if len(names) == 1:
                word = " does not include " if negated else " includes "
            else:
                word = " includes neither " if negated else " includes "
            joiner = " nor " if negated and len(names) > 1 else " or "
            return left + [("text", word)] + _join([self.value(ast.Name(id=n)) for n in names], joiner)
        word = " has none of " if negated else " has some of "
        return left + [("text", word)] + self.value(right)

    def _argument(self, node) -> list:
        """An argument inside a phrase: a quoted name (a flag set, a flag) as the name itself."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return self._literal_name(node.value)
        return self.value(node)

    # -- value positions: code --------------------------------------------------------
    def value(self, node, parent_precedence: int = 0) -> list:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return [("code", "true" if node.value else "false")]
            if isinstance(node.value, int):
                return [("code", hex(node.value) if node.value > 4096 else str(node.value))]
            return self._literal_name(str(node.value))
        if isinstance(node, ast.Name):
            return self._literal_name(node.id)
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            args = _join([self.value(arg) for arg in node.args], ", ", code=True)
            head = [("term", name, FUNCTIONS[name].doc)] if name in FUNCTIONS else [("code", name)]
            return head + [("code", "(")] + args + [("code", ")")]
        if isinstance(node, ast.BinOp):
            precedence = PRECEDENCE.get(type(node.op), 9)
            tokens = (self.value(node.left, precedence) + [("code", f" {BINOP_SYMBOLS[type(node.op)]} ")]
                      + self.value(node.right, precedence + 1))
            # Python's precedence is exact but not obvious across families (a - b >> c):
            # parenthesise a bitwise operation inside anything else, and anything inside one.
            mixed = parent_precedence and _family(precedence) != _family(parent_precedence)
            return _parenthesised(tokens) if precedence < parent_precedence or mixed else tokens
        if isinstance(node, ast.UnaryOp):
            symbol = {ast.Invert: "~", ast.USub: "-", ast.UAdd: "+"}.get(type(node.op))
            if symbol is None:
                return self.pred(node)
            return [("code", symbol)] + self.value(node.operand, 10)
        if isinstance(node, ast.IfExp):
            return ([("text", "(")] + self.value(node.body) + [("text", " if ")] + self.pred(node.test)
                    + [("text", ", else ")] + self.value(node.orelse) + [("text", ")")])
        if isinstance(node, ast.Tuple):
            return [("text", "{")] + _join([self.value(e) for e in node.elts], ", ") + [("text", "}")]
        if isinstance(node, (ast.BoolOp, ast.Compare)):
            return [("text", "(")] + self.pred(node) + [("text", ")")]
        return [("code", ast.unparse(node))]

    def _literal_name(self, name: str) -> list:
        if name in self.vocabulary.flags:
            return [("flag", name)]
        if name in STATE:
            return [("term", name, (STATE[name].__doc__ or "").strip())]
        trait = self.vocabulary.traits.get(name)
        if trait is not None:
            return [("term", _trait_phrase(trait, False), trait.text.strip(), name)]
        return [("code", name)]


def _family(precedence: int) -> str:
    """Operators that read together: bitwise, shifts, arithmetic (a + b * c needs no parentheses)."""
    return "bitwise" if precedence <= 3 else "shift" if precedence == 4 else "arithmetic"


def _trait_phrase(trait, negated: bool) -> str:
    if trait.since and not trait.until:
        version = ".".join(map(str, trait.since))
        return f"the kernel is older than Linux {version}" if negated else f"Linux {version} or later"
    if trait.mmu is not None and not trait.since:
        has = trait.mmu != negated
        return "the kernel has an MMU" if has else "the kernel has no MMU"
    return f"not {trait.name}" if negated else trait.name


def _is_call(node, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name and node.args


def _flag_union(node, flags) -> list[str]:
    """Names of A | B | C when every operand is a flag or constant name, else []."""
    if isinstance(node, ast.Name) and (node.id in flags or node.id.isupper()):
        return [node.id]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _flag_union(node.left, flags), _flag_union(node.right, flags)
        return left + right if left and right else []
    return []


def _join(parts: list[list], separator: str, code: bool = False) -> list:
    out: list = []
    for i, part in enumerate(parts):
        if i:
            out.append(("code" if code else "text", separator))
        out.extend(part)
    return out


def _fill(template: str, args: list[list]) -> list:
    out: list = []
    pos = 0
    for match in _PLACEHOLDER_RE.finditer(template):
        if match.start() > pos:
            out.append(("text", template[pos:match.start()]))
        out.extend(args[int(match.group(1))])
        pos = match.end()
    if pos < len(template):
        out.append(("text", template[pos:]))
    return out


def _parenthesised(tokens: list) -> list:
    return [("code", "(")] + tokens + [("code", ")")]


# -- output ------------------------------------------------------------------------------

def to_text(tokens: list) -> str:
    """Plain text of tokens (lists as "all of: a; b")."""
    out = []
    for token in tokens:
        if token[0] == "list":
            out.append(("all of: " if token[1] == "all" else "any of: ") + "; ".join(to_text(t) for t in token[2]))
        else:
            out.append(token[1])
    return "".join(out)


def to_nodes(tokens: list) -> list[nodes.Node]:
    """Inline nodes, plus a bullet list for a "list" token."""
    out: list[nodes.Node] = []
    code: list[str] = []

    def flush():
        if code:
            text = "".join(code)
            out.append(nodes.literal(text, text))
            code.clear()

    for token in tokens:
        kind = token[0]
        if kind == "code":
            code.append(token[1])
            continue
        flush()
        if kind == "text":
            out.append(nodes.Text(token[1]))
        elif kind == "flag":
            out.append(xref("flag", token[1]))
        elif kind == "term":
            name, explanation = token[1], token[2]
            inner = nodes.literal(name, name) if name.isidentifier() else nodes.Text(name)
            term = nodes.abbreviation("", "", inner, explanation=explanation)
            if len(token) > 3:  # a kernel trait: also a link to its description
                term = addnodes.pending_xref("", term, refdomain="mm", reftype="trait", reftarget=token[3],
                                             refexplicit=True, refwarn=True, mm_optional=True)
            out.append(term)
        elif kind == "list":
            intro = "all of these hold:" if token[1] == "all" else "any of these holds:"
            out.append(nodes.Text(intro))
            items = nodes.bullet_list()
            for part in token[2]:
                items += nodes.list_item("", nodes.paragraph("", "", *to_nodes(part)))
            out.append(items)
    flush()
    return out
