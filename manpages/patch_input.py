"""Patches as mailed: ``git format-patch`` mails, mbox series, plain unified diffs.

:func:`read_patches` turns one input (a file, or ``-`` for standard input) into a list
of :class:`Patch` values, one per mail, in the order of the series. Mails are parsed
with the standard library's :mod:`email` package; their bodies may be 7bit, 8bit,
quoted-printable or base64, in any charset, and the diff may sit in the body or in an
attachment. Hunks are parsed by ``unidiff``. Every diff line keeps the line of the
input file it was read from (``patch_line``), so a finding can point into the mail:
for quoted-printable bodies that is the line the decoded line starts on, for base64
bodies the encoded line holding its first byte.

Anything that is not a patch, or a mail or hunk cut short, is a :class:`PatchError`,
one line ``PATCH:LINE: message``. Nothing is written.
"""

from __future__ import annotations

import binascii
import email
import email.policy
import io
import re
import sys
from dataclasses import dataclass, field

from unidiff import PatchSet, UnidiffParseError

from mmsem.spec.source import InputError, one_line

#: The mbox separator as ``git format-patch`` and mail clients write it:
#: "From <sender or commit> <asctime date>". Requiring the date keeps a commit message
#: line that happens to start with "From " inside its mail (git mailsplit does the same).
_FROM_LINE_RE = re.compile(rb"^From \S+ +[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d\d:\d\d(?::\d\d)? (?:\S+ )?\d{4}")
_HEADER_RE = re.compile(rb"^[!-9;-~]+:")  # an RFC 5322 header field name and its colon
_MAIL_HEADERS = (b"from:", b"subject:", b"date:", b"message-id:", b"return-path:", b"received:",
                 b"mime-version:", b"to:", b"delivered-to:")
_DIFF_START_RE = re.compile(r"^(?:diff --git |diff -|--- |Index: )")
_HUNK_RE = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@")
_FILE_RE = re.compile(r"^(?:diff --git \S+ (?P<git>\S+)|\+\+\+ (?P<plus>[^\t\n]+))")
#: git's path prefixes: a/ b/ by default, c/ i/ o/ w/ 1/ 2/ with diff.mnemonicPrefix.
_PATH_PREFIX_RE = re.compile(r"^[abciow12]/")
#: Largest input read: mailed man-page patches are kilobytes; this stops a runaway pipe.
MAX_BYTES = 64 * 1024 * 1024


class PatchError(InputError):
    """Bad patch input, shown as ``PATCH:LINE: message`` (the column would say nothing)."""

    def __str__(self) -> str:
        return f"{one_line(self.path)}:{self.line}: {one_line(self.message)}"


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "+", "-" or " "
    text: str  # the page line, without the marker or the newline
    patch_line: int  # line of the input file


@dataclass
class Hunk:
    number: int  # 1-based, counted within its file diff
    old_start: int
    old_length: int
    new_start: int
    new_length: int
    header_line: int  # input line of the @@ header
    lines: list = field(default_factory=list)  # DiffLine


@dataclass
class FileDiff:
    old_path: str | None  # as in the tree (a/ b/ stripped); None when the patch creates the file
    new_path: str | None  # None when the patch deletes the file
    header_line: int  # input line where the file's diff starts
    hunks: list = field(default_factory=list)
    binary: bool = False

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


@dataclass
class Patch:
    """One patch of a series: a mail, or a whole plain diff."""

    source: str  # the input as named to the user ("<stdin>" for -)
    subject: str  # the mail's Subject, "" for a plain diff
    first_line: int  # input line where the mail (or diff) starts
    files: list = field(default_factory=list)  # FileDiff


# -- reading --------------------------------------------------------------------------------

