"""Read YAML safely while remembering where every value came from.

Every user-facing input of mmsem (specs, traces) is YAML. Errors in them must be
reported as ``file:line:col: message``, so loading keeps a map from JSON-pointer
paths to source positions. Only plain data is built: no Python tags, no floats
(``5.10`` would silently become ``5.1``; versions stay strings), no duplicate
keys, and alias expansion is bounded so that a "billion laughs" document fails
fast instead of exhausting memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: Upper bound on values built from one document (after alias expansion).
MAX_NODES = 200_000
#: Upper bound on nesting; PyYAML's composer recurses, so keep it well below Python's limit.
MAX_DEPTH = 64
#: Largest document read: far above any spec file or trace (the largest is ~32 KB), and
#: small enough that the pure-Python parser is done in seconds; nothing longer is read.
MAX_BYTES = 1 << 20
#: Longest integer literal: 0b and 64 binary digits with separators fit; Python would not
#: even convert one of more than 4300 digits.
MAX_INT_CHARS = 100
#: Longest message shown: the values quoted in it come from the input.
MAX_MESSAGE = 2000

Pointer = tuple  # tuple of str keys and int indices
_COLLECTION_TAGS = ("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map")


class InputError(Exception):
    """Bad user input, reported as one line ``path:line:col: message`` (exit code 2)."""

    def __init__(self, path: str, line: int, col: int, message: str):
        super().__init__(message)
        self.path = str(path)
        self.line = line
        self.col = col
        self.message = message

    def __str__(self) -> str:
        return f"{one_line(self.path)}:{self.line}:{self.col}: {one_line(self.message)}"


def one_line(text: str) -> str:
    """Text safe for one line of a terminal: control characters (newlines, escapes, line
    separators) spelled out, and no longer than MAX_MESSAGE."""
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE] + "..."
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


class ErrorSink:
    """Where a loader puts the input errors it finds: raised at once, or collected in
    a list (check-spec reports them all)."""

    def __init__(self, sink: list | None):
        self.sink = sink

    def add(self, error: InputError) -> None:
        if self.sink is None:
            raise error
        self.sink.append(error)


@dataclass
class Located:
    """A loaded YAML document and the 1-based (line, col) of each value in it."""

    data: Any
    path: str
    positions: dict = field(default_factory=dict)

    def where(self, pointer: Pointer) -> tuple[int, int]:
        """Position of ``pointer``, or of its nearest enclosing value that has one."""
        pointer = tuple(pointer)
        while pointer:
            if pointer in self.positions:
                return self.positions[pointer]
            pointer = pointer[:-1]
        return self.positions.get((), (1, 1))

    def error(self, pointer: Pointer, message: str) -> InputError:
        line, col = self.where(pointer)
        return InputError(self.path, line, col, message)


def json_pointer(pointer: Pointer) -> str:
    """RFC 6901 text of a pointer tuple, for messages."""
    parts = (str(p).replace("~", "~0").replace("/", "~1") for p in pointer)
    return "/" + "/".join(parts)


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, path: str):
        self.loader = loader
        self.path = path
        self.positions: dict = {}
        self.count = 0

    def fail(self, node: yaml.Node, message: str) -> InputError:
        mark = node.start_mark
        return InputError(self.path, mark.line + 1, mark.column + 1, message)

    def build(self, node: yaml.Node, pointer: Pointer, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(node, f"document too large: more than {MAX_NODES} values (alias expansion?)")
        if depth > MAX_DEPTH:
            raise self.fail(node, f"nesting deeper than {MAX_DEPTH} levels")
        self.positions.setdefault(pointer, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)) and node.tag not in _COLLECTION_TAGS:
            raise self.fail(node, f"unsupported YAML tag {node.tag}")  # !!set, !!omap, !!python/...
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, pointer + (i,), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            result: dict = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise self.fail(key_node, "merge keys ('<<') are not supported")
                if not isinstance(key_node, yaml.ScalarNode):
                    raise self.fail(key_node, "mapping keys must be plain scalars")
                key = self.scalar(key_node)
                if not isinstance(key, (str, int)) or isinstance(key, bool):
                    key = str(key_node.value)
                if key in result:
                    raise self.fail(key_node, f"duplicate key {key!r}")
                self.positions[pointer + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                result[key] = self.build(value_node, pointer + (key,), depth + 1)
                # The value's own position is more useful than the key's for scalars on the same line.
                if isinstance(value_node, yaml.ScalarNode):
                    self.positions[pointer + (key,)] = (
                        value_node.start_mark.line + 1,
                        value_node.start_mark.column + 1,
                    )
            return result
        raise self.fail(node, "unsupported YAML node")

    def scalar(self, node: yaml.ScalarNode) -> Any:
        tag = node.tag
        if tag == "tag:yaml.org,2002:int":
            if len(node.value) > MAX_INT_CHARS:
                raise self.fail(node, f"integer literal longer than {MAX_INT_CHARS} characters")
            return self.loader.construct_yaml_int(node)
        if tag == "tag:yaml.org,2002:bool":
            return self.loader.construct_yaml_bool(node)
        if tag == "tag:yaml.org,2002:null":
            return None
        if tag in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"):
            return str(node.value)
        raise self.fail(node, f"unsupported YAML tag {tag}")


class _TooDeep(Exception):
    def __init__(self, mark):
        self.mark = mark


class _SafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader with its composer's recursion bounded (one level per
    collection), so that deep nesting stops at the first node too deep, not at
    Python's recursion limit."""

    depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH + 1:  # the document itself is level 0
                raise _TooDeep(self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _decode(raw: bytes, path: str) -> str:
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise InputError(path, line, 1, "binary data (NUL byte) where YAML text was expected")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(path, line, col, "not UTF-8 text") from None


def loads(text: str | bytes, path: str = "<string>") -> Located:
    """Parse one YAML document from text; raise InputError on any defect."""
    if len(text) > MAX_BYTES:
        raise InputError(path, 1, 1, f"larger than {MAX_BYTES // (1 << 20)} MiB")
    if isinstance(text, bytes):
        text = _decode(text, path)
    try:
        loader = _SafeLoader(text)  # checks that every character is printable
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise InputError(path, line, col, f"malformed YAML: {exc.reason} (U+{exc.character:04X})") from None
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            problem = exc.problem or exc.context or "malformed YAML"
            raise InputError(path, line, col, f"malformed YAML: {problem}") from None
        except yaml.YAMLError as exc:
            raise InputError(path, 1, 1, f"malformed YAML: {exc}") from None
        except _TooDeep as exc:
            raise InputError(path, exc.mark.line + 1, exc.mark.column + 1,
                             f"nesting deeper than {MAX_DEPTH} levels") from None
        except RecursionError:  # not expected with the bound above; still an input error
            raise InputError(path, loader.line + 1, loader.column + 1,
                             f"nesting deeper than {MAX_DEPTH} levels") from None
        if node is None:
            return Located(None, path, {(): (1, 1)})
        builder = _Builder(loader, path)
        try:
            data = builder.build(node, (), 0)
        except RecursionError:
            raise InputError(path, 1, 1, "nesting too deep") from None
        return Located(data, path, builder.positions)
    finally:
        loader.dispose()


def load(path: str | Path) -> Located:
    """Read and parse a YAML file; unreadable files are input errors too."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:  # a bounded read: the path may be /dev/zero
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(str(path), 1, 1, f"cannot read: {exc.strerror or exc}") from None
    return loads(raw, str(path))
