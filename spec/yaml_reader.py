"""The YAML half of :mod:`mmsem.spec.source`: PyYAML's safe loader, bounded, building
plain data with the position of every value.

Kept apart so that PyYAML is imported only when YAML is read: ``mmsem lint`` with its
caches filled reads none, and the import would be a twentieth of its start-up.
"""

from __future__ import annotations

from typing import Any

import yaml

from mmsem.spec.source import (MAX_BYTES, MAX_DEPTH, MAX_INT_CHARS, MAX_NODES, InputError, Located,
                               Pointer)

_COLLECTION_TAGS = ("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map")


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


def parse_document(text: str | bytes, path: str = "<string>") -> Located:
    """:func:`mmsem.spec.source.loads`: one YAML document from text; InputError on any defect."""
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
