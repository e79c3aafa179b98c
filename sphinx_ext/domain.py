"""The ``mm`` domain: system calls, flags and errnos as cross-referenceable objects.

Data model (everything the domain keeps in ``env.domaindata["mm"]``)::

    descriptions: (objtype, name) -> [(docname, node_id, line, summary), ...]
    objects:      (objtype, name) -> the last of its descriptions
    relations:    (kind, subject, syscall) -> [(docname, anchor), ...]

``descriptions`` keeps every description of a name, in (docname, line) order; the
last one is the one roles link to (``objects``), as a serial build, reading in name
order, would keep. ``relations`` say which system call takes a flag or can fail with
an errno; the indices (indices.py) invert them into flag -> syscalls and errno ->
syscalls, and the last statement (in docname order) of a relation wins. Every entry
carries the document that made it, so ``clear_doc`` and ``merge_domaindata`` only
remove or replace that document's entries: the result of a parallel build does not
depend on the order its readers finish in, and an incremental build keeps an unchanged
document's entries when another document describing the same name changes or goes away.

Duplicate descriptions are reported once all documents are read (``report_duplicates``,
on ``env-updated``), never by readers: a parallel reader sees only what had been merged
when it was forked, so whether, and where, it would warn depends on timing.
"""

from __future__ import annotations

from collections.abc import Iterator, Set
from typing import Any

from docutils import nodes
from sphinx.domains import Domain, ObjType
from sphinx.roles import XRefRole
from sphinx.util import logging
from sphinx.util.nodes import make_refnode

from mmsem.sphinx_ext.indices import ErrnoIndex, FlagIndex
from mmsem.sphinx_ext.objects import ErrnoDirective, FlagDirective, SyscallDirective, node_id_for

logger = logging.getLogger(__name__)

#: Object types and the relation kinds that point from them to system calls. Lint rules
#: (lintrules.py) and kernel traits (kernels.py) are objects too, with no relations.
OBJTYPES = ("syscall", "flag", "errno", "rule", "trait")
RELATION_KINDS = ("flag", "errno")
__all__ = ["MmDomain", "get_domain", "node_id_for", "report_duplicates"]


