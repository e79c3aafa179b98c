"""The man-page linter: pages in, findings out (DESIGN.md "The linter").

    from mmsem.manpages.lint import Linter
    linter = Linter(kernel_version="6.18")
    findings = linter.lint_paths(["/usr/share/man/man2/mlock.2.gz"])

A run reads each page once (a page reached through a link or a ``.so`` page is
linted as the file it resolves to), runs the selected rules of
:mod:`mmsem.manpages.checks` on it, drops the findings its ``mmsem:`` comments
silence (see :mod:`mmsem.manpages.checks.suppression`) and returns the rest sorted by
position. A run over a few dozen pages or more spreads them over ``jobs`` forked
worker processes (:mod:`mmsem.manpages.forked`); what it reports does not change. Configuration comes from ``[tool.mmsem]`` in the nearest pyproject.toml
(``select``, ``ignore``, ``kernel-version``); bad input of any kind is an
:class:`~mmsem.spec.source.InputError`.

Caches under $XDG_CACHE_HOME/mmsem (~/.cache/mmsem) spare repeated work: the loaded
spec and property catalogue, the engine's outcomes of witnesses, and each page's
findings (:class:`_Results`, keyed by the bytes of the page's files, the spec, the
code, the kernel version and the rules). MMSEM_NO_CACHE=1 turns the last one off;
results are the same either way (tests/manpages/test_lint_cache.py).
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
#: Pages to lint for each worker process a run starts: a worker costs a fork and a
#: page a few ms; below 2 x 16 pages one process was as fast (man2 pages, 2 CPUs).
PAGES_PER_WORKER = 16
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


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "mmsem")


def _files_key(*sources) -> str:
    """A key that changes with the mmsem and Python versions and with the size or mtime of
    any file of `sources`: (directory, suffixes) pairs, or single files."""
    import hashlib
    import sys

    from mmsem import __version__

    key = hashlib.sha256(f"{__version__} {sys.version}".encode())
    for source in sources:
        if isinstance(source, tuple):
            directory, suffixes = source
            paths = sorted(p for p in Path(directory).rglob("*") if p.suffix in suffixes)
        else:
            directory, paths = Path(source).parent, [Path(source)]
        for path in paths:
            stat = path.stat()
            key.update(f"{path.relative_to(directory)} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return key.hexdigest()[:24]


def _read_cache(kind: str, key: str):
    """The value cached as `kind` under `key`, or None (no cache, or one that cannot be read)."""
    import pickle

    try:
        return pickle.loads(Path(_cache_dir(), f"{kind}-{key}.pickle").read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None


def _write_cache(kind: str, key: str, value) -> None:
    """Cache `value` as `kind` under `key` (atomically), and drop that kind's older caches."""
    import pickle

    cache = Path(_cache_dir(), f"{kind}-{key}.pickle")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(partial, cache)
        for old in cache.parent.glob(f"{kind}-*.pickle"):  # caches of earlier files
            if old != cache:
                old.unlink(missing_ok=True)
    except OSError:
        pass


def _spec_key() -> str:
    """The key of the loaded spec and catalogue: the spec files and the code that loads them
    (a record the loader's code changed must never come from an older pickle)."""
    from mmsem.spec import PACKAGE_DIR

    return _files_key((PACKAGE_DIR, (".yaml", ".json", ".py")))


def _cached_load(kind: str, load):
    """`load()` of the packaged spec files, through the cache `kind`.

    The value is read afresh when the files changed (not taken from an lru_cache that
    a long-lived process may have filled before they did), and kept only if they did
    not change while it was read: the cache must never hold another version of them.
    """
    key = _spec_key()
    value = _read_cache(kind, key)
    if value is not None:
        return value
    value = load()
    if _spec_key() == key:
        _write_cache(kind, key, value)
    return value


def packaged_spec():
    """The packaged spec, from a pickle cache when the spec files have not changed.

    Loading the YAML (with source positions, in pure Python) costs about a quarter
    of a second, more than linting a dozen pages; the cache under
    $XDG_CACHE_HOME/mmsem (~/.cache/mmsem) holds the loaded records, keyed by the
    mmsem and Python versions and the size and mtime of every file of spec/, its
    code included. A cache that cannot be read or written is ignored.
    """
    def load():
        from mmsem.spec import PACKAGE_DIR
        from mmsem.spec.loader import load_spec

        return load_spec(PACKAGE_DIR)

    from mmsem.spec import adopt_packaged_spec

    spec = _cached_load("spec", load)
    adopt_packaged_spec(spec)
    return spec


def packaged_catalogue():
    """The packaged property catalogue (spec/properties), cached like :func:`packaged_spec`.

    Reading it checks every file against its schema and tries every example
    sentence: a tenth of a second, every run, for the same compiled patterns.
    """
    def load():
        from mmsem.spec import PACKAGE_DIR
        from mmsem.spec.properties import load_properties

        return load_properties(PACKAGE_DIR / "properties")

    return _cached_load("properties", load)


