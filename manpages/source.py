"""Read a man page as installed: plain or gzip, UTF-8 or legacy latin-1, ``.so`` resolved.

The result is a :class:`Source`: the page's physical lines in reading order, each
with its line number and the file it came from. A ``.so`` request is replaced by the
lines of the page it names, and those lines remember the request that brought them
in (``Origin.via``), so a finding in an included page can say where it came from.

``.so`` names a page relative to the manual tree that holds the including page (the
parent of its ``manN`` directory), as man(1) runs groff from there. Nothing outside
that tree is ever read on a page's say-so: absolute names, names that climb out with
``..``, missing targets, loops and deep nesting are :class:`InputError`. A page that
is a symbolic link (Debian installs ``munmap.2.gz -> mmap.2.gz`` instead of a
``.so`` page) is read through the link and also records it in ``via``. Nothing is
ever written.
"""

from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass, field

from mmsem.spec.source import InputError

from .document import Origin, new_origin

#: Largest page we read, after decompression: far above any real page (the biggest
#: man2/man3 page is well under 1 MiB), low enough that a gzip bomb fails fast.
MAX_BYTES = 16 * 1024 * 1024
#: Deepest chain of ``.so`` requests (man-pages needs one level).
MAX_INCLUDE_DEPTH = 8
#: Symbolic links followed from the page named to the file read.
MAX_SYMLINKS = 16

_GZIP_MAGIC = b"\x1f\x8b"
_SO_RE = re.compile(r"[.'][ \t]*so(?:[ \t]+|$)")
_SO_LINE_RE = re.compile(r"^[.'][ \t]*so(?:[ \t]|$)", re.MULTILINE)
_COMMENT_OR_BLANK_RE = re.compile(r"""[.']?[ \t]*(?:\\".*)?$""")


@dataclass(frozen=True)
class SourceFile:
    """One file that contributed lines; ``via`` is the ``.so`` (or link) that brought it in."""

    path: str
    via: Origin | None = None

    def origin(self, line: int, col: int = 1) -> Origin:
        return new_origin(self.path, line, col, self.via)


@dataclass
class Source:
    """The physical lines of a page, ``.so`` includes expanded in place.

    ``parts`` are runs of consecutive lines of one file, in reading order:
    (SourceFile, number of the first line, [line text, ...]).
    """

    path: str  # the page as named by the caller
    resolved: str  # the file whose text is the page: path itself, or the page it is a link to
    parts: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # (Origin, message): e.g. a latin-1 fallback

    @property
    def lines(self) -> list[tuple[str, int, SourceFile]]:
        """Every line as (text, line number, SourceFile), in reading order."""
        return [(text, first + n, sfile) for sfile, first, lines in self.parts for n, text in enumerate(lines)]


def read_text(path: str) -> tuple[str, tuple[int, int] | None]:
    """The decoded text of one file; the second item is where UTF-8 failed (line, col), if it did.

    gzip is recognised by its magic number, so a compressed page without ``.gz`` (or
    a plain one with it) is read correctly. Text that is not UTF-8 is decoded as
    latin-1, which accepts any byte; the caller notes the fallback. A NUL byte (a
    binary file) is an input error.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(path, 1, 1, f"cannot read: {exc.strerror or exc}") from None
    if raw[:2] == _GZIP_MAGIC:
        raw = _gunzip(raw, path)
    if len(raw) > MAX_BYTES:
        raise InputError(path, 1, 1, f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
    if raw[:3] == b"\xef\xbb\xbf":
        raw = raw[3:]
    nul = raw.find(b"\x00")
    if nul >= 0:  # no text file has one (groff refuses it too): a binary file named by mistake
        line = raw.count(b"\n", 0, nul) + 1
        col = nul - (raw.rfind(b"\n", 0, nul) + 1) + 1
        raise InputError(path, line, col, "binary data (NUL byte) where roff text was expected")
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return raw.decode("latin-1"), (line, col)


def _gunzip(raw: bytes, path: str) -> bytes:
    """Decompress every gzip member of `raw`, stopping past MAX_BYTES."""
    out = []
    size = 0
    while raw[:2] == _GZIP_MAGIC and size <= MAX_BYTES:
        engine = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = engine.decompress(raw, MAX_BYTES + 1 - size)
        except zlib.error as exc:
            raise InputError(path, 1, 1, f"cannot decompress: {exc}") from None
        if not engine.eof and len(chunk) < MAX_BYTES + 1 - size:
            raise InputError(path, 1, 1, "cannot decompress: truncated gzip data")
        out.append(chunk)
        size += len(chunk)
        raw = engine.unused_data
    return b"".join(out)


def split_lines(text: str) -> list[str]:
    """Physical lines as roff counts them: only newline ends a line; a CR before it is dropped."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if "\r" in text:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    return lines


