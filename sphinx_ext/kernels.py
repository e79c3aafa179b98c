"""``.. mm:autokernels::``: the kernel profiles and the traits that tell them apart.

Renders spec/kernels.yaml: a table of the profiles the project tests, then each trait
(one change of behaviour) declared as an ``mm:trait`` object with the version range
that has it, its commit, what it changes, and the spec's remark on how mmsem models
it (``model_note``). Conditions on the call pages link here when they test a trait.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

from mmsem.spec import default_spec
from mmsem.sphinx_ext.blocks import para, sentence, table
from mmsem.sphinx_ext.objects import description
from mmsem.sphinx_ext.reference import KERNEL_COMMIT, model_note


def _version(version) -> str:
    return ".".join(map(str, version))


def trait_range(trait) -> str:
    """The kernels that have a trait, in words."""
    parts = []
    if trait.since:
        parts.append(f"Linux {_version(trait.since)} and later")
    if trait.until:
        parts.append(f"kernels before Linux {_version(trait.until)}")
    if trait.mmu is not None:
        parts.append("kernels with an MMU" if trait.mmu else "kernels without an MMU")
    return ", ".join(parts) if parts else "every kernel"


class AutoKernelsDirective(SphinxDirective):
    """Declare every kernel trait of the spec, after a table of its profiles."""

    def run(self) -> list[nodes.Node]:
        spec = default_spec()
        self.env.note_dependency(str(Path(spec.directory) / "kernels.yaml"))
        rows = []
        for profile in spec.profiles.values():
            name = nodes.literal(profile.name, profile.name)
            kind = "with an MMU" if profile.mmu else "without an MMU"
            rows.append(([name, f"Linux {profile.version_text}, {kind}", sentence(profile.text)], {}))
        out: list[nodes.Node] = [table(["Profile", "Kernel", "Why it is tested"], rows, [14, 26, 60])]
        for trait in sorted(spec.traits.values(), key=lambda t: (t.since or (), t.name)):
            out += self.trait(trait)
        return out

    def trait(self, trait) -> list[nodes.Node]:
        _, content, out = description(self, "trait", trait.name, f" ({trait_range(trait)})", trait_range(trait))
        content += para(sentence(trait.text))
        origin = []
        if trait.commit:
            origin += ["Commit ", nodes.reference(trait.commit, trait.commit, refuri=KERNEL_COMMIT + trait.commit)]
        if trait.cite:
            origin += ["; " if origin else "", nodes.literal(trait.cite, trait.cite)]
        if origin:
            content += para(*origin, ".", classes=["mm-small"])
        if trait.model_note:
            content += model_note(sentence(trait.model_note))
        return out