def _witness_key() -> str:
    """The key of the engine's witness outcomes: the spec files and the engine's source.

    A witness's outcome on the engine is a function of the trace, the profile, the
    spec and the engine code (and of how evidence.py words it), so it can be kept from
    run to run under that key; outcomes on a live kernel never are.
    """
    import importlib.util

    from mmsem.manpages.claims import evidence
    from mmsem.spec import PACKAGE_DIR

    semantics = importlib.util.find_spec("mmsem.semantics").submodule_search_locations[0]
    return _files_key((PACKAGE_DIR, (".yaml", ".json", ".py")), (semantics, (".py",)), evidence.__file__)


def _code_key() -> str:
    """The key of lint results: what a page's findings depend on besides the page itself
    (the spec files, the code of the linter, the engine and the spec loader)."""
    import importlib.util

    sources = []
    for package in ("mmsem.manpages", "mmsem.spec", "mmsem.semantics"):
        for directory in importlib.util.find_spec(package).submodule_search_locations:
            sources.append((directory, (".py", ".yaml", ".json")))
    return _files_key(*sources)


def _digest(path: str) -> bytes | None:
    import hashlib

    try:
        with open(path, "rb") as handle:
            return hashlib.blake2b(handle.read(), digest_size=16).digest()
    except OSError:
        return None


