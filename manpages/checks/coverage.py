"""Coverage rules (MM2xx): the page's ERRORS, flags and "since" notes against the spec.

Each rule judges the calls the page documents (its NAME list) that the spec models
as system calls and that exist in the profile's kernel; a call newer than the
profile (mlock2 judged against 4.3) is left alone, since a page may document calls
newer than the kernel it is read against.
"""

from __future__ import annotations

import re

from mmsem.manpages.extract import leading_names
from mmsem.manpages.rules import Report, rule
from mmsem.spec.model import parse_version

from ._model import (call_flagsets, documented_calls, errno_causes, exists_in, flag_available, flag_prefix,
                     flag_required, known_name)

_NOT_LINUX_RE = re.compile(r"not (?:on|in|under) linux", re.IGNORECASE)
_UNTIL_RE = re.compile(r"(?:linux|kernels?) (\d+(?:\.\d+)*) (?:and|or) (?:earlier|before|older)"
                       r"|(?:up to|until)(?: and including)? linux (\d+(?:\.\d+)*)", re.IGNORECASE)
_BEFORE_RE = re.compile(r"before linux (\d+(?:\.\d+)*)", re.IGNORECASE)
_FROM_RE = re.compile(r"(?:since|from|after) linux (\d+(?:\.\d+)*)|linux (\d+(?:\.\d+)*) and later",
                      re.IGNORECASE)


def _version(text: str) -> tuple:
    return parse_version(text)


def entry_applies(entry, profile) -> bool:
    """Whether an ERRORS entry speaks about the profile's kernel, by its qualifiers.

    "(Not on Linux)" speaks about other systems; "(Linux 2.4 and earlier)" and
    "(before Linux 2.6.9)" about older kernels; "(since Linux 4.7)" and "(Linux
    2.6.9 and later)" about newer ones. Other qualifiers ("for MADV_COLLAPSE") do
    not restrict the version.
    """
    version = profile.version
    for qualifier in entry.qualifiers:
        if _NOT_LINUX_RE.search(qualifier):
            return False
        m = _UNTIL_RE.search(qualifier)
        if m and version[:len(_version(m.group(1) or m.group(2)))] > _version(m.group(1) or m.group(2)):
            return False
        m = _BEFORE_RE.search(qualifier)
        if m and version >= _version(m.group(1)):
            return False
        m = _FROM_RE.search(qualifier)
        if m and version < _version(m.group(1) or m.group(2)):
            return False
    return True


def _judged_calls(ctx) -> list:
    return [entry for entry in documented_calls(ctx) if exists_in(entry, ctx.profile)]


def _call(name: str) -> str:
    return f"{name}()"


