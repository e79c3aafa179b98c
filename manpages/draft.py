"""``mmsem draft``: man pages in the man-pages house style, from the spec alone.

    from mmsem.manpages.draft import Drafter
    text = Drafter().page("mlock.2")          # or Drafter().page(Drafter().resolve("munlock"))

A page holds the calls whose spec names it (``page: mlock.2``), in the sections
man-pages(7) orders: NAME, LIBRARY, SYNOPSIS, DESCRIPTION, RETURN VALUE, ERRORS,
VERSIONS, STANDARDS, HISTORY, NOTES, BUGS, EXAMPLES, SEE ALSO. Every sentence comes
from the spec's texts or is generated from its structured data (versions, scopes of
errors, flag sets); a section the spec has nothing for is left out (STANDARDS
leaves a FIXME comment naming the calls it cannot place).

The EXAMPLES program is C generated from one of the spec's example traces
(:mod:`.example_c`), and the output shown is the engine's prediction for the newest
kernel profile; tests run the program on the live kernel and compare.

Writing is atomic (a temporary file in the target directory, then a rename) and
never replaces a file unless asked to (:func:`write`).
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from pathlib import Path

from mmsem.spec import InputError, Spec, default_spec
from mmsem.spec.model import Flag, FlagSet, Syscall

from . import draft_spec
from .draft_roff import (MAX_LINE, Vocabulary, fit, capitalized, escape, listing, macro_argument, paragraph,
                         text_line, uncapitalized)
from .example_c import choose, examples_dir

SECTION_ORDER = ("NAME", "LIBRARY", "SYNOPSIS", "DESCRIPTION", "RETURN VALUE", "ERRORS", "VERSIONS",
                 "STANDARDS", "HISTORY", "NOTES", "BUGS", "EXAMPLES", "SEE ALSO")
TITLE_DATE = "(date)"  # man-pages' placeholder, filled in at release time
TITLE_SOURCE = "Linux man-pages (unreleased)"
#: Width of a SYNOPSIS line before a prototype is continued on the next line.
SYNOPSIS_WIDTH = 78
#: A description that starts with a verb ("Marks every mapping ...") gets the call as subject.
_VERB_START_RE = re.compile(r"^(?:[A-Z][a-z]+(?:s|es)|Like)\b")
_NOT_VERBS = frozenset({"This", "Its", "Is", "Has", "Was", "Does", "As", "Always", "Pages", "Mappings", "Flags",
                        "Errors", "Values"})


class Drafter:
    """Drafts pages from one spec; the engine (for the EXAMPLES output) is built on first use."""

    def __init__(self, spec: Spec | None = None, examples: Path | None = None):
        self.spec = spec or default_spec()
        self.examples = examples if examples is not None else examples_dir()
        self.pages = draft_spec.pages(self.spec)
        self._engine = None
        self.skipped: dict[str, dict[str, str]] = {}  # page -> example -> why it was not used

    @property
    def engine(self):
        if self._engine is None:
            from mmsem.semantics.engine import Engine
            self._engine = Engine(self.spec)
        return self._engine

    @property
    def profile(self) -> str:
        """The kernel the EXAMPLES output is for: the newest profile with an MMU."""
        candidates = [p for p in self.spec.profiles.values() if p.mmu]
        return max(candidates, key=lambda p: p.version).name

    # -- names ---------------------------------------------------------------------------------

    def known_names(self) -> list[str]:
        calls = [name for entry in self.pages.values() for name in (e.name for e in entry)]
        return sorted(set(self.pages) | set(calls))

    def resolve(self, name: str) -> str:
        """The page for a system call (``munlock``) or page name (``mlock.2``, ``mlock``)."""
        if name in self.pages:
            return name
        for page, calls in self.pages.items():
            if any(entry.name == name for entry in calls):
                return page
        close = difflib.get_close_matches(name, self.known_names(), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise InputError(name, 1, 1, f"not a modelled page or system call ({hint}known: "
                                     f"{', '.join(self.known_names())})")

    # -- the page ------------------------------------------------------------------------------

    def page(self, page: str) -> str:
        calls = self.pages[page]
        builder = _Page(self, page, calls)
        return builder.render()


class _Lines(list):
    """Source lines of one section being written."""

    def __init__(self, page: "_Page"):
        super().__init__()
        self.page = page

    def para(self) -> None:
        """Start a new paragraph, unless a heading or list item just started one."""
        if self and not self[-1].startswith((".SH", ".SS", ".TP", ".P", ".IP")):
            self.append(".P")

    def text(self, text: str, calls=None) -> None:
        """Spec prose, in the fonts of the page's words; `calls` are the calls it is about
        (their arguments are set in italic), all of the page's by default."""
        self.extend(paragraph(text, self.page.vocabulary_for(calls)))

    def comment(self, text: str) -> None:
        self.append(f'.\\" {text}')