class MmDomain(Domain):
    """System calls, flags and errnos of the Linux memory-mapping and locking API."""

    name = "mm"
    label = "Linux memory management"
    object_types = {
        "syscall": ObjType("system call", "syscall"),
        "flag": ObjType("flag", "flag"),
        "errno": ObjType("errno", "errno"),
        "rule": ObjType("lint rule", "rule"),
        "trait": ObjType("kernel trait", "trait"),
    }
    directives = {
        "syscall": SyscallDirective,
        "flag": FlagDirective,
        "errno": ErrnoDirective,
    }
    roles = {
        "syscall": XRefRole(innernodeclass=nodes.literal),
        "flag": XRefRole(innernodeclass=nodes.literal),
        "errno": XRefRole(innernodeclass=nodes.literal),
        "rule": XRefRole(innernodeclass=nodes.literal),
        "trait": XRefRole(innernodeclass=nodes.literal),
    }
    indices = [FlagIndex, ErrnoIndex]
    initial_data: dict = {"descriptions": {}, "objects": {}, "relations": {}}
    data_version = 1  # 0 kept one entry per name: Sphinx discards environments pickled by it

    def __init__(self, env) -> None:
        super().__init__(env)
        # This build's documents (re)read or removed, and the names they described before
        # being cleared. Kept on the instance of the main process, not in the data: only
        # the main process clears documents, and the sets are spent by report_duplicates.
        self._cleared_docs: set[str] = set()
        self._cleared_names: set[tuple[str, str]] = set()

    @property
    def descriptions(self) -> dict[tuple[str, str], list[tuple[str, str, int, str]]]:
        return self.data.setdefault("descriptions", {})

    @property
    def objects(self) -> dict[tuple[str, str], tuple[str, str, int, str]]:
        return self.data.setdefault("objects", {})

    @property
    def relations(self) -> dict[tuple[str, str, str], list[tuple[str, str]]]:
        return self.data.setdefault("relations", {})

    # -- recording -----------------------------------------------------------------
    def note_object(self, objtype: str, name: str, node_id: str, line: int, summary: str = "") -> None:
        """Record a description in the current document (duplicates: see report_duplicates)."""
        key = (objtype, name)
        entry = (self.env.docname, node_id, line, summary)
        self._set_descriptions(key, [*self.descriptions.get(key, ()), entry])

    def note_relation(self, kind: str, subject: str, syscall: str, anchor: str) -> None:
        """Record that `syscall` takes flag `subject` (kind "flag") or fails with errno `subject`;
        the index links to `anchor` in this document, or with "" to the call's description."""
        key = (kind, subject, syscall)
        self._set_relation(key, [*self.relations.get(key, ()), (self.env.docname, anchor)])

    def _set_descriptions(self, key: tuple[str, str], entries: list) -> None:
        # The sort is stable: descriptions sharing a document and a line keep the order
        # that document's reader noted them in, which no other reader can change.
        entries = sorted(map(tuple, entries), key=lambda e: (e[0], e[2]))
        if entries:
            self.descriptions[key] = entries
            self.objects[key] = entries[-1]
        else:
            self.descriptions.pop(key, None)
            self.objects.pop(key, None)

    def _set_relation(self, key: tuple[str, str, str], entries: list) -> None:
        entries = sorted(map(tuple, entries), key=lambda e: e[0])
        if entries:
            self.relations[key] = entries
        else:
            self.relations.pop(key, None)

    # -- incremental and parallel builds --------------------------------------------
    def clear_doc(self, docname: str) -> None:
        # Sphinx calls this only in the main process: for each removed document, and for
        # each document before it is read (serially, or all of them before it forks the
        # parallel readers). So the two sets below are what this build changes.
        self._cleared_docs.add(docname)
        for key, entries in list(self.descriptions.items()):
            if any(e[0] == docname for e in entries):
                self._cleared_names.add(key)
                self._set_descriptions(key, [e for e in entries if e[0] != docname])
        for key, entries in list(self.relations.items()):
            if any(e[0] == docname for e in entries):
                self._set_relation(key, [e for e in entries if e[0] != docname])

    def merge_domaindata(self, docnames: Set[str], otherdata: dict[str, Any]) -> None:
        """Take a parallel reader's entries for `docnames`. A reader also carries what the
        main process had merged before forking it; only entries of its own documents count,
        so merging is the same whatever order readers finish in."""
        for key, entries in otherdata["descriptions"].items():
            theirs = [e for e in entries if e[0] in docnames]
            if theirs:
                mine = [e for e in self.descriptions.get(key, ()) if e[0] not in docnames]
                self._set_descriptions(key, mine + theirs)
        for key, entries in otherdata["relations"].items():
            theirs = [e for e in entries if e[0] in docnames]
            if theirs:
                mine = [e for e in self.relations.get(key, ()) if e[0] not in docnames]
                self._set_relation(key, mine + theirs)

    def duplicates(self, names: Set[tuple[str, str]] | None = None) -> list[tuple]:
        """(objtype, name, later description, earlier description) for each description of
        a name in `names` (default: all) but the first, paired with the one before it in
        (docname, line) order; sorted by where the later one is."""
        out = []
        for key, entries in self.descriptions.items():
            if names is None or key in names:
                out += [(*key, later, first) for first, later in zip(entries, entries[1:])]
        return sorted(out, key=lambda d: (d[2][0], d[2][2], d[0], d[1]))

    def report_duplicates(self) -> None:
        """Warn, at the later description, about each duplicate of a name that this build
        (re)read, added or removed a description of. Runs in the main process once every
        reader's data is merged, so serial and parallel builds warn alike, whatever order
        parallel readers finish in; an unchanged duplicate is not reported again."""
        names = self._cleared_names | {key for key, entries in self.descriptions.items()
                                       if any(e[0] in self._cleared_docs for e in entries)}
        self._cleared_docs.clear()
        self._cleared_names.clear()
        for objtype, name, later, first in self.duplicates(names):
            logger.warning("duplicate description of %s %s, also described at %s:%s",
                           objtype, name, self.env.doc2path(first[0]), first[2],
                           location=(later[0], later[2]), type="mm", subtype="duplicate")

    # -- resolving ---------------------------------------------------------------------
    def _refnode(self, builder, fromdocname: str, objtype: str, target: str, contnode):
        entry = self.objects.get((objtype, target))
        if entry is None:
            return None
        docname, node_id, _line, summary = entry
        title = f"{target} ({objtype})" + (f": {summary}" if summary else "")
        return make_refnode(builder, fromdocname, docname, node_id, contnode, title)

    def resolve_xref(self, env, fromdocname, builder, typ, target, node, contnode):
        for objtype in self.objtypes_for_role(typ) or ():
            ref = self._refnode(builder, fromdocname, objtype, target, contnode)
            if ref is not None:
                return ref
        return None

    def resolve_any_xref(self, env, fromdocname, builder, target, node, contnode):
        results = []
        for objtype in OBJTYPES:
            ref = self._refnode(builder, fromdocname, objtype, target, contnode)
            if ref is not None:
                results.append((f"mm:{self.role_for_objtype(objtype)}", ref))
        return results

    def get_objects(self) -> Iterator[tuple[str, str, str, str, str, int]]:
        for (objtype, name), (docname, node_id, _line, _summary) in self.objects.items():
            yield name, name, objtype, docname, node_id, 1

    # -- queries for the indices and the coverage check ----------------------------------
    def related(self, kind: str) -> dict[str, list[tuple[str, str, str]]]:
        """subject -> [(syscall, docname, anchor)], sorted by syscall; where several
        documents state a relation, the last one in name order."""
        out: dict[str, list] = {}
        for (rel_kind, subject, syscall), entries in self.relations.items():
            if rel_kind == kind:
                docname, anchor = entries[-1]
                out.setdefault(subject, []).append((syscall, docname, anchor))
        for entries in out.values():
            entries.sort()
        return out


def get_domain(env) -> MmDomain:
    return env.get_domain(MmDomain.name)


def report_duplicates(app, env) -> None:
    """``env-updated``: emitted once per build, in the main process, after every
    document is read and merged, even when none was."""
    get_domain(env).report_duplicates()