def _calls(names) -> str:
    names = [_call(name) for name in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


@rule("MM201", "warning", "coverage")
def check_undocumented_errno(ctx):
    """A call can fail with an errno that ERRORS does not document for it.

    The errnos come from the spec (checks, raises of primitives, procedures,
    per-value rejects; see the spec's program of the call). An entry documents an
    errno for a call when it names the call in its scope, "(mlock(), mlock2())", or
    has no scope, and when its version qualifiers include the profile's kernel
    ("(Linux 2.4 and earlier)" does not speak about 6.18). Reported at the ERRORS
    heading, once per call and errno.
    """
    doc = ctx.document
    section = doc.section("ERRORS")
    if section is None:
        return  # missing-section reports the page as a whole
    entries = [entry for entry in doc.errors if entry_applies(entry, ctx.profile)]
    for call in _judged_calls(ctx):
        causes = errno_causes(ctx.spec, ctx.profile, call.name)
        for errno in sorted(causes):
            if any(entry.errno == errno and (not entry.scope or call.name in entry.scope) for entry in entries):
                continue
            yield Report(section.origin, f"{_call(call.name)} can fail with {errno} ({causes[errno][0]} in the "
                                         f"spec), but ERRORS does not document it", f"{call.name}/{errno}")


@rule("MM202", "info", "coverage")
def check_unproducible_errno(ctx):
    """ERRORS documents an errno that the spec never lets the call fail with.

    An entry scoped to calls, "(mlock(), mlock2(), and munlock())", is judged for
    each modelled call it names; an entry without scope only when the spec models
    every call of the page, and then if none of them can fail that way. Entries
    about other kernels or systems ("(Not on Linux)") are skipped, and so are the
    errors the spec lists as real but left out of the model on purpose
    (``unmodelled_errors``: file-system and configuration errors such as ENODEV).
    """
    doc = ctx.document
    judged = {entry.name: entry for entry in _judged_calls(ctx)}
    whole_page = bool(doc.names) and all(name in judged for name in doc.names)

    def possible(errno, name):
        return errno in errno_causes(ctx.spec, ctx.profile, name) or any(
            e.errno == errno for e in ctx.spec.syscalls[name].unmodelled_errors)

    for entry in doc.errors:
        if not entry_applies(entry, ctx.profile):
            continue
        if entry.scope:
            for name in entry.scope:
                if name in judged and not possible(entry.errno, name):
                    yield Report(entry.origin, f"{entry.errno} is documented for {_call(name)}, but the spec "
                                               f"never lets {_call(name)} fail with it", f"{name}/{entry.errno}")
        elif whole_page and not any(possible(entry.errno, name) for name in judged):
            yield Report(entry.origin, f"{entry.errno} is documented, but the spec never lets "
                                       f"{_calls(doc.names)} fail with it", entry.errno)


def tagged_names(doc):
    """(name, Origin, paragraph) of every name a tag outside ERRORS starts with."""
    for section in doc.sections:
        if section.name == "ERRORS":
            continue
        for paragraph in section.paragraphs:
            if paragraph.tag is not None:
                for name, at in leading_names(paragraph.tag.text):
                    yield name, paragraph.tag.origin_at(at), paragraph


@rule("MM203", "warning", "coverage")
def check_undocumented_flag(ctx):
    """A flag of the spec that a documented call takes has no tagged description.

    Every flag (or advice value) of the flag sets of the page's calls is described
    in a tagged paragraph (``.TP`` then ``.B MAP_LOCKED``), except flags the spec
    marks undocumented (MAP_DENYWRITE), flags newer than the profile's kernel, and
    flags of a shared set that only another call acts on. Reported at the first
    flag of the same set that the page describes.
    """
    doc = ctx.document
    described: dict = {}
    for name, origin, _ in tagged_names(doc):
        described.setdefault(name, origin)
    reported = set()
    for call in _judged_calls(ctx):
        for flagset in call_flagsets(ctx.spec, call):
            anchor = next((described[f.name] for f in flagset.flags if f.name in described), None)
            if anchor is None:
                section = doc.section("DESCRIPTION") or (doc.sections[0] if doc.sections else None)
                if section is None:
                    continue
                anchor = section.origin
            for flag in flagset.flags:
                if (flag.name in described or flag.name in reported or not flag_available(flag, ctx.profile)
                        or not flag_required(ctx.spec, call, flagset, flag)):
                    continue
                reported.add(flag.name)
                since = f" (since Linux {flag.since_text})" if flag.since else ""
                yield Report(anchor, f"{flag.name}{since} is a flag of {_call(call.name)} that the page does "
                                     f"not describe", flag.name)


@rule("MM204", "warning", "coverage")
def check_unknown_flag(ctx):
    """The page describes a flag the spec does not know.

    A tagged name with the prefix of a flag set of the page's calls (MAP_, PROT_,
    MLOCK_, MCL_, MREMAP_, MADV_) must be a flag, an advice value or a constant of
    the spec (generated from the kernel headers or declared with a source): a name
    the spec lacks is a typo, a flag of another system, or one the spec should
    declare.
    """
    prefixes = {flag_prefix(flagset) for entry in documented_calls(ctx)
                for flagset in call_flagsets(ctx.spec, entry)} - {""}
    if not prefixes:
        return
    for name, origin, _ in tagged_names(ctx.document):
        if name.startswith(tuple(prefixes)) and not known_name(ctx.spec, name):
            yield Report(origin, f"{name} is not a flag or constant the spec knows", name)


#: An upper-case constant name with an underscore, as running text writes it (not a
#: function "FOO_BAR(" nor part of a longer word).
_CONSTANT_RE = re.compile(r"(?<![\w-])[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9](?![\w(])")


def _constant_families(ctx) -> tuple:
    """The name prefixes of the page's flag sets (MAP_, MADV_), and their POSIX
    counterparts (POSIX_MADV_) where the spec knows a constant of that family."""
    prefixes = {flag_prefix(flagset) for entry in documented_calls(ctx)
                for flagset in call_flagsets(ctx.spec, entry)} - {""}
    posix = {f"POSIX_{p}" for p in prefixes}
    posix = {p for p in posix if any(name.startswith(p) for name in ctx.spec.constants)}
    return tuple(sorted(prefixes | posix))


@rule("MM207", "warning", "coverage")
def check_unknown_constant(ctx):
    """The text names a constant of a flag family of the page that does not exist.

    A name in running text (outside SYNOPSIS) with the prefix of a flag set of the
    page's calls (MAP_, MADV_, ...), or the POSIX counterpart of one that the spec
    knows (POSIX_MADV_), must be a flag, value or constant of the spec: generated
    from the kernel headers or declared with its source (the C library's too). A
    name that is none of them exists nowhere: a typo, or a constant of another
    interface (POSIX_FADV_NOREUSE is posix_fadvise's; there is no POSIX_MADV_NOREUSE).
    Names a tag describes are MM204's; each unknown name is reported once, where
    the text first names it.
    """
    families = _constant_families(ctx)
    if not families:
        return
    tagged = {name for name, _, _ in tagged_names(ctx.document)}
    reported = set()
    for section in ctx.document.sections:
        if section.name == "SYNOPSIS":
            continue
        for paragraph in section.paragraphs:
            text = paragraph.body.text
            if paragraph.kind == "literal" or "_" not in text:
                continue
            for m in _CONSTANT_RE.finditer(text):
                name = m.group(0)
                if (name in reported or name in tagged or not name.startswith(families)
                        or known_name(ctx.spec, name)):
                    continue
                reported.add(name)
                family = next(f for f in families if name.startswith(f))
                yield Report(paragraph.body.origin_at(m.start()),
                             f"{name} is not one of the {family}* constants (of the kernel or C library "
                             f"headers) that the spec knows", name)


#: "there is no glibc wrapper for", "glibc does not provide a wrapper for", "has no C library wrapper".
_NO_WRAPPER_RE = re.compile(
    r"\b(?:no|not an?|without an?)\s+(?:glibc|c library|libc)\s+wrappers?"
    r"|\b(?:glibc|the c library|libc)\s+(?:does|did)\s+not\s+(?:yet\s+|currently\s+)?provide\s+(?:an?\s+)?wrappers?",
    re.IGNORECASE)
#: A sentence that dates itself by a C library version ("before glibc 2.27") is history.
_LIBC_VERSION_RE = re.compile(r"\b(?:glibc|c library|libc)\s+(?:version\s+)?\d", re.IGNORECASE)


@rule("MM208", "warning", "coverage")
def check_stale_wrapper_note(ctx):
    """The text says a call has no glibc wrapper, but glibc has provided one for years.

    A sentence that says there is no glibc (C library) wrapper and names a call
    that spec/libc.yaml lists, with the glibc release that added its wrapper, is
    stale: "there is not a glibc wrapper for mlock2(), so it will need to be invoked
    using syscall(2)" stopped being true with glibc 2.27. A sentence that names a
    glibc version ("before glibc 2.27, there was no wrapper") is history, not a
    claim about today's library, and is left alone.
    """
    from mmsem.manpages.claims.text import sentences

    wrappers = ctx.spec.libc_wrappers  # spec/libc.yaml
    if not wrappers:
        return
    for section in ctx.document.sections:
        for paragraph in section.paragraphs:
            text = paragraph.body.text
            if (paragraph.kind == "literal" or "wrapper" not in text or not any(call in text for call in wrappers)
                    or not _NO_WRAPPER_RE.search(text)):
                continue
            for sentence in sentences(paragraph.body):
                m = _NO_WRAPPER_RE.search(sentence.text)
                if m is None or _LIBC_VERSION_RE.search(sentence.text):
                    continue
                for call, (version, _) in wrappers.items():
                    if re.search(rf"(?<![\w-]){re.escape(call)}(?![\w-])", sentence.text):
                        yield Report(sentence.origin_at(m.start()),
                                     f"glibc has provided a wrapper for {call}() since glibc {version}", call)


def _subjects(ctx) -> dict:
    """Names whose "since" the spec knows: the page's calls and their flags -> (kind, since)."""
    out: dict = {}
    for entry in documented_calls(ctx):
        out[entry.name] = ("call", entry.since)
        for flagset in call_flagsets(ctx.spec, entry):
            for flag in flagset.flags:
                out.setdefault(flag.name, ("flag", flag.since))
    return out


def _same_version(a: tuple, b: tuple) -> bool:
    def strip(v):
        v = list(v)
        while len(v) > 2 and v[-1] == 0:
            v.pop()
        return tuple(v)
    return strip(a) == strip(b)


@rule("MM205", "warning", "coverage")
def check_since_mismatch(ctx):
    """A "(since Linux X)" note disagrees with the spec's version for that flag or call.

    Only names the spec gives a version are judged; a note on a flag the spec
    dates from the beginning is not.

    Bad:  .BR MCL_ONFAULT " (since Linux 4.5)"   (the spec says 4.4)
    """
    subjects = _subjects(ctx)
    for note in ctx.document.since:
        kind, since = subjects.get(note.subject, (None, None))
        if since is None:
            continue
        if not _same_version(_version(note.version), since):
            spec_version = ".".join(map(str, since))
            yield Report(note.origin, f"the page dates {note.subject} from Linux {note.version}, the spec from "
                                      f"Linux {spec_version}", note.subject)


@rule("MM206", "info", "coverage")
def check_missing_since(ctx):
    """A flag newer than its call is described without a "(since Linux X)" note.

    Readers need to know which kernels accept a flag that came after the call
    itself (MAP_FIXED_NOREPLACE, 4.17); a flag as old as its call needs no note.
    """
    doc = ctx.document
    noted = {note.subject for note in doc.since}
    flags = {}
    for entry in documented_calls(ctx):
        for flagset in call_flagsets(ctx.spec, entry):
            for flag in flagset.flags:
                if flag.since and (entry.since is None or flag.since > entry.since):
                    flags.setdefault(flag.name, flag)
    seen = set()
    for name, origin, _ in tagged_names(doc):
        if name in flags and name not in noted and name not in seen:
            seen.add(name)
            yield Report(origin, f"{name} came in Linux {flags[name].since_text}, but its description has no "
                                 f"\"since\" note", name)
