"""``.. mm:autosyscall:: NAME``: the reference of one call, from the spec.

    .. mm:autosyscall:: mlock2

renders a section titled after the call: the prototype (declared as an ``mm:syscall``
object), summary and description, arguments, the flags of each flag argument
(declared as ``mm:flag`` objects on the flag set's home page), the return value, the
errors in the order the kernel checks them with their conditions in words, the
effects, notes, the spec's example traces as scenarios (when ``mm_examples_dir`` is
set), kernel sources and see-also links. The spec files it reads are dependencies of
the page, so editing one rebuilds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from mmsem.semantics.effects import PRIMITIVES
from mmsem.spec import default_spec
from mmsem.spec.model import Spec, Syscall
from mmsem.sphinx_ext import conditions, specquery
from mmsem.sphinx_ext.blocks import para, sentence, table
from mmsem.sphinx_ext.conditions import Vocabulary
from mmsem.sphinx_ext.objects import declare, index_entry, xref
from mmsem.sphinx_ext.scenario import scenario_placeholder

logger = logging.getLogger(__name__)

KERNEL_TREE = "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/"
KERNEL_COMMIT = "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/commit/?id="
BEFORE_SINCE = {"einval": "older kernels fail with EINVAL", "ignored": "older kernels ignore it"}
#: What the spec's ``nommu:`` says about a call on kernels built without an MMU.
NOMMU = {"enosys": "Kernels built without an MMU do not have it (ENOSYS).",
         "unmodelled": "Kernels built without an MMU have their own version (mm/nommu.c), which mmsem "
                       "does not model."}
MODEL_NOTE_TITLE = "How mmsem models this"


def model_note(*texts: str) -> nodes.admonition:
    """The spec's remarks on the model (``model_notes``, ``model_note``): about mmsem, not
    the kernel, so they are set apart from the description and never reach man pages."""
    note = nodes.admonition(classes=["mm-model-note"])
    note += nodes.title(MODEL_NOTE_TITLE, MODEL_NOTE_TITLE)
    for text in texts:
        note += para(text)
    return note


def since_text(version: tuple[int, ...] | None) -> str:
    return f"since Linux {'.'.join(map(str, version))}" if version else ""


def code_words(spec: Spec, entry: Syscall) -> frozenset:
    """Names a sentence about this call may start with: calls, arguments, parameters, locals."""
    words = set(spec.syscalls) | set(spec.procedures) | {a.name for a in entry.args}
    for placed in specquery.walk(spec, entry):
        words.update(name for name, _ in placed.step.bindings)
        if placed.step.op == "call" and placed.step.id in spec.procedures:
            words.update(spec.procedures[placed.step.id].params)
    return frozenset(words)


class SyscallPage:
    """Builds the reference section of one call."""

    def __init__(self, directive: SphinxDirective, spec: Spec, entry: Syscall):
        self.directive = directive
        self.env = directive.env
        self.spec = spec
        self.entry = entry
        self.name = entry.name
        self.vocabulary = Vocabulary.from_spec(spec)
        self.domain = self.env.get_domain("mm")
        self.index_nodes: list = []
        self.code_words = code_words(spec, entry)
        self.call_names = frozenset(spec.syscalls)

    def sentence(self, text: str, code: bool = True) -> str:
        """`code`: the text is about the call's program, and may start with one of its names."""
        return sentence(text, self.code_words if code else self.call_names)

    def section(self, title: str, slug: str) -> nodes.section:
        ids = [nodes.make_id(f"{self.name}-{slug}")] if slug else [nodes.make_id(f"{self.name}-reference")]
        sec = nodes.section(ids=ids)
        sec += nodes.title(title, title)
        return sec

    def build(self) -> list[nodes.Node]:
        kind = {"pseudo": " (pseudo-step)"}.get(self.entry.kind, "")
        top = self.section(f"{self.name}{kind}", "")
        top += self.signature()
        for part in (self.arguments, self.flags, self.return_value, self.errors, self.effects,
                     self.notes, self.examples, self.sources, self.see_also):
            sec = part()
            if sec is not None:
                top += sec
        return self.index_nodes + [top]

    # -- the object ------------------------------------------------------------------
    def signature(self) -> addnodes.desc:
        entry = self.entry
        desc = addnodes.desc(domain="mm", objtype="syscall", desctype="syscall", classes=["mm", "syscall"])
        sig = addnodes.desc_signature("", "")
        prototype = entry.prototype or f"{entry.name}({', '.join(a.name for a in entry.args)})"
        sig += addnodes.desc_name(prototype, prototype)
        desc += sig
        node_id = declare(self.env, self.directive.state.document, "syscall", self.name, sig,
                          self.directive.lineno, entry.summary)
        self.index_nodes.append(index_entry("syscall", self.name, node_id))
        content = addnodes.desc_content()
        content += para(self.sentence(entry.summary))
        facts = []
        if entry.header:
            facts.append(f"Header: {entry.header}.")
        if entry.since:
            facts.append(f"Since Linux {'.'.join(map(str, entry.since))}; older kernels fail with ENOSYS.")
        if entry.number and entry.number in self.spec.constants:
            facts.append(f"System call number {entry.number} = {self.spec.constants[entry.number]} on x86_64.")
        if entry.page:
            page, _, section = entry.page.partition(".")
            facts.append(f"Manual page: {page}({section}).")
        if entry.nommu in NOMMU:
            facts.append(NOMMU[entry.nommu])
        if facts:
            content += para(" ".join(facts), classes=["mm-facts"])
        if entry.description:
            content += para(self.sentence(entry.description))
        if entry.model_notes:
            content += model_note(*[self.sentence(note) for note in entry.model_notes])
        desc += content
        return desc

    # -- arguments and flags ----------------------------------------------------------------
    def arguments(self) -> nodes.section | None:
        if not self.entry.args:
            return None
        flag_args = dict(specquery.flagsets_of(self.spec, self.entry))
        rows = []
        for arg in self.entry.args:
            meaning = self.sentence(arg.text) if arg.text else ""
            cell = [para(meaning)] if meaning else []
            if arg.name in flag_args:
                cell.append(para("Its flags are listed under ",
                                 nodes.reference("", "Flags", internal=True,
                                                 refid=nodes.make_id(f"{self.name}-flags")), "."))
            rows.append(([nodes.literal(arg.name, arg.name), arg.ctype or arg.kind, cell], {}))
        sec = self.section("Arguments", "arguments")
        sec += table(["Argument", "Type", "Meaning"], rows, [12, 18, 70])
        return sec

    def flags(self) -> nodes.section | None:
        flag_args = specquery.flagsets_of(self.spec, self.entry)
        if not flag_args:
            return None
        sec = self.section("Flags", "flags")
        anchor = sec["ids"][0]
        for arg, flagset_name in flag_args:
            flagset = self.spec.flagsets[flagset_name]
            home = specquery.flagset_home(self.spec, flagset_name) == self.name
            sec += para(nodes.literal(arg, arg), f": {self.sentence(flagset.summary, code=False)}")
            for field, mask in flagset.fields.items():
                members = ", ".join(f.name for f in flagset.flags if f.field == field)
                sec += para(nodes.literal(field, field), f" (mask {mask:#x}) selects one of {members}.")
            if flagset.values:
                sec += para(nodes.literal(arg, arg), " takes exactly one of these values.")
            rows = [self.flag_row(flag, home, anchor, flagset.values) for flag in flagset.flags]
            kind = "Value" if flagset.values else "Flag"
            sec += table([kind, "Number", "Since", "Meaning"], rows, [22, 10, 18, 50], classes=["mm-flags"])
        return sec

    def flag_row(self, flag, home: bool, anchor: str, values: bool) -> tuple[list, dict]:
        attributes: dict = {"ids": []}
        if home:
            row = nodes.row()
            declare(self.env, self.directive.state.document, "flag", flag.name, row, self.directive.lineno,
                    flag.brief)
            attributes["ids"] = row["ids"]
            self.index_nodes.append(index_entry("flag", flag.name, row["ids"][0], self.name))
            name_cell = nodes.literal(flag.name, flag.name)
        else:
            name_cell = xref("flag", flag.name)
        self.domain.note_relation("flag", flag.name, self.name, anchor)
        since = "always"
        if flag.since_text:
            since = f"Linux {flag.since_text}"
        since_cell = [para(since)]
        if flag.since_text and flag.before_since in BEFORE_SINCE:
            since_cell.append(para(f"({BEFORE_SINCE[flag.before_since]})", classes=["mm-small"]))
        meaning = [para(self.sentence(flag.brief, code=False))]
        if flag.text:
            meaning.append(para(self.sentence(flag.text, code=False)))
        meaning += self.value_rules(flag)
        if flag.model_note:
            meaning.append(model_note(self.sentence(flag.model_note, code=False)))
        if flag.undocumented:
            meaning.append(para("Not described in the manual pages.", classes=["mm-small"]))
        number = str(flag.value) if values else hex(flag.value)
        return [name_cell, nodes.literal(number, number), since_cell, meaning], attributes

    def value_rules(self, flag) -> list[nodes.Node]:
        """What a value of a value set (an madvise advice) does to each mapping, and when it fails."""
        out: list[nodes.Node] = []
        changes = []
        for verb, names in (("Sets", flag.set_flags), ("Clears", flag.clear_flags)):
            if names:
                changes += [nodes.Text(f"{verb} " if not changes else f"; {verb.lower()} ")]
                for i, name in enumerate(names):
                    changes += ([nodes.Text(", ")] if i else []) + [nodes.literal(name, name)]
        if changes:
            out.append(para(*changes, " on each mapping of the range."))
        if flag.action == "unmodelled":
            out.append(para("Not modelled: traces cannot use it.", classes=["mm-small"]))
        if flag.skip_when is not None:
            out += self.condition("Mappings are left unchanged when ", flag.skip_when)
        for reject in flag.rejects:
            since = f" ({since_text(reject.since)})" if reject.since else ""
            out += self.condition(["Fails with ", xref("errno", reject.errno), " if "], reject.when, "",
                                  f": {reject.text}{since}.")
        return out

    # -- behaviour -----------------------------------------------------------------------------
    def return_value(self) -> nodes.section | None:
        if not self.entry.returns:
            return None
        sec = self.section("Return value", "return-value")
        sec += para(self.sentence(self.entry.returns))
        return sec

    def condition(self, prefix, source, suffix: str = ".", after: str = "") -> list[nodes.Node]:
        """A paragraph "prefix <condition>suffix after", or "prefix all of these hold:", a list
        and a paragraph "after". `prefix` is text or a list of nodes and text."""
        parts = conditions.to_nodes(conditions.describe(source, self.vocabulary))
        inline = [p for p in parts if not isinstance(p, nodes.bullet_list)]
        blocks = [p for p in parts if isinstance(p, nodes.bullet_list)]
        prefix = prefix if isinstance(prefix, list) else [prefix]
        if not blocks:
            return [para(*prefix, *inline, suffix + after)]
        return [para(*prefix, *inline), *blocks] + ([para(self.sentence(after.lstrip(": ")))] if after else [])

    def errors(self) -> nodes.section | None:
        cases = specquery.error_cases(self.spec, self.entry)
        if not cases and not self.entry.since and not self.entry.unmodelled_errors:
            return None
        only_signals = cases and all(case.is_signal for case in cases)
        sec = self.section("Signals" if only_signals else "Errors", "errors")
        sec += para("In the order the kernel checks them; the first that applies decides the outcome."
                    if not only_signals else "In the order the kernel checks them.")
        items = nodes.enumerated_list(classes=["mm-errors"])
        if self.entry.since:
            since = ".".join(map(str, self.entry.since))
            items += nodes.list_item("", para(xref("errno", "ENOSYS"), f": the kernel is older than Linux {since}."))
            self.domain.note_relation("errno", "ENOSYS", self.name, sec["ids"][0])
        for case in cases:
            items += self.error_item(case)
            if not case.is_signal:
                self.domain.note_relation("errno", case.code, self.name, sec["ids"][0])
        sec += items
        if self.entry.unmodelled_errors:
            sec += self.unmodelled(sec["ids"][0])
        return sec

    def unmodelled(self, anchor: str) -> list[nodes.Node]:
        """Errors the call really has that the model leaves out (``unmodelled_errors``)."""
        out = [para("The call can also fail in ways the model leaves out; traces never produce these:",
                    classes=["mm-unmodelled-intro"])]
        items = nodes.bullet_list(classes=["mm-unmodelled"])
        for error in self.entry.unmodelled_errors:
            item = para(xref("errno", error.errno), " ",
                        nodes.inline("(not modelled)", "(not modelled)", classes=["mm-not-modelled"]),
                        ": ", self.sentence(error.text))
            if error.cite:
                item += nodes.inline(f" {error.cite}.", f" {error.cite}.", classes=["mm-small"])
            items += nodes.list_item("", item)
            self.domain.note_relation("errno", error.errno, self.name, anchor)
        out.append(items)
        return out

    def error_item(self, case: specquery.ErrorCase) -> nodes.list_item:
        code = nodes.literal(case.code, case.code) if case.is_signal else xref("errno", case.code)
        step = case.placed.step
        item = nodes.list_item()
        if case.check:
            head = self.condition([code, ": if "], step.when)
        else:
            head = [para(code, ": while the effect ", nodes.literal(step.id, step.id), " runs.")]
            if step.when is not None:
                head += self.condition("That effect runs only when ", step.when)
        item += head
        item += para(self.sentence(case.text))
        details = []
        if case.raised is not None and case.raised.since:
            details.append(since_text(case.raised.since) + "; older kernels do not fail this way")
        if case.raised is not None and case.raised.source_errno:
            details.append(f"the effect reports {case.raised.source_errno}, the call returns {case.code}")
        if case.raised is not None and case.raised.nondeterministic:
            details.append(f"not predicted by the model: {case.raised.nondeterministic}")
        if case.placed.via:
            details.append("checked in " + " → ".join(case.placed.via))
        if case.cite:
            details.append(case.cite)
        if details:
            item += para("; ".join(details) + ".", classes=["mm-small"])
        return item

    def effects(self) -> nodes.section | None:
        placed = [p for p in specquery.walk(self.spec, self.entry) if p.step.op in ("let", "do", "return")]
        if not placed:
            return None
        sec = self.section("Effects", "effects")
        sec += para("What the call computes and changes, in program order (checks are under ",
                    nodes.reference("", "Errors", internal=True, refid=nodes.make_id(f"{self.name}-errors")),
                    ").")
        items = nodes.enumerated_list(classes=["mm-effects"])
        for p in placed:
            items += self.effect_item(p)
        sec += items
        return sec

    def expression(self, source) -> list[nodes.Node]:
        return conditions.to_nodes(conditions.value_tokens(source, self.vocabulary))

    def effect_item(self, placed: specquery.Placed) -> nodes.list_item:
        step = placed.step
        item = nodes.list_item()
        if step.op == "let":
            for name, source in step.bindings:
                item += para(nodes.literal(name, name), " ← ", *self.expression(source), classes=["mm-let"])
        elif step.op == "do":
            args = []
            for i, (name, source) in enumerate(step.args):
                args += ([nodes.Text(", ")] if i else []) + [nodes.literal(f"{name}=", f"{name}=")]
                args += self.expression(source)
            bound = [nodes.literal(step.bind, step.bind), " ← "] if step.bind else []
            item += para(*bound, nodes.strong(step.id, step.id), "(", *args, ")")
            primitive = PRIMITIVES.get(step.id)
            if primitive is not None and primitive.doc:
                item += para(self.sentence(primitive.doc.split("\n\n")[0]))
            if step.when is not None:
                item += self.condition("Only when ", step.when)
            if step.raises:
                codes = list(dict.fromkeys(r.errno for r in step.raises))
                refs = []
                for i, code in enumerate(codes):
                    refs += ([nodes.Text(", ")] if i else []) + [xref("errno", code)]
                item += para("Can fail with ", *refs, " (see Errors).")
        else:
            if step.when is not None:
                item += self.condition("Returns " + self.plain(step.value) + " at once when ", step.when)
            else:
                item += para("Returns ", *self.expression(step.value), ".")
        reason = specquery.why(step)
        if reason:
            item += para(self.sentence(reason), classes=["mm-why"])
        if placed.via:
            item += para("In " + " → ".join(placed.via) + ".", classes=["mm-small"])
        return item

    def plain(self, source) -> str:
        return conditions.to_text(conditions.value_tokens(source, self.vocabulary))

    # -- around the behaviour ---------------------------------------------------------------
    def notes(self) -> nodes.section | None:
        if not self.entry.notes:
            return None
        sec = self.section("Notes", "notes")
        items = nodes.bullet_list()
        for note in self.entry.notes:
            items += nodes.list_item("", para(self.sentence(note)))
        sec += items
        return sec

    def examples(self) -> nodes.section | None:
        if not self.entry.examples:
            return None
        sec = self.section("Examples", "examples")
        directory = self.directive.config.mm_examples_dir
        if not directory:
            items = nodes.bullet_list()
            for name in self.entry.examples:
                items += nodes.list_item("", para(nodes.literal(name, name)))
            sec += items
            return sec
        base = Path(self.env.srcdir) / directory  # relative to the source directory
        for name in self.entry.examples:
            path = (base / f"{name}.yaml").resolve()
            if not path.is_file():
                logger.warning("example %s of %s not found: %s", name, self.name, path,
                               location=(self.env.docname, self.directive.lineno), type="mm", subtype="example")
                continue
            self.env.note_dependency(str(path))
            sec += scenario_placeholder(self.directive, path.read_text(), str(path), 1, name,
                                        self.directive.options.get("verify", ""))
        return sec

    def sources(self) -> nodes.section | None:
        entries = list(self.entry.sources)
        for placed in specquery.walk(self.spec, self.entry):
            if placed.step.op == "call" and placed.step.id in self.spec.procedures:
                entries += self.spec.procedures[placed.step.id].sources
        entries = list(dict.fromkeys(entries))
        if not entries:
            return None
        sec = self.section("Kernel sources", "sources")
        items = nodes.bullet_list()
        for src in entries:
            link = nodes.reference(src.file, src.file, refuri=KERNEL_TREE + src.file)
            item = para(link)
            if src.function:
                item += [nodes.Text(": "), nodes.literal(src.function, src.function + "()")]
            if src.commit:
                item += [nodes.Text(", commit "), nodes.reference(src.commit, src.commit,
                                                                  refuri=KERNEL_COMMIT + src.commit)]
            if src.text:
                item += nodes.Text(f" ({src.text})")
            items += nodes.list_item("", item)
        sec += items
        return sec

    def see_also(self) -> nodes.section | None:
        if not self.entry.see_also:
            return None
        sec = self.section("See also", "see-also")
        parts: list = []
        for i, other in enumerate(self.entry.see_also):
            if i:
                parts.append(nodes.Text(", "))
            if other in self.spec.syscalls:
                parts.append(xref("syscall", other))
            else:  # not modelled (yet): name its manual page
                parts.append(nodes.emphasis(f"{other}(2)", f"{other}(2)"))
        sec += para(*parts)
        return sec


class AutoSyscallDirective(SphinxDirective):
    """Render one system call (or pseudo-step) of the spec."""

    required_arguments = 1
    option_spec: ClassVar[dict] = {"verify": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        spec = default_spec()
        name = self.arguments[0].strip()
        entry = spec.syscalls.get(name)
        if entry is None:
            known = ", ".join(sorted(spec.syscalls))
            logger.warning("mm:autosyscall: no system call %r in the spec (known: %s)", name, known,
                           location=self.get_location(), type="mm", subtype="reference")
            return []
        for path in specquery.spec_files(spec, entry):
            self.env.note_dependency(path)
        return SyscallPage(self, spec, entry).build()
