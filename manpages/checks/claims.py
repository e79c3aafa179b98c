"""Claim rules (MM4xx): what a page says about behaviour, against the property catalogue.

Each property of spec/properties/ comes with phrasings that deny it and a witness
trace that demonstrates it (see :mod:`mmsem.spec.properties`). A finding quotes the
property's statement and carries the witness as evidence: the trace, its outcome on
the engine for the kernel version judged and, with ``mmsem lint --kernel``, on the
running kernel. The engine must meet the witness's expectations for that version, or
no finding is made. ``ctx.options["excerpt"]`` marks a document that is only part of a
page (the corpus evaluation): then only subjects with their own tagged paragraph in it
can be reported as undocumented. ``ctx.options["catalogue"]`` may hold the property
catalogue already loaded (``mmsem lint`` reads it from its cache); otherwise the
catalogue beside the spec is loaded, once per process.

The engine is only needed for a claim the page makes: the witness module is
imported when there is one to confirm.
"""

from __future__ import annotations

from mmsem.manpages.claims import PageClaims
from mmsem.manpages.rules import LintContext, Report, rule
from mmsem.spec.properties import catalogue_for


def page_claims(ctx: LintContext) -> PageClaims:
    """The page's claims for the profile, computed once per context (three rules share them)."""
    cached = ctx.options.get("_claims")
    if cached is None:
        catalogue = ctx.options.get("catalogue") or catalogue_for(ctx.spec.directory)
        cached = PageClaims(ctx.document, ctx.spec, catalogue, ctx.profile, bool(ctx.options.get("excerpt")))
        ctx.options["_claims"] = cached
    return cached


def _witnesses(ctx: LintContext):
    witnesses = ctx.options.get("_witnesses")
    if witnesses is None:
        from mmsem.manpages.claims.evidence import Witnesses

        witnesses = Witnesses(ctx.spec, ctx.engine, ctx.kernel)
        ctx.options["_witnesses"] = witnesses
    return witnesses


def _reports(ctx: LintContext, items, message) -> list[Report]:
    """Reports for denials or omissions whose witness the engine confirms for the profile."""
    if not items:
        return []
    witnesses = _witnesses(ctx)
    confirmed = [item for item in items if witnesses.on_engine(item.property, ctx.profile).holds]
    kernel_runs = witnesses.on_kernel(list({i.property.id: i.property for i in confirmed}.values()), ctx.profile)
    return [Report(item.origin, message(item), item.property.subject,
                   witnesses.evidence(item.property, ctx.profile, kernel_runs)) for item in confirmed]


@rule("MM401", "error", "claims")
def check_refuted_claim(ctx: LintContext):
    """A sentence contradicts how the kernel behaves (a property of spec/properties/).

    The finding sits on the phrase that makes the claim and carries the property's
    witness trace with its outcome. Text that qualifies its own claim in the same
    paragraph or list item is not flagged, nor is text about other kernel versions.

    Bad:  MAP_LOCKED  Locks the new mapping exactly like mlock(2).
    Good: MAP_LOCKED  ... populated best effort; mmap() does not fail if this fails.
    """
    claims = page_claims(ctx)
    denials = [d for d in claims.denials() if not d.outdated]
    yield from _reports(ctx, denials, lambda d: f"claim contradicts the kernel ({d.property.id}): "
                                                f"{d.property.summary}")


@rule("MM402", "warning", "claims")
def check_undocumented_behaviour(ctx: LintContext):
    """A page that documents a call or flag never states a behaviour users must know.

    Only properties marked must_know count; the finding sits on the paragraph that
    documents the subject (its tag, or the paragraph introducing the function).
    """
    claims = page_claims(ctx)
    yield from _reports(ctx, claims.omissions(), lambda o: f"undocumented behaviour of {o.property.subject} "
                                                           f"({o.property.id}): {o.property.summary}")


@rule("MM403", "warning", "claims")
def check_outdated_claim(ctx: LintContext):
    """A sentence describes behaviour that changed in a kernel older than the one judged.

    Like refuted-claim, for text that was right before the version the property
    gives (MREMAP_DONTUNMAP taking private anonymous memory alone was right in 5.7-5.12).
    Run with --kernel-version of an older kernel to judge the page as of then.
    """
    claims = page_claims(ctx)
    denials = [d for d in claims.denials() if d.outdated]
    yield from _reports(ctx, denials, lambda d: f"claim outdated since Linux "
                                                f"{'.'.join(map(str, d.property.since))} ({d.property.id}): "
                                                f"{d.property.summary}")
