"""Directives that declare mm objects by hand, and the helper every declaration goes through.

    .. mm:syscall:: int mlock2(const void *addr, size_t len, unsigned int flags)
       :flags: MLOCK_ONFAULT
       :errors: EINVAL ENOMEM EPERM

    .. mm:flag:: MLOCK_ONFAULT
       :syscalls: mlock2
       :value: 0x1
       :since: 4.4

    .. mm:errno:: ENOMEM

The generated reference (reference.py) declares the same objects through
:func:`declare`, so hand-written and generated descriptions index and resolve alike.
"""

from __future__ import annotations

import re
from typing import ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.directives import ObjectDescription

_NAME_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def node_id_for(objtype: str, name: str) -> str:
    """The anchor of an object; stable, so links from elsewhere keep working."""
    return nodes.make_id(f"{objtype}-{name}")


def index_entry(objtype: str, name: str, node_id: str, owner: str = "") -> addnodes.index:
    """A general-index entry: "MAP_LOCKED (flag of mmap)", "mlock2 (system call)"."""
    label = {"syscall": "system call", "flag": "flag", "errno": "errno", "rule": "lint rule",
             "trait": "kernel trait"}[objtype]
    text = f"{name} ({label} of {owner})" if owner else f"{name} ({label})"
    return addnodes.index(entries=[("single", text, node_id, "", None)])


def declare(env, document, objtype: str, name: str, node: nodes.Element, line: int,
            summary: str = "") -> str:
    """Make `node` the target of object `name` and record it in the domain; returns the anchor."""
    node_id = node_id_for(objtype, name)
    if node_id in document.ids:  # a second description in this document: the domain warns about it
        node_id = f"{node_id}-{env.new_serialno(node_id)}"
    node["ids"].append(node_id)
    document.note_explicit_target(node)
    env.get_domain("mm").note_object(objtype, name, node_id, line, summary)
    return node_id


def description(directive, objtype: str, name: str, annotation: str, summary: str,
                entry: str = "") -> tuple[addnodes.desc, addnodes.desc_content, list[nodes.Node]]:
    """A generated object description ``NAME annotation``, declared at the directive's line:
    (the description, its empty content to fill, the nodes to return: index entry and
    description). `entry` is the index entry's text, by default the name."""
    desc = addnodes.desc(domain="mm", objtype=objtype, desctype=objtype, classes=["mm", objtype])
    sig = addnodes.desc_signature("", "")
    sig += addnodes.desc_name(name, name)
    sig += addnodes.desc_annotation(annotation, annotation)
    desc += sig
    node_id = declare(directive.env, directive.state.document, objtype, name, sig, directive.lineno, summary)
    content = addnodes.desc_content()
    desc += content
    return desc, content, [index_entry(objtype, entry or name, node_id), desc]


def xref(objtype: str, target: str, text: str | None = None) -> addnodes.pending_xref:
    """A generated cross-reference. ``mm_optional`` lets it fall back to plain text when the
    target is described nowhere (see ``missing_reference``): generated pages link what they
    can, and the coverage check (``mm_check_coverage``), not every link, reports the gaps."""
    ref = addnodes.pending_xref("", refdomain="mm", reftype=objtype, reftarget=target,
                                refexplicit=text is not None, refwarn=True, mm_optional=True)
    ref += nodes.literal(text or target, text or target, classes=["xref", "mm", f"mm-{objtype}"])
    return ref


def missing_reference(app, env, node, contnode):
    """``missing-reference`` handler: a generated link to an undescribed object is plain text."""
    if node.get("refdomain") == "mm" and node.get("mm_optional"):
        return contnode
    return None


def _names(argument: str) -> list[str]:
    return argument.replace(",", " ").split()


class MmObject(ObjectDescription[str]):
    """Common part: the signature is a name (or a C prototype for syscalls)."""

    option_spec: ClassVar[dict] = {
        "summary": directives.unchanged,
        "no-index": directives.flag,
        "no-index-entry": directives.flag,
    }

    def handle_signature(self, sig: str, signode: addnodes.desc_signature) -> str:
        signode += addnodes.desc_name(sig, sig)
        return sig.strip()

    def add_target_and_index(self, name: str, sig: str, signode: addnodes.desc_signature) -> None:
        line = self.lineno
        node_id = declare(self.env, self.state.document, self.objtype, name, signode, line,
                          self.options.get("summary", ""))
        if "no-index-entry" not in self.options:
            self.indexnode["entries"].extend(index_entry(self.objtype, name, node_id)["entries"])
        self.add_relations(name, node_id)

    def add_relations(self, name: str, node_id: str) -> None:
        """Relations to system calls that the options state."""


class SyscallDirective(MmObject):
    """A system call; ``:flags:`` and ``:errors:`` feed the indices."""

    option_spec: ClassVar[dict] = dict(MmObject.option_spec, flags=directives.unchanged,
                                       errors=directives.unchanged)

    def handle_signature(self, sig: str, signode: addnodes.desc_signature) -> str:
        match = _NAME_RE.search(sig)
        name = match.group(1) if match else sig.strip()
        if match:  # a prototype: show it as written, with the name emphasised
            before, after = sig[:match.start(1)], sig[match.end(1):]
            if before.strip():
                signode += addnodes.desc_type(before, before)
            signode += addnodes.desc_name(name, name)
            signode += addnodes.desc_annotation(after, after)
        else:
            signode += addnodes.desc_name(name, name)
        return name

    def add_relations(self, name: str, node_id: str) -> None:
        domain = self.env.get_domain("mm")
        for flag in _names(self.options.get("flags", "")):
            domain.note_relation("flag", flag, name, node_id)
        for errno in _names(self.options.get("errors", "")):
            domain.note_relation("errno", errno, name, node_id)


class FlagDirective(MmObject):
    """A flag; ``:syscalls:`` names the calls that take it."""

    option_spec: ClassVar[dict] = dict(MmObject.option_spec, syscalls=directives.unchanged,
                                       value=directives.unchanged, since=directives.unchanged)

    def handle_signature(self, sig: str, signode: addnodes.desc_signature) -> str:
        name = super().handle_signature(sig, signode)
        extra = []
        if "value" in self.options:
            extra.append(self.options["value"])
        if "since" in self.options:
            extra.append(f"since Linux {self.options['since']}")
        if extra:
            text = " (" + ", ".join(extra) + ")"
            signode += addnodes.desc_annotation(text, text)
        return name

    def add_relations(self, name: str, node_id: str) -> None:
        domain = self.env.get_domain("mm")
        for syscall in _names(self.options.get("syscalls", "")):
            domain.note_relation("flag", name, syscall, "")  # "": link to the call's own description


class ErrnoDirective(MmObject):
    """An errno; which calls return it is stated on the calls (``:errors:``)."""

    option_spec: ClassVar[dict] = dict(MmObject.option_spec, value=directives.unchanged)

    def handle_signature(self, sig: str, signode: addnodes.desc_signature) -> str:
        name = super().handle_signature(sig, signode)
        if "value" in self.options:
            text = f" ({self.options['value']})"
            signode += addnodes.desc_annotation(text, text)
        return name