class _Page:
    """One page being written: its calls and the fonts of its words."""

    def __init__(self, drafter: Drafter, page: str, calls: list[Syscall]):
        self.drafter = drafter
        self.spec = drafter.spec
        self.page = page
        self.calls = calls
        self.names = [entry.name for entry in calls]
        self.title, self.section = page.rsplit(".", 1)
        self.functions = {}
        for entry in self.spec.syscalls.values():
            if entry.kind == "syscall" and entry.page:
                self.functions[entry.name] = "()" if entry.page == page else f"({entry.page.rsplit('.', 1)[1]})"
        for entry in calls:
            for name in entry.see_also:
                self.functions.setdefault(name, "(2)")
        self.rename: dict[str, str] = {}
        for entry in calls:
            for old, new in draft_spec.renames(entry).items():
                self.rename.setdefault(old, new)
        self.cited: set = set()
        self._vocabularies: dict = {}
        version = drafter.spec.profile(drafter.profile).version
        self.properties = draft_spec.page_properties(self.spec, calls, version)

    def vocabulary_for(self, calls=None) -> Vocabulary:
        """The fonts for a text about `calls` (names; None: the whole page): their arguments
        in italic, under the prototype's names."""
        key = tuple(calls) if calls is not None else tuple(self.names)
        if key not in self._vocabularies:
            entries = [self.spec.syscalls[name] for name in key if name in self.spec.syscalls]
            args = {self.rename.get(arg.name, arg.name) for entry in entries for arg in entry.args}
            self._vocabularies[key] = Vocabulary(
                functions=self.functions, italic=args | {"errno"},
                bold=set(self.spec.errnos) | set(self.spec.signals),
                rename={old: new for old, new in self.rename.items() if new in args}, cited=self.cited)
        return self._vocabularies[key]

    def lines(self) -> _Lines:
        return _Lines(self)

    def scope_prefix(self, calls: tuple[str, ...]) -> str:
        """"(mlock(), mlock2(), and munlock()) " before an ERRORS entry that concerns some of the
        page's calls only."""
        if len(self.calls) == 1 or set(calls) == set(self.names):
            return ""
        return f"({listing([name + '()' for name in calls])}) "

    # -- sections ------------------------------------------------------------------------------

    def render(self) -> str:
        files = [Path(entry.origin.path).name for entry in self.calls]
        out = [f'.\\" Drafted by "mmsem draft" from the mmsem spec ({", ".join(files)}).',
               '.\\" Edit the spec and draft again rather than this file.',
               f'.TH {self.title} {self.section} {TITLE_DATE} "{TITLE_SOURCE}"']
        for name in SECTION_ORDER:
            lines = getattr(self, "section_" + name.lower().replace(" ", "_"))()
            if lines is not None and not all(line.startswith('.\\"') for line in lines):
                out.append(f".SH {name}")
            out.extend(lines or ())  # a section of comments only (a FIXME) stays in the source, unheaded
        return "\n".join(out) + "\n"

    def section_name(self) -> list[str]:
        # The spec has no page-level summary: the call named like the page gives it.
        lead = next((e for e in self.calls if e.name == self.title), self.calls[0])
        line = f"{', '.join(self.names)} \\- {escape(lead.summary)}"
        if len(line) <= MAX_LINE:
            return [line]
        return [f"{', '.join(self.names)} \\-"] + [text_line(" ".join(run)) for run in fit(lead.summary.split())]

    def section_library(self) -> list[str]:
        return ["Standard C library", ".RI ( libc ,\\~ \\-lc )"]

    def section_synopsis(self) -> list[str]:
        out = [".nf"]
        headers: dict[str, list[Syscall]] = {}
        for entry in self.calls:
            headers.setdefault(entry.header or "<unistd.h>", []).append(entry)
        for i, (header, entries) in enumerate(headers.items()):
            if i:
                out.append(".P")
            out += [f".B #include {header}", ".P"]
            for entry in entries:
                out.extend(prototype_lines(entry.prototype))
        out.append(".fi")
        return out

    def section_description(self) -> list[str]:
        out = self.lines()
        for entry in self.calls:
            if len(self.calls) > 1:
                out.append(f".SS {entry.name}()")
            out.text(with_subject(entry.name, entry.description), [entry.name])
            for prop in self.properties.get(entry.name, ()):
                out.para()
                out.text(prop.statement, [entry.name])
            for arg, flagset in draft_spec.flagsets(self.spec, entry):
                self.flag_list(out, entry, arg, flagset)
            self.early_returns(out, entry)
        return out

    def flag_list(self, out: _Lines, entry: Syscall, arg_name: str, flagset: FlagSet) -> None:
        arg = entry.arg(arg_name)
        shown = self.rename.get(arg_name, arg_name)
        calls = [entry.name]
        out.para()
        intro = arg.text if arg is not None and arg.text else f"a combination of the flags of {flagset.name}"
        out.text(f"{shown} is {intro.rstrip('.')}.", calls)
        fields = [flag for flag in flagset.flags if flag.field]
        others = [flag for flag in flagset.flags if not flag.field]
        for field_name in dict.fromkeys(flag.field for flag in fields):
            out.para()
            out.text(f"The {field_name} bits of {shown} hold exactly one of:", calls)
            for flag in (f for f in fields if f.field == field_name):
                self.flag_item(out, flag, calls)
        if fields and others:
            out.para()
            out.text(f"Any of the following can be ORed into {shown}:", calls)
        for flag in others:
            self.flag_item(out, flag, calls)

    def flag_item(self, out: _Lines, flag: Flag, calls: list[str]) -> None:
        out.append(".TP")
        if flag.since:
            out.append(f'.BR {flag.name} " (since Linux {flag.since_text})"')
        else:
            out.append(f".B {flag.name}")
        out.text(capitalized(flag.brief), calls)
        if flag.text:
            out.text(flag.text, calls)
        for reject in flag.rejects:
            since = getattr(reject, "since", None)
            lead = f"Since Linux {'.'.join(map(str, since))}, the" if since else "The"
            out.text(f"{lead} call fails with {reject.errno} when {reject.text.rstrip('.')}.", calls)
        for prop in self.properties.get(flag.name, ()):
            out.append(".IP")
            out.text(prop.statement, calls)

    def early_returns(self, out: _Lines, entry: Syscall) -> None:
        """The cases in which a call returns before it changes anything (brk's refusals)."""
        texts = []
        for step in entry.program:
            if step.op in ("do", "call"):
                break
            if step.op == "return" and step.text:
                texts.append(step.text)
        if not texts:
            return
        out.para()
        out.text(f"{entry.name}() changes nothing and returns at once when:", [entry.name])
        for text in texts:
            out.append(".IP \\[bu] 3")
            out.text(text, [entry.name])

    def section_return_value(self) -> list[str] | None:
        groups: dict[str, list[str]] = {}
        for entry in self.calls:
            if entry.returns:
                groups.setdefault(entry.returns.strip(), []).append(entry.name)
        if not groups:
            return None
        out = self.lines()
        for returns, names in groups.items():
            out.para()
            if uncapitalized(returns) != returns:  # a sentence of its own ("The system call returns ...")
                out.text(returns, names)
                continue
            verb = "returns" if len(names) == 1 else "return"  # a fragment: "0 on success; ..."
            out.text(f"{listing([name + '()' for name in names])} {verb} {returns}", names)
        return out

    def section_errors(self) -> list[str] | None:
        causes = draft_spec.error_causes(self.spec, self.calls)
        if not causes:
            return None
        out = self.lines()
        previous = None
        for cause in causes:
            key = (cause.errno, cause.calls, cause.qualifier)
            if key != previous:
                out += [".TP", f".B {cause.errno}"]
                qualifier = f"({cause.qualifier}) " if cause.qualifier else ""
                out.text(self.scope_prefix(cause.calls) + qualifier + cause.text, cause.calls)
                previous = key
            else:
                out.append(".IP")
                out.text(cause.text, cause.calls)
        return out

    def section_versions(self) -> list[str] | None:
        traits = draft_spec.page_traits(self.spec, self.calls)
        nommu = [entry.name for entry in self.calls if getattr(entry, "nommu", None) == "enosys"]
        if not traits and not nommu:
            return None
        out = self.lines()
        for trait in traits:
            out.para()
            if trait.commit:
                out.comment(f"commit {trait.commit}")
            if trait.since:
                lead = f"Since Linux {'.'.join(map(str, trait.since))}, "
            else:
                lead = f"Before Linux {'.'.join(map(str, trait.until))}, "
            out.text(lead + uncapitalized(trait.text))
        if nommu:
            out.para()
            out.text(f"Kernels built without an MMU do not have {listing([n + '()' for n in nommu])}; "
                     f"{'it fails' if len(nommu) == 1 else 'they fail'} with ENOSYS there.")
        return out

    def section_standards(self) -> list[str]:
        """Calls that share their standards are tagged together (.TQ), in page order."""
        groups: dict[str, list[str]] = {}
        unknown = []
        for entry in self.calls:
            if entry.standards is not None:  # an empty list: no standard covers the call
                groups.setdefault(", ".join(entry.standards) or "None", []).append(entry.name)
            elif entry.since:
                groups.setdefault("Linux", []).append(entry.name)  # added by a Linux version
            else:
                unknown.append(entry.name)
        out = self.lines()
        for standards, names in groups.items():
            if len(self.calls) > 1:
                for i, name in enumerate(names):
                    out += [".TQ" if i else ".TP", f".BR {name} ()"]
            out.text(f"{standards}.")
        if unknown:
            verb = "conforms" if len(unknown) == 1 else "conform"
            out.comment(f"FIXME: the spec does not say which standards {listing(unknown)} {verb} to.")
        return out

    def section_history(self) -> list[str] | None:
        added: dict[tuple, list] = {}
        for entry in self.calls:
            if entry.since:
                added.setdefault(entry.since, []).append((f"{entry.name}()", None, ""))
        for flag in draft_spec.page_flags(self.spec, self.calls):
            if flag.since:
                added.setdefault(flag.since, []).append((flag.name, flag.before_since, flag.since_cite))
        if not added:
            return None
        out = self.lines()
        for version in sorted(added):
            items = added[version]
            out.para()
            for cite in dict.fromkeys(cite for _, _, cite in items if cite.startswith("commit ")):
                out.comment(cite)
            text = f"Linux {'.'.join(map(str, version))} added {listing([name for name, _, _ in items])}"
            for before, verb in (("einval", "reject {} with EINVAL"), ("ignored", "ignore {}")):
                flags = [name for name, b, _ in items if b == before]
                if flags and len(flags) == len(items):
                    text += f"; earlier kernels {verb.format('it' if len(flags) == 1 else 'them')}"
                elif flags:
                    text += f"; earlier kernels {verb.format(listing(flags))}"
            out.text(text + ".")
        return out

    def section_notes(self) -> list[str] | None:
        notes = list(dict.fromkeys((note, entry.name) for entry in self.calls for note in entry.notes))
        if not notes:
            return None
        out = self.lines()
        seen = set()
        for note, name in notes:
            if note not in seen:
                seen.add(note)
                out.para()
                out.text(note, [name])
        return out

    def section_bugs(self) -> list[str] | None:
        declared = [d for d in self.spec.divergences if d.call in self.names]
        if not declared:
            return None
        out = self.lines()
        for divergence in declared:
            out.para()
            out.comment(divergence.source)
            out.text(divergence.reason, [divergence.call])
        return out

    def section_examples(self) -> list[str] | None:
        drafter = self.drafter
        example, skipped = choose(self.spec, self.calls, drafter.engine, drafter.profile, drafter.examples)
        drafter.skipped[self.page] = skipped
        if example is None:
            return None
        out = self.lines()
        out.comment(f"From the example trace examples/{example.name}.yaml.")
        if example.description:
            out.text(example.description, [])
            out.para()
        out.text("The program below makes these calls and prints each one with its result; "
                 "it names addresses as it names the mappings. "
                 "Where the state matters, it then shows the pages of those mappings "
                 "(protection and lock from /proc/self/smaps, "
                 "presence in memory from /proc/self/pagemap) "
                 "and VmLck from /proc/self/status.", [])
        out.para()
        out.text(f"On Linux {example.kernel}, it prints:", [])
        out += [".P", ".in +4n", ".EX", "$ \\fB./a.out\\fP"]
        out += [literal_line(line) for line in example.output]
        out += [".EE", ".in", ".SS Program source"]
        out.comment(f"SRC BEGIN ({self.title}.c)")
        out.append(".EX")
        out += [literal_line(line) for line in example.source.rstrip("\n").split("\n")]
        out.append(".EE")
        out.comment("SRC END")
        return out

    def section_see_also(self) -> list[str] | None:
        refs = set(draft_spec.see_also(self.spec, self.page, self.calls)) | self.cited
        refs = sorted(refs, key=lambda item: (item[1], item[0]))
        if not refs:
            return None
        return [f".BR {name} ({section})" + ("," if i < len(refs) - 1 else "") for i, (name, section) in enumerate(refs)]


