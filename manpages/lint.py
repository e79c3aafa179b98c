"""The man-page linter: pages in, findings out (DESIGN.md "The linter").

    from mmsem.manpages.lint import Linter
    linter = Linter(kernel_version="6.18")
    findings = linter.lint_paths(["/usr/share/man/man2/mlock.2.gz"])

A run reads each page once (a page reached through a link or a ``.so`` page is
linted as the file it resolves to), runs the selected rules of
:mod:`mmsem.manpages.checks` on it, drops the findings its ``mmsem:`` comments
silence (see :mod:`mmsem.manpages.checks.suppression`) and returns the rest sorted by
position. Configuration comes from ``[tool.mmsem]`` in the nearest pyproject.toml
(``select``, ``ignore``, ``kernel-version``); bad input of any kind is an
:class:`~mmsem.spec.source.InputError`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from mmsem.spec.source import InputError

from .checks.suppression import suppressions  # importing .checks registers every rule
from .roff import parse
from .rules import RULES, Finding, LintContext, Rule, run_rules
from .source import load, load_text

CONFIG_KEYS = ("select", "ignore", "kernel-version")
_VERSION_RE = re.compile(r"(?:nommu-)?\d+\.\d+")
#: Requests that carry no text of their own: an ``ignore`` comment above them applies
#: to the line after them.
_BARE_REQUEST_RE = re.compile(r"^[.'][ \t]*(?:TP|TQ|PP|P|LP|HP|RS|RE|sp|br|in|nf|fi|EX|EE|ad|na|ne|IP)"
                              r"(?:[ \t]+[-+0-9.a-z]*)*[ \t]*$")
_COMMENT_LINE_RE = re.compile(r"""^(?:[.'][ \t]*)?\\["#]""")


def running_kernel_version() -> str:
    """X.Y of the running kernel: the default profile.

    Same answer as mmsem.semantics.config.running_profile_name (a test holds them
    equal), without importing the engine's state model, which costs a third of a
    second of start-up.
    """
    parts = os.uname().release.split(".")
    try:
        return f"{int(parts[0])}.{int(''.join(c for c in parts[1] if c.isdigit()))}"
    except (IndexError, ValueError):
        return "6.18"


def packaged_spec():
    """The packaged spec, from a pickle cache when the spec files have not changed.

    Loading the YAML (with source positions, in pure Python) costs about a quarter
    of a second, more than linting a dozen pages; the cache under
    $XDG_CACHE_HOME/mmsem (~/.cache/mmsem) holds the loaded records, keyed by the
    mmsem and Python versions and the size and mtime of every spec file. A cache
    that cannot be read or written is ignored.
    """
    import hashlib
    import pickle
    import sys

    from mmsem import __version__
    from mmsem.spec import PACKAGE_DIR, load_spec

    def files_key() -> str:
        key = hashlib.sha256(f"{__version__} {sys.version}".encode())
        for path in sorted(Path(PACKAGE_DIR).rglob("*")):
            if path.suffix in (".yaml", ".json"):
                stat = path.stat()
                key.update(f"{path.relative_to(PACKAGE_DIR)} {stat.st_size} {stat.st_mtime_ns}\n".encode())
        return key.hexdigest()[:24]

    key = files_key()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    cache = Path(base, "mmsem", f"spec-{key}.pickle")
    try:
        return pickle.loads(cache.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        pass
    # Read the files afresh (not default_spec(), which a long-lived process may have
    # loaded before they changed), and keep the result only if they did not change
    # while it was read: the cache must never hold another version of the spec.
    spec = load_spec(PACKAGE_DIR)
    if files_key() != key:
        return spec
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(partial, cache)
        for old in cache.parent.glob("spec-*.pickle"):  # caches of earlier spec files
            if old != cache:
                old.unlink(missing_ok=True)
    except OSError:
        pass
    return spec


# -- configuration ------------------------------------------------------------------------

@dataclass
class Config:
    select: list | None = None  # rule ids, names or categories; None: every rule
    ignore: list = field(default_factory=list)
    kernel_version: str | None = None
    path: str | None = None  # the pyproject.toml it came from


def _names(value, where: tuple) -> list:
    """A list of rule names from a config value: a list of strings or one comma-separated string."""
    if isinstance(value, str):
        return [part for part in re.split(r"[\s,]+", value) if part]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise InputError(*where, "expected a list of rule ids or names")


def _key_position(text: str, key: str) -> tuple[int, int]:
    """Line and column of `key` in the [tool.mmsem] table of a pyproject text (1, 1 if not found)."""
    in_table = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            in_table = stripped.replace(" ", "") == "[tool.mmsem]"
            if in_table and key is None:
                return number, 1
            continue
        if in_table and key and re.match(rf'\s*"?{re.escape(key)}"?\s*=', line):
            return number, line.index(key.strip('"')) + 1
    return 1, 1


def load_config(start: str | os.PathLike | None = None) -> Config:
    """``[tool.mmsem]`` of the nearest pyproject.toml that has one, from `start` upwards."""
    import tomllib

    here = Path(start or os.getcwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / "pyproject.toml"
        if not candidate.is_file():
            continue
        try:
            text = candidate.read_text(encoding="utf-8")
            data = tomllib.loads(text)
        except OSError as exc:
            raise InputError(str(candidate), 1, 1, f"cannot read: {exc.strerror or exc}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            m = re.search(r"at line (\d+), column (\d+)", str(exc))
            line, col = (int(m.group(1)), int(m.group(2))) if m else (1, 1)
            raise InputError(str(candidate), line, col, f"not valid TOML: {str(exc).split(' (at')[0]}") from None
        table = data.get("tool", {}).get("mmsem")
        if table is None:
            continue
        path = str(candidate)
        if not isinstance(table, dict):
            raise InputError(path, *_key_position(text, None), "[tool.mmsem] must be a table")
        for key in table:
            if key not in CONFIG_KEYS:
                raise InputError(path, *_key_position(text, key),
                                 f"unknown key {key!r} in [tool.mmsem] (known: {', '.join(CONFIG_KEYS)})")
        config = Config(path=path)
        if "select" in table:
            config.select = _names(table["select"], (path, *_key_position(text, "select")))
        if "ignore" in table:
            config.ignore = _names(table["ignore"], (path, *_key_position(text, "ignore")))
        if "kernel-version" in table:
            value = table["kernel-version"]
            if not isinstance(value, str) or not _VERSION_RE.fullmatch(value):
                raise InputError(path, *_key_position(text, "kernel-version"),
                                 f"kernel-version must be a string X.Y, not {value!r}")
            config.kernel_version = value
        return config
    return Config()


# -- rule selection -----------------------------------------------------------------------

def _match(name: str) -> list:
    """The rules a --select/--ignore item names: an id, an id prefix (MM2), a name or a category."""
    from .rules import CATEGORIES

    key = name.strip()
    if key.upper() in RULES:
        return [RULES[key.upper()]]
    if re.fullmatch(r"MM\d{1,2}", key, re.IGNORECASE):
        found = [r for r in RULES.values() if r.id.startswith(key.upper())]
        if found:
            return found
    if key.lower() in CATEGORIES:
        return [r for r in RULES.values() if r.category == key.lower()]
    return [r for r in RULES.values() if r.name == key.lower()]


def select_rules(select: list | None, ignore: list, where: str = "--select") -> list:
    """The rules to run, in id order; an item naming no rule is an InputError."""
    def expand(items, option):
        out = []
        for item in items:
            found = _match(item)
            if not found:
                raise InputError(option, 1, 1, f"unknown rule {item!r} (mmsem lint --list-rules lists them)")
            out.extend(found)
        return out

    chosen = expand(select, where) if select is not None else list(RULES.values())
    dropped = {r.id for r in expand(ignore, where.replace("select", "ignore"))}
    return sorted({r.id: r for r in chosen if r.id not in dropped}.values(), key=lambda r: r.id)


# -- finding pages ------------------------------------------------------------------------

def page_name(page: str) -> tuple[str, str]:
    """"mlock.2" -> ("mlock", "2")."""
    name, _, section = page.rpartition(".")
    return name, section


def man_path(name: str, section: str) -> str | None:
    """What ``man -w SECTION NAME`` says, or None when no page is installed."""
    man = shutil.which("man")
    if man is None:
        return None
    try:
        done = subprocess.run([man, "-w", section, name], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.strip().splitlines()
    return lines[0] if done.returncode == 0 and lines else None


def installed_pages(spec) -> tuple[list, list]:
    """(files, pages looked for): the installed page of every modelled call, each file once."""
    wanted = sorted({entry.page for entry in spec.syscalls.values() if entry.page})
    found: dict = {}
    for page in wanted:
        path = man_path(*page_name(page))
        if path is not None:
            found.setdefault(os.path.realpath(path), path)
    return list(found.values()), wanted


def resolve_page(argument: str) -> str:
    """A PAGE argument as a file: a path, or a page name such as mlock.2 found with man -w."""
    if os.path.exists(argument) or os.sep in argument:
        return argument
    name, section = page_name(argument)
    if name and section[:1].isdigit():
        found = man_path(name, section)
        if found is not None:
            return found
    return argument  # reading it reports that it does not exist


# -- the run ------------------------------------------------------------------------------

class Linter:
    """One lint run: the spec, the profile and the rules, applied page by page."""

    def __init__(self, kernel_version: str | None = None, select: list | None = None, ignore: list = (),
                 spec=None, kernel=None):
        if spec is None:
            spec = packaged_spec()
        self.spec = spec
        version = kernel_version or running_kernel_version()
        if not _VERSION_RE.fullmatch(version):
            raise InputError("--kernel-version", 1, 1, f"not a kernel version X.Y: {version!r}")
        self.profile = spec.profile(version)
        self.rules: list[Rule] = select_rules(select, list(ignore))
        self.kernel = kernel
        self._engine = None
        self.pages = 0

    @property
    def engine(self):
        """The engine, built only for runs with claim rules."""
        if self._engine is None and any(r.category == "claims" for r in self.rules):
            from mmsem.semantics.engine import Engine

            self._engine = Engine(self.spec)
        return self._engine

    def lint_paths(self, paths) -> list[Finding]:
        findings: list = []
        seen: set = set()
        for path in paths:
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            source = load(path)
            resolved = os.path.realpath(source.resolved or path)
            if resolved != real and resolved in seen:
                continue  # a .so page whose target was linted already
            seen.add(resolved)
            findings.extend(self.lint_source(source))
        return findings

    def lint_text(self, text: str, path: str = "<string>") -> list[Finding]:
        return self.lint_source(load_text(text, path))

    def lint_source(self, source) -> list[Finding]:
        doc = parse(source)
        self.pages += 1
        ctx = LintContext(doc, self.spec, self.profile, tuple(n for n in doc.names if n in self.spec.syscalls),
                          self.engine, self.kernel)
        findings = list(run_rules(ctx, self.rules))
        if doc.comments and findings:
            findings = _unsuppressed(findings, doc, source)
        findings.sort(key=lambda f: (f.origin.path, f.origin.line, f.origin.col, f.rule, f.message))
        return findings


def _unsuppressed(findings: list, doc, source) -> list:
    page_wide: set = set()
    by_line: dict = {}  # (path, line) -> rule ids silenced there
    lines = None
    for suppression in suppressions(doc):
        if suppression.verb == "ignore-page":
            page_wide.update(suppression.rules)
        elif suppression.verb == "ignore":
            if lines is None:
                lines = source.lines
            target = _target_line(lines, suppression.origin)
            if target is not None:
                by_line.setdefault(target, set()).update(suppression.rules)
    return [f for f in findings
            if f.rule not in page_wide and f.rule not in by_line.get((f.origin.path, f.origin.line), ())]


def _target_line(lines: list, origin) -> tuple | None:
    """The (path, line) an ``ignore`` comment at `origin` covers."""
    index = next((i for i, (_, number, sfile) in enumerate(lines)
                  if number == origin.line and sfile.path == origin.path), None)
    if index is None:
        return None
    text = lines[index][0]
    if not _COMMENT_LINE_RE.match(text):
        return origin.path, origin.line  # a comment at the end of a line covers that line
    for text, number, sfile in lines[index + 1:]:
        if _COMMENT_LINE_RE.match(text) or _BARE_REQUEST_RE.match(text) or not text.strip():
            continue
        return sfile.path, number
    return None
