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

    def __reduce__(self):  # pickled whole: lint workers send theirs to the parent
        return type(self), (self.path, self.line, self.col, self.message)


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


def loads(text: str | bytes, path: str = "<string>") -> Located:
    """Parse one YAML document from text; raise InputError on any defect."""
    from mmsem.spec.yaml_reader import parse_document  # PyYAML: imported when YAML is read

    return parse_document(text, path)


def load(path: str | Path) -> Located:
    """Read and parse a YAML file; unreadable files are input errors too."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:  # a bounded read: the path may be /dev/zero
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(str(path), 1, 1, f"cannot read: {exc.strerror or exc}") from None
    return loads(raw, str(path))