def read_patches(argument: str) -> list[Patch]:
    """The patches in one input: a file path, or ``-`` for standard input."""
    if argument == "-":
        name = "<stdin>"
        raw = sys.stdin.buffer.read(MAX_BYTES + 1)
    else:
        name = argument
        try:
            with open(argument, "rb") as handle:
                raw = handle.read(MAX_BYTES + 1)
        except OSError as exc:
            raise PatchError(name, 1, 1, f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise PatchError(name, 1, 1, f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
    return parse_patches(raw, name)


def parse_patches(raw: bytes, name: str) -> list[Patch]:
    """The patches in `raw`, the bytes of an input called `name`."""
    lines = io.BytesIO(raw).readlines()  # only a newline ends a line, as in the page and git
    if not raw.strip():
        raise PatchError(name, 1, 1, "not a patch: the input is empty")
    if _FROM_LINE_RE.match(lines[0]):
        starts = [i for i, line in enumerate(lines)
                  if _FROM_LINE_RE.match(line) and (i == 0 or not lines[i - 1].strip())]
        bounds = zip(starts, starts[1:] + [len(lines)])
        return [_mail(lines, start + 1, end, name) for start, end in bounds]
    if _looks_like_headers(lines):
        return [_mail(lines, 0, len(lines), name)]
    text_lines = [_decode(line, "utf-8") for line in lines]
    return [_patch(name, "", 1, text_lines, list(range(1, len(lines) + 1)))]


def _looks_like_headers(lines: list[bytes]) -> bool:
    """True when the input starts with a mail header block (a saved .eml, not an mbox)."""
    known = False
    for line in lines:
        if not line.strip():
            return known
        if line[:1] in (b" ", b"\t"):
            continue  # a folded header line
        if not _HEADER_RE.match(line):
            return False
        known = known or line.lower().startswith(_MAIL_HEADERS)
    return False


def _decode(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset)
    except (UnicodeDecodeError, LookupError):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")


# -- mails ----------------------------------------------------------------------------------

def _mail(lines: list[bytes], start: int, end: int, name: str) -> Patch:
    """The patch in the mail held by lines[start:end] (0-based; start is its first header)."""
    body = _body_start(lines, start, end)
    if body is None:
        raise PatchError(name, start + 1, 1, "truncated mail: the headers end without a body")
    message = email.message_from_bytes(b"".join(lines[start:end]), policy=email.policy.default)
    subject = " ".join(str(message.get("subject", "")).split())
    text_lines: list[str] = []
    numbers: list[int] = []
    for part, first, last in _leaves(message, lines, body, end):
        if part.get_content_maintype() != "text" and part.get_content_type() != "application/octet-stream":
            continue
        decoded, where = _decode_part(part, lines, first, last, name)
        if any(_DIFF_START_RE.match(line) for line in decoded):
            text_lines.extend(decoded)
            numbers.extend(where)
    return _patch(name, subject, start + 1, text_lines, numbers)


def _body_start(lines: list[bytes], start: int, end: int) -> int | None:
    """Index of the first body line: after the blank line that ends the headers."""
    for i in range(start, end):
        if not lines[i].strip():
            return i + 1
    return None


def _leaves(part, lines: list[bytes], first: int, last: int):
    """(part, first body line, end) of every non-multipart part, in order.

    email keeps no positions, so the raw lines of each part are found again by their
    MIME boundaries; where that fails the parts are placed at the start of the body.
    """
    if not part.is_multipart():
        yield part, first, last
        return
    boundary = part.get_boundary()
    children = part.get_payload()
    if boundary:
        delimiter = b"--" + boundary.encode("ascii", "replace")
        marks = [i for i in range(first, last) if lines[i].rstrip() in (delimiter, delimiter + b"--")]
        regions = []
        for here, there in zip(marks, marks[1:]):
            body = _body_start(lines, here + 1, there)
            if body is not None:
                regions.append((body, there))
        if len(regions) == len(children):
            for child, (start, end) in zip(children, regions):
                yield from _leaves(child, lines, start, end)
            return
    for child in children:
        yield from _leaves(child, lines, first, last)


def _decode_part(part, lines: list[bytes], first: int, last: int, name: str) -> tuple[list[str], list[int]]:
    """The text lines of a leaf part and, for each, the input line it comes from (1-based)."""
    charset = part.get_content_charset() or "utf-8"
    encoding = str(part.get("content-transfer-encoding", "7bit")).strip().lower()
    raw = lines[first:last]
    if encoding == "base64":
        return _base64_lines(raw, first, charset, name)
    if encoding == "quoted-printable":
        return _qp_lines(raw, first, charset)
    if encoding not in ("7bit", "8bit", "binary"):
        raise PatchError(name, first + 1, 1, f"unsupported Content-Transfer-Encoding {encoding!r}")
    return [_decode(line, charset) for line in raw], list(range(first + 1, first + 1 + len(raw)))


def _qp_lines(raw: list[bytes], first: int, charset: str) -> tuple[list[str], list[int]]:
    """Quoted-printable, decoded one encoded line at a time: a soft line break ("=" at the
    end) joins the next line, so a decoded line starts on the line where its first byte was."""
    out, where = [], []
    pending, started = b"", None
    for index, line in enumerate(raw):
        decoded = binascii.a2b_qp(line)
        if started is None:
            started = first + index + 1
        pieces = decoded.split(b"\n")
        for piece in pieces[:-1]:
            out.append(_decode(pending + piece + b"\n", charset))
            where.append(started)
            pending, started = b"", first + index + 1
        pending += pieces[-1]
        if not pieces[-1] and len(pieces) > 1:
            started = None
    if pending:
        out.append(_decode(pending, charset))
        where.append(started or first + len(raw))
    return out, where


def _base64_lines(raw: list[bytes], first: int, charset: str, name: str) -> tuple[list[str], list[int]]:
    """A base64 body, decoded; a decoded line is placed on the encoded line holding its first byte."""
    chunks = [line.strip() for line in raw]
    try:
        data = binascii.a2b_base64(b"".join(chunks), strict_mode=True)
    except binascii.Error as exc:
        if sum(map(len, chunks)) % 4:  # base64 comes in groups of four: the rest was cut off
            raise PatchError(name, first + len(raw), 1, "truncated mail: the base64 body is cut short") from None
        raise PatchError(name, first + 1, 1, f"the base64 body does not decode: {exc}") from None
    ends, total = [], 0  # decoded bytes up to the end of each encoded line
    for chunk in chunks:
        total += len(chunk) * 3 // 4 - chunk.count(b"=")
        ends.append(total)
    out, where, offset, line_index = [], [], 0, 0
    for piece in io.BytesIO(data).readlines():
        while line_index < len(ends) - 1 and ends[line_index] <= offset:
            line_index += 1
        out.append(_decode(piece, charset))
        where.append(first + line_index + 1)
        offset += len(piece)
    return out, where


# -- diffs ----------------------------------------------------------------------------------

def _strip_prefix(path: str | None) -> str | None:
    if path is None or path == "/dev/null":
        return None
    if len(path) >= 2 and path[0] == path[-1] == '"':
        path = path[1:-1]
    return path[2:] if _PATH_PREFIX_RE.match(path) else path


def _patch(name: str, subject: str, first_line: int, text_lines: list[str], numbers: list[int]) -> Patch:
    """Parse the unified diff in text_lines (numbers[i] is the input line of text_lines[i])."""
    start = next((i for i, line in enumerate(text_lines) if _DIFF_START_RE.match(line)), None)
    if start is None:
        raise PatchError(name, first_line, 1, "not a patch: no unified diff in it")
    text_lines = [line if line.endswith("\n") else line + "\n" for line in text_lines[start:]]
    if all(line.endswith("\r\n") for line in text_lines):  # a mail gateway's CRLF line ends
        text_lines = [line[:-2] + "\n" for line in text_lines]
    numbers = numbers[start:]
    consumed = [0]

    def feed():
        for index, line in enumerate(text_lines):
            consumed[0] = index
            yield line

    try:
        parsed = PatchSet(feed())
    except UnidiffParseError as exc:
        raise _parse_error(exc, name, text_lines, numbers, consumed[0]) from None
    files = []
    for patched in parsed:
        header = getattr(patched, "diff_line_no", None)  # unidiff 0.7 does not say
        diff = FileDiff(_strip_prefix(patched.source_file), _strip_prefix(patched.target_file),
                        numbers[header - 1] if header else first_line, binary=patched.is_binary_file)
        for number, hunk in enumerate(patched, start=1):
            body = [line for line in hunk if line.line_type in ("+", "-", " ")]
            header_line = numbers[body[0].diff_line_no - 2] if body else diff.header_line
            if number == 1 and not header:
                diff.header_line = header_line
            converted = Hunk(number, hunk.source_start, hunk.source_length, hunk.target_start,
                             hunk.target_length, header_line)
            converted.lines = [DiffLine(line.line_type, line.value.rstrip("\n"), numbers[line.diff_line_no - 1])
                               for line in body]
            diff.hunks.append(converted)
        files.append(diff)
    if not files:
        raise PatchError(name, first_line, 1, "not a patch: no unified diff in it")
    return Patch(name, subject, first_line, files)


def _parse_error(exc: Exception, name: str, lines: list[str], numbers: list[int], index: int) -> PatchError:
    """A one-line error for a diff unidiff rejected at lines[index]."""
    hunk_at = next((i for i in range(index, -1, -1) if _HUNK_RE.match(lines[i])), None)
    if hunk_at is None:
        return PatchError(name, numbers[index], 1, f"not a valid patch: {exc}")
    file_at = next((i for i in range(hunk_at, -1, -1) if _FILE_RE.match(lines[i])), None)
    path = "the file"
    if file_at is not None:
        m = _FILE_RE.match(lines[file_at])
        path = _strip_prefix((m.group("git") or m.group("plus")).strip()) or "/dev/null"
    first = file_at if file_at is not None else 0
    number = sum(1 for i in range(first, hunk_at + 1) if _HUNK_RE.match(lines[i]))
    if "shorter than expected" in str(exc) and index == len(lines) - 1:
        return PatchError(name, numbers[hunk_at], 1,
                          f"truncated patch: the input ends inside hunk {number} of {path}")
    return PatchError(name, numbers[index], 1, f"hunk {number} of {path} is damaged: {_reason(exc)}")


def _reason(exc: Exception) -> str:
    text = str(exc)
    if text.startswith("Hunk diff line expected"):
        return "a line that does not start with ' ', '+' or '-' before the hunk's line counts are reached"
    if "shorter" in text:
        return "fewer lines than its @@ header counts"
    if "longer" in text:
        return "more lines than its @@ header counts"
    return text