def with_subject(name: str, text: str) -> str:
    """A description whose first sentence lacks a subject ("Marks every mapping ...", "Like
    mlock, but ...") gets the call as its subject."""
    text = " ".join(text.split())
    first = text.split(" ", 1)[0]
    if first == "Like":
        return f"{name}() is like{text[4:]}"
    if _VERB_START_RE.match(text) and first not in _NOT_VERBS:
        return f"{name}() {text[0].lower()}{text[1:]}"
    return text


def literal_line(line: str) -> str:
    """A line of an .EX block: backslashes and minus signs escaped, a leading dot protected."""
    text = line.replace("\\", "\\[rs]").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def prototype_lines(prototype: str) -> list[str]:
    """A C prototype as ``.BI`` lines: the type words bold, parameter names italic, continued
    on the next line (aligned after the parenthesis) when it runs past the width."""
    names = draft_spec.parameter_names(prototype)
    if not names:
        return [f".B {prototype}"]
    head, params = prototype.split("(", 1)
    head += "("
    lines, current = [], head
    for chunk in re.split(r"(?<=,) ", params):  # after each comma, where a line may end
        joined = current + ("" if current == head else " ") + chunk
        if len(joined) > SYNOPSIS_WIDTH and current != head:
            lines.append(current)
            current = " " * len(head) + chunk
        else:
            current = joined
    lines.append(current)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b(?=\s*(?:\[[^\]]*\])?\s*(?:[,)]|\*/))")
    return [_bi_line(line, pattern) for line in lines]


