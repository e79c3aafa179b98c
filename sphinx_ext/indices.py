"""Domain indices: flag -> system calls, errno -> system calls.

Each is the inverse of the domain's relations (see domain.py): an entry per flag or
errno, linking to its description, with one sub-entry per system call that takes the
flag or can fail with the errno, linking to the place on that call's page.
"""

from __future__ import annotations

from sphinx.domains import Index, IndexEntry


class _RelationIndex(Index):
    kind = ""  # relation kind and object type

    def group(self, name: str) -> str:
        raise NotImplementedError

    def generate(self, docnames=None):
        domain = self.domain
        related = domain.related(self.kind)
        names = sorted({name for (objtype, name) in domain.objects if objtype == self.kind} | set(related))
        groups: dict[str, list[IndexEntry]] = {}
        for name in names:
            docname, anchor, _line, summary = domain.objects.get((self.kind, name), ("", "", 0, ""))
            syscalls = related.get(name, [])
            if docnames is not None and docname not in docnames \
                    and not any(doc in docnames for _, doc, _ in syscalls):
                continue
            entries = groups.setdefault(self.group(name), [])
            entries.append(IndexEntry(name, 1 if syscalls else 0, docname, anchor, "", "", summary))
            for syscall, sdoc, sanchor in syscalls:
                if not sanchor:  # stated on the flag: link to wherever the call is described
                    sdoc, sanchor = domain.objects.get(("syscall", syscall), (sdoc, "", 0, ""))[:2]
                entries.append(IndexEntry(syscall, 2, sdoc, sanchor, "", "", ""))
        return sorted(groups.items()), False


class FlagIndex(_RelationIndex):
    """Every flag, and the system calls that take it."""

    name = "flagindex"
    localname = "Flag index"
    shortname = "flags"
    kind = "flag"

    def group(self, name: str) -> str:
        """Flags are grouped by their prefix: MAP_, MCL_, MLOCK_, PROT_."""
        prefix, sep, _ = name.partition("_")
        return prefix + sep


class ErrnoIndex(_RelationIndex):
    """Every errno, and the system calls that can fail with it."""

    name = "errnoindex"
    localname = "Errno index"
    shortname = "errnos"
    kind = "errno"

    def group(self, name: str) -> str:
        """Errnos all start with E: group by the letter after it (EINVAL under I)."""
        return name[1:2] or name