def manual_root(path: str) -> str:
    """The manual tree a page belongs to: the parent of its ``manN`` directory."""
    return os.path.dirname(os.path.dirname(os.path.abspath(path)))


def follow_links(path: str) -> str:
    """The file a page name leads to through symbolic links, keeping the caller's spelling
    of the directories (so reported paths stay the ones the user typed)."""
    seen = 0
    while os.path.islink(path):
        seen += 1
        if seen > MAX_SYMLINKS:
            raise InputError(path, 1, 1, "too many levels of symbolic links")
        target = os.readlink(path)
        path = os.path.normpath(os.path.join(os.path.dirname(path), target))
    return path


def load(path: str | os.PathLike) -> Source:
    """Read the page at `path` (following a symbolic link and any ``.so``)."""
    path = os.fspath(path)
    target = follow_links(path)
    via = Origin(path, 1, 1) if target != path else None
    return _Loader(path).run(SourceFile(target, via), None)


def load_text(text: str, path: str = "<string>") -> Source:
    """Lines of roff text given directly; ``.so`` resolves against the tree `path` would be in."""
    return _Loader(path).run(SourceFile(path), text)


class _Loader:
    def __init__(self, path: str):
        self.source = Source(path=path, resolved=path)
        self.reading: list[str] = []  # real paths of the files being read, outermost first

    def run(self, top: SourceFile, text: str | None) -> Source:
        self.source.resolved = top.path
        self._read(top, text, 0)
        return self.source

    def _read(self, sfile: SourceFile, text: str | None, depth: int) -> None:
        if text is None:
            text, bad = read_text(sfile.path)
            if bad is not None:
                self.source.notes.append((sfile.origin(*bad), "not UTF-8; read as latin-1"))
        lines = split_lines(text)
        parts = self.source.parts
        if not _may_include(text):
            parts.append((sfile, 1, lines))
            return
        self.reading.append(os.path.realpath(sfile.path))
        only_link = sfile.path == self.source.resolved and _is_link_page(lines)
        first = 0
        for index, line in enumerate(lines):
            if line[:1] in ".'" and _SO_RE.match(line):
                if index > first:
                    parts.append((sfile, first + 1, lines[first:index]))
                first = index + 1
                included = self._resolve(sfile, line, index + 1, depth)
                if only_link:
                    self.source.resolved = included.path
                self._read(included, None, depth + 1)
        if first < len(lines):
            parts.append((sfile, first + 1, lines[first:]))
        self.reading.pop()

    def _resolve(self, sfile: SourceFile, line: str, number: int, depth: int) -> SourceFile:
        match = _SO_RE.match(line)
        col = match.end() + 1
        name = line[match.end():]
        comment = name.find('\\"')
        if comment >= 0:
            name = name[:comment]
        name = name.strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = name[1:-1]
        if not name:
            raise InputError(sfile.path, number, col, ".so without a file name")
        if depth + 1 > MAX_INCLUDE_DEPTH:
            raise InputError(sfile.path, number, col, f".so nested more than {MAX_INCLUDE_DEPTH} deep: {name}")
        root = manual_root(sfile.path)
        target = os.path.normpath(os.path.join(root, name))
        if os.path.isabs(name) or not target.startswith(os.path.join(root, "")):
            raise InputError(sfile.path, number, col, f".so target outside the manual tree: {name}")
        candidates = [target[:-3], target] if target.endswith(".gz") else [target, target + ".gz"]
        for candidate in candidates:
            if os.path.isfile(candidate):
                break
        else:
            raise InputError(sfile.path, number, col, f".so target not found: {name}")
        real = os.path.realpath(candidate)
        if not real.startswith(os.path.join(os.path.realpath(root), "")):
            raise InputError(sfile.path, number, col,
                             f".so target outside the manual tree: {name} (a symbolic link leads out of it)")
        if real in self.reading:
            chain = self.reading[self.reading.index(real):] + [real]
            shown = " -> ".join(os.path.relpath(p, root) for p in chain)
            raise InputError(sfile.path, number, col, f".so loop: {shown}")
        return SourceFile(candidate, sfile.origin(number, 1))


def _may_include(text: str) -> bool:
    """Whether some line may be a ``.so`` request (cheap substring tests before the regex)."""
    starts = ("\n.so", "\n'so", "\n. ", "\n.\t", "\n' ", "\n'\t")
    if not (text.startswith((".so", "'so", ". ", "' ", ".\t", "'\t")) or any(s in text for s in starts)):
        return False
    return _SO_LINE_RE.search(text) is not None


def _is_link_page(lines: list[str]) -> bool:
    """True when the page is nothing but one ``.so`` (and comments): it *is* the page it names."""
    requests = [line for line in lines if not _COMMENT_OR_BLANK_RE.match(line)]
    return len(requests) == 1 and _SO_RE.match(requests[0]) is not None