def _bi_line(line: str, pattern: re.Pattern) -> str:
    """A line of a prototype as ``.BI "bold" italic "bold" ...``: parameter names italic."""
    args, pos = [], 0
    for m in pattern.finditer(line):
        args += [macro_argument(line[pos:m.start()]) if m.start() > pos else '""', macro_argument(m.group(1))]
        pos = m.end()
    if pos < len(line):
        args.append(macro_argument(line[pos:]))
    return ".BI " + " ".join(args)


# -- writing -----------------------------------------------------------------------------------------

def write(path: Path, text: str, force: bool = False) -> None:
    """Write `text` to `path` atomically: a temporary file in the same directory, renamed
    into place. Without `force` an existing file is never replaced (the link that puts
    the file in place fails instead, so a file made meanwhile is safe too)."""
    path = Path(path)
    directory = path.parent
    if not force and path.exists():
        raise InputError(str(path), 1, 1, "exists; use --force to replace it")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)  # no fsync: the rename gives readers all or nothing; durability is the system's
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        if force:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise InputError(str(path), 1, 1, "exists; use --force to replace it") from None
            except OSError:  # a file system without hard links: checked above, then renamed
                os.replace(temporary, path)
            else:
                os.unlink(temporary)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def draft_to(drafter: Drafter, names: list[str], target: Path | None, force: bool, into_dir: bool) -> dict:
    """Draft the pages of `names`; write them under `target` (a directory when `into_dir`)
    or return them. Existing files are checked before anything is written."""
    pages = list(dict.fromkeys(drafter.resolve(name) for name in names))
    texts = {page: drafter.page(page) for page in pages}
    if target is None:
        return texts
    if into_dir or target.is_dir():
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(str(target), 1, 1, f"cannot make the directory: {exc.strerror or exc}") from None
        paths = {page: target / page for page in pages}
    else:
        paths = {pages[0]: target}
    if not force:
        for path in paths.values():
            if path.exists():
                raise InputError(str(path), 1, 1, "exists; use --force to replace it")
    for page, path in paths.items():
        try:
            write(path, texts[page], force)
        except OSError as exc:
            raise InputError(str(path), 1, 1, f"cannot write it: {exc.strerror or exc}") from None
    return texts