class _Results:
    """Findings of earlier runs, page by page, as ``ruff`` or ``eslint --cache`` keep them.

    A page's entry holds the files its source was read from (the page, the file a link
    or ``.so`` leads to) with a digest of each one's bytes, and is used only while
    every one of them still has that digest, under a key that changes with the spec,
    the code of mmsem, the Python version, the kernel version judged and the rules
    run (with their severities). Pages whose reading noted a problem, runs with a
    kernel backend and runs on a spec other than the packaged one are never cached.
    One pickle under $XDG_CACHE_HOME/mmsem holds a key's entries; MMSEM_NO_CACHE=1
    turns the cache off.
    """

    def __init__(self, linter: "Linter"):
        import hashlib

        parts = [_code_key(), linter.profile.name] + [f"{r.id}:{r.severity}" for r in linter.rules]
        self.key = hashlib.sha256(" ".join(parts).encode()).hexdigest()[:24]
        entries = _read_cache("lint", self.key)
        self.entries: dict = entries if isinstance(entries, dict) else {}
        self.added = 0

    @staticmethod
    def name(path) -> tuple:
        path = os.fspath(path)
        return (path,) if os.path.isabs(path) else (os.getcwd(), path)

    def get(self, path, real: str):
        """(resolved path, findings) of the page if they are known for its current bytes."""
        entry = self.entries.get(self.name(path))
        if entry is None or entry[0] != real:
            return None
        _, resolved, files, findings = entry
        if any(_digest(file) != digest for file, digest in files):
            return None
        return resolved, findings

    @staticmethod
    def entry(path, real: str, source, resolved: str, findings: list) -> tuple | None:
        """The cache entry of a page just linted, or None if it must not be cached."""
        if source.notes:
            return None
        files = {source.resolved or os.fspath(path)} | {sfile.path for sfile, _, _ in source.parts}
        digests = [(file, _digest(file)) for file in sorted(files)]
        if any(digest is None for _, digest in digests):
            return None
        # ".so man2/x.2" reads x.2.gz only while there is no x.2: that must stay so
        digests += [(file[:-3], None) for file in sorted(files) if file.endswith(".gz") and file != path]
        return real, resolved, tuple(digests), findings

    def put(self, path, entry: tuple) -> None:
        self.entries[self.name(path)] = entry
        self.added += 1

    def save(self) -> None:
        """Write the entries back if this run added some, leaving out pages that are gone
        (temporary files) so that the cache does not grow with every page ever linted."""
        if self.added:
            self.entries = {name: entry for name, entry in self.entries.items() if os.path.exists(entry[0])}
            _write_cache("lint", self.key, self.entries)
            self.added = 0


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
                 spec=None, kernel=None, jobs: int = 1):
        packaged = spec is None
        if packaged:
            spec = packaged_spec()
        self.spec = spec
        version = kernel_version or running_kernel_version()
        if not _VERSION_RE.fullmatch(version):
            raise InputError("--kernel-version", 1, 1, f"not a kernel version X.Y: {version!r}")
        self.profile = spec.profile(version)
        self.rules: list[Rule] = select_rules(select, list(ignore))
        self.kernel = kernel
        # Worker processes for runs over many pages; replays on a live kernel change its
        # settings (vm.max_map_count, nr_hugepages), so those runs stay in one process.
        self.jobs = jobs if kernel is None else 1
        self._engine = None
        self.pages = 0
        self.options: dict = {}  # given to every rule (LintContext.options)
        self._witness_cache: tuple | None = None  # (key, outcomes already cached)
        # The catalogue and the witness outcomes are read when a page is first linted
        # (not when every page's findings come from the results cache).
        self._caches_pending = packaged and any(r.category == "claims" for r in self.rules)
        self._cache_results = packaged and kernel is None and not os.environ.get("MMSEM_NO_CACHE")
        self._results: _Results | None = None  # read on the first lint_paths

    @property
    def engine(self):
        """The engine, built only for runs with claim rules (and then only when asked for:
        the claim rules build it themselves if a witness has to run)."""
        if self._engine is None and any(r.category == "claims" for r in self.rules):
            from mmsem.semantics.engine import Engine

            self._engine = Engine(self.spec)
        return self._engine

    def _use_caches(self) -> None:
        """Take the property catalogue and earlier engine outcomes of witnesses from the cache."""
        from mmsem.manpages.claims import evidence

        self.options["catalogue"] = packaged_catalogue()
        key = _witness_key()
        runs = _read_cache("witnesses", key)
        if isinstance(runs, dict):
            evidence.remember(self.spec.directory, runs)
        self._witness_cache = (key, len(evidence.engine_runs(self.spec.directory)))

    def _save_witnesses(self) -> None:
        """Cache the engine outcomes of witnesses when this run added some."""
        from mmsem.manpages.claims import evidence

        key, count = self._witness_cache
        runs = evidence.engine_runs(self.spec.directory)
        if len(runs) > count:
            _write_cache("witnesses", key, runs)
            self._witness_cache = (key, len(runs))

    def lint_paths(self, paths) -> list[Finding]:
        """The findings on the pages at `paths`, each file linted once. With the packaged
        spec and no kernel backend, a page's findings come from the cache of earlier
        runs while its files are unchanged (:class:`_Results`). Pages not in the cache
        are linted in up to `jobs` worker processes when there are enough of them."""
        if self._cache_results and self._results is None:
            self._results = _Results(self)
        results = self._results
        pages = []  # (path, real path, (resolved, findings) if cached), each file once
        reals: set = set()
        for path in paths:
            real = os.path.realpath(path)
            if real not in reals:
                reals.add(real)
                pages.append((path, real, results.get(path, real) if results is not None else None))
        linted = iter(self._lint_files([(path, real) for path, real, known in pages if known is None]))
        findings: list = []
        seen: set = set()
        for path, real, known in pages:
            if known is None:
                resolved, found, entry = next(linted)
                if results is not None and entry is not None:
                    results.put(path, entry)
            else:
                resolved, found = known
            if real in seen:
                continue  # a page an earlier .so page resolved to
            seen.add(real)
            if resolved != real and resolved in seen:
                continue  # a .so page whose target was linted already
            seen.add(resolved)
            self.pages += 1
            findings.extend(found)
        if results is not None:
            results.save()
        return findings

    def _lint_files(self, files: list) -> list:
        """(resolved path, findings, cache entry or None) of each (path, real path) of `files`."""
        from .forked import map_forked

        if not files:
            return []
        if self._caches_pending:  # before the workers fork, so that they share them
            self._caches_pending = False
            self._use_caches()
        outputs = map_forked(self._lint_file, files, min(self.jobs, len(files) // PAGES_PER_WORKER))
        if self._witness_cache is not None:
            from mmsem.manpages.claims import evidence

            for _, _, _, runs in outputs:
                evidence.remember(self.spec.directory, runs)
            self._save_witnesses()
        return [output[:3] for output in outputs]

    def _lint_file(self, file: tuple) -> tuple:
        """(resolved path, findings, cache entry, engine outcomes of witnesses it added):
        what a worker sends back for one page."""
        from mmsem.manpages.claims import evidence

        path, real = file
        mark = evidence.engine_run_count()
        source = load(path)
        resolved = os.path.realpath(source.resolved or path)
        found = self._lint_document(source)
        entry = _Results.entry(path, real, source, resolved, found) if self._results is not None else None
        return resolved, found, entry, evidence.engine_runs_since(mark, self.spec.directory)

    def lint_text(self, text: str, path: str = "<string>") -> list[Finding]:
        return self.lint_source(load_text(text, path))

    def lint_source(self, source) -> list[Finding]:
        """The findings on one loaded page."""
        if self._caches_pending:
            self._caches_pending = False
            self._use_caches()
        self.pages += 1
        findings = self._lint_document(source)
        if self._witness_cache is not None:
            self._save_witnesses()
        return findings

    def _lint_document(self, source) -> list[Finding]:
        doc = parse(source)
        ctx = LintContext(doc, self.spec, self.profile, tuple(n for n in doc.names if n in self.spec.syscalls),
                          self._engine, self.kernel, dict(self.options))
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
