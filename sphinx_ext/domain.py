"""The ``mm`` domain: system calls, flags and errnos as cross-referenceable objects.

Data model (everything the domain keeps in ``env.domaindata["mm"]``)::

    objects:    (objtype, name) -> (docname, node_id, line, summary)
    relations:  (kind, subject, syscall) -> (docname, anchor)
    duplicates: [(objtype, name, docname, other docname)], the duplicates reported

``objects`` are the things a role can point at. ``relations`` say which system call
takes a flag or can fail with an errno; the indices (indices.py) invert them into
flag -> syscalls and errno -> syscalls. Both tables are keyed by the document that
declared the entry, so ``clear_doc`` and ``merge_domaindata`` keep incremental and
parallel builds exact.
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

#: Object types and the relation kinds that point from them to system calls.
OBJTYPES = ("syscall", "flag", "errno")
RELATION_KINDS = ("flag", "errno")
__all__ = ["MmDomain", "get_domain", "node_id_for"]


class MmDomain(Domain):
    """System calls, flags and errnos of the Linux memory-mapping and locking API."""

    name = "mm"
    label = "Linux memory management"
    object_types = {
        "syscall": ObjType("system call", "syscall"),
        "flag": ObjType("flag", "flag"),
        "errno": ObjType("errno", "errno"),
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
    }
    indices = [FlagIndex, ErrnoIndex]
    initial_data: dict = {"objects": {}, "relations": {}, "duplicates": []}

    @property
    def objects(self) -> dict[tuple[str, str], tuple[str, str, int, str]]:
        return self.data.setdefault("objects", {})

    @property
    def relations(self) -> dict[tuple[str, str, str], tuple[str, str]]:
        return self.data.setdefault("relations", {})

    @property
    def duplicates(self) -> list[tuple[str, str, str, str]]:
        """Duplicates already reported: (objtype, name, docname warned at, other docname)."""
        return self.data.setdefault("duplicates", [])

    # -- recording -----------------------------------------------------------------
    def note_object(self, objtype: str, name: str, node_id: str, line: int, summary: str = "") -> None:
        """Record an object of the current document; warn (with a location) on a duplicate."""
        self._claim((objtype, name), (self.env.docname, node_id, line, summary), ())

    def _claim(self, key: tuple[str, str], entry: tuple, reported) -> None:
        """Store `entry`; on a duplicate keep, and warn at, the description a serial build
        reads last (documents are read in name order), whatever order parallel readers
        finish in, and warn once per pair even when a reader has already warned."""
        existing = self.objects.get(key)
        if existing is None:
            self.objects[key] = entry
            return
        first, later = sorted((existing, entry), key=lambda e: (e[0], e[2]))
        record = (key[0], key[1], later[0], first[0])
        if record not in reported and record not in self.duplicates:
            logger.warning("duplicate description of %s %s, also described at %s:%s",
                           key[0], key[1], self.env.doc2path(first[0]), first[2],
                           location=(later[0], later[2]), type="mm", subtype="duplicate")
            self.duplicates.append(record)
        self.objects[key] = later

    def note_relation(self, kind: str, subject: str, syscall: str, anchor: str) -> None:
        """Record that `syscall` takes flag `subject` (kind "flag") or fails with errno `subject`;
        the index links to `anchor` in this document, or with "" to the call's description."""
        self.relations[kind, subject, syscall] = (self.env.docname, anchor)

    # -- incremental and parallel builds --------------------------------------------
    def clear_doc(self, docname: str) -> None:
        for key, entry in list(self.objects.items()):
            if entry[0] == docname:
                del self.objects[key]
        for key, entry in list(self.relations.items()):
            if entry[0] == docname:
                del self.relations[key]
        self.duplicates[:] = [d for d in self.duplicates if docname not in (d[2], d[3])]

    def merge_domaindata(self, docnames: Set[str], otherdata: dict[str, Any]) -> None:
        """Take another reader's entries for `docnames`. A reader that started after an
        earlier merge has already seen (and reported) duplicates of that merge."""
        reported = [tuple(d) for d in otherdata.get("duplicates", ())]
        for key, entry in otherdata["objects"].items():
            if entry[0] in docnames:
                self._claim(key, entry, reported)
        for key, entry in otherdata["relations"].items():
            if entry[0] in docnames:
                self.relations[key] = entry
        for record in reported:
            if record[2] in docnames and record not in self.duplicates:
                self.duplicates.append(record)

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
        """subject -> [(syscall, docname, anchor)], sorted by syscall."""
        out: dict[str, list] = {}
        for (rel_kind, subject, syscall), (docname, anchor) in self.relations.items():
            if rel_kind == kind:
                out.setdefault(subject, []).append((syscall, docname, anchor))
        for entries in out.values():
            entries.sort()
        return out


def get_domain(env) -> MmDomain:
    return env.get_domain(MmDomain.name)
