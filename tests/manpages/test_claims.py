"""The behaviour-property catalogue and the claim rules (MM401-MM403) on small pages.

The pages here are written for the tests (never quoted from real man pages). Each test
states the exact findings: rule, line, column and subject. The catalogue's own checks
(schema, patterns, examples) run through ``load_properties`` and ``mmsem check-spec``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsem.manpages.claims.passages import Vocabulary
from mmsem.manpages.claims.text import scope, sentences
from mmsem.manpages.document import Origin, Span
from mmsem.manpages.lint import Linter
from mmsem.manpages.rules import RULES
from mmsem.spec import default_spec
from mmsem.spec.properties import GAP_WORDS, compile_phrase, expand, first_sentence, load_properties, normalise
from mmsem.spec.source import InputError

from tests.conftest import replace_once

ROOT = Path(__file__).resolve().parents[2]
PROPERTIES = ROOT / "spec" / "properties"


@pytest.fixture(scope="module")
def catalogue():
    return load_properties(PROPERTIES, spec=default_spec())


def lint(text: str, version: str = "6.18", rules=("claims",)) -> list[tuple]:
    """(rule, line, col, subject, property id) of the claim findings on a page."""
    findings = Linter(version, select=list(rules)).lint_text(text, "page.2")
    return [(f.rule, f.origin.line, f.origin.col, f.subject, f.message.split("(")[1].split(")")[0])
            for f in findings]


def page(name: str, body: str, names: str | None = None) -> str:
    """A page around `body`, whose first line is line 4."""
    return f".TH {name.upper()} 2\n.SH NAME\n{names or name} \\- test page\n{body}"


def line_of(path: Path, text: str, offset: int = 0) -> int:
    """The line `text` starts on in `path`, plus `offset` (the tests need exact positions)."""
    content = path.read_text()
    assert content.count(text) == 1
    return content[:content.index(text)].count("\n") + 1 + offset


# -- the catalogue --------------------------------------------------------------------------

def test_catalogue_loads_clean_with_names_checked():
    errors: list = []
    catalogue = load_properties(PROPERTIES, errors, default_spec())
    assert [str(e) for e in errors] == []
    assert len(catalogue) == 38
    assert len({p.id for p in catalogue}) == len(catalogue)


def test_every_property_is_complete(catalogue):
    for prop in catalogue:
        assert prop.witness.strip() and prop.cite and prop.statement
        assert prop.denies or prop.asserts
        if prop.must_know:
            assert prop.asserts, prop.id
        if prop.old_behaviour:
            assert prop.since is not None, prop.id


def test_must_know_and_versions(catalogue):
    must = sorted(p.id for p in catalogue if p.must_know)
    assert must == ["brk-locked-under-mcl-future", "fork-drops-locks", "hugetlb-private-cow-after-fork",
                    "map-locked-best-effort", "map-nonblock-cancels-populate", "map-populate-best-effort",
                    "mlock-failure-not-atomic", "mlock-onfault-charges-whole-range",
                    "mlockall-ignores-populate-failure", "mlockall-limit-counts-address-space",
                    "mremap-locked-growth-best-effort"]
    by_id = {p.id: p for p in catalogue}
    assert by_id["mremap-dontunmap-any-mapping"].holds_for((6, 18))
    assert not by_id["mremap-dontunmap-any-mapping"].holds_for((5, 10))
    assert by_id["mlockall-onfault-alone-accepted"].holds_for((5, 1))
    assert not by_id["mlockall-onfault-alone-accepted"].holds_for((5, 2))


def check_spec_copy(spec_copy):
    return subprocess.run([sys.executable, "-m", "mmsem", "check-spec", "spec"], cwd=spec_copy.parent,
                          capture_output=True, text=True)


def test_check_spec_covers_the_catalogue(tmp_path, spec_copy):
    replace_once(spec_copy / "properties/mmap.yaml", '      - "in the (same )?(manner|way|fashion) (of|as) mlock"\n',
                 '      - "in the (same (manner|way|fashion) (of|as) mlock"\n')
    result = check_spec_copy(spec_copy)
    assert (result.returncode, result.stdout) == (2, "")
    line = line_of(PROPERTIES / "mmap.yaml", '      - "in the (same )?(manner|way|fashion) (of|as) mlock"\n')
    assert result.stderr == (f"spec/properties/mmap.yaml:{line}:9: denies pattern 'in the (same (manner|way|fashion) "
                             "(of|as) mlock': not a valid pattern: missing ), unterminated subpattern at position 9\n")


def test_check_spec_places_witness_errors_in_the_catalogue(spec_copy):
    replace_once(spec_copy / "properties/mmap.yaml", "        - mlock: {addr: B, len: 4p}\n",
                 "        - mlokc: {addr: B, len: 4p}\n")
    result = check_spec_copy(spec_copy)
    assert (result.returncode, result.stdout) == (2, "")
    line = line_of(PROPERTIES / "mmap.yaml", "        - mlock: {addr: B, len: 4p}\n")
    assert result.stderr == (f"spec/properties/mmap.yaml:{line}:11: witness of map-locked-best-effort: unknown system "
                             "call or pseudo-step 'mlokc' (did you mean mlock or mlock2?)\n")


@pytest.mark.parametrize("name, old, new, error", [
    ("madvise.yaml", "  - id: madvise-dontneed-shared\n", "  - id: madvise-dontneed-shared\n    mustknow: true\n",
     "madvise.yaml:{line}:15: unknown key 'mustknow' (did you mean 'must_know'?) (at /properties/0/mustknow)"),
    ("remap.yaml", '      - "segmentation (fault|violation)"\n', '      - "segmentation <faultz>"\n',
     "remap.yaml:{line}:9: denies pattern 'segmentation <faultz>': unknown term <faultz>"),
    ("mlock.yaml", '    since: "4.4"\n    until: "5.2"\n', '    since: "4.4"\n    until: "4.4"\n',
     "mlock.yaml:{line}:12: until 4.4 is not after since 4.4"),
])
def test_malformed_catalogue_is_one_line_per_defect(tmp_path, name, old, new, error):
    target = tmp_path / "properties"
    target.mkdir()
    for path in PROPERTIES.glob("*.yaml"):
        (target / path.name).write_text(path.read_text())
    offset = 1 if name in ("madvise.yaml", "mlock.yaml") else 0  # the defect is on the line after
    error = error.format(line=line_of(target / name, old, offset))
    replace_once(target / name, old, new)
    errors: list = []
    load_properties(target, errors)
    assert [str(e).replace(f"{target}/", "") for e in errors] == [error]
    with pytest.raises(InputError) as info:
        load_properties(target)
    assert str(info.value).replace(f"{target}/", "") == error


def test_examples_are_checked(tmp_path):
    (tmp_path / "one.yaml").write_text(
        "properties:\n"
        "  - id: demo\n"
        "    subject: mlock\n"
        "    statement: A demo.\n"
        "    must_know: false\n"
        "    cite: [nowhere]\n"
        "    witness: 'steps: [{munlockall: {}}]'\n"
        "    denies: ['mlock fails']\n"
        "    examples:\n"
        "      denies: ['mlock never fails']\n"
        "      neutral: ['it mlock fails']\n")
    errors: list = []
    assert len(load_properties(tmp_path, errors)) == 0
    assert [str(e).replace(f"{tmp_path}/", "") for e in errors] == [
        "one.yaml:10:16: example denial reads as neither a denial nor an assertion: 'mlock never fails'",
        "one.yaml:11:17: example neutral sentence reads as a denial: 'it mlock fails'"]


def test_not_a_catalogue_directory(tmp_path):
    with pytest.raises(InputError) as info:
        load_properties(tmp_path / "none")
    assert str(info.value) == f"{tmp_path}/none:1:1: not a property catalogue directory"


# -- the phrase grammar ---------------------------------------------------------------------

def test_gap_spans_a_bounded_number_of_words():
    regex = compile_phrase("locks ... ignored", {})
    assert regex.search("locks are then ignored")
    assert regex.search("locks, quite simply, are ignored")
    assert regex.search("locks " + "word " * GAP_WORDS + "ignored")
    assert not regex.search("locks " + "word " * (GAP_WORDS + 1) + "ignored")


def test_a_catalogue_pickles_its_patterns_as_source_and_compiles_them_on_use(catalogue):
    import pickle
    import re

    again = pickle.loads(pickle.dumps(catalogue))
    assert again == catalogue
    phrase = again.get("madvise-dontneed-shared").denies[0]
    assert phrase.regex._regex is None  # not compiled by unpickling
    sentence = "The caller tried to discard locked or shared pages."
    assert phrase.regex.search(sentence).group(0) == "discard locked or shared pages"
    assert phrase.regex._regex == re.compile(phrase.regex.pattern, re.IGNORECASE)


def test_terms_expand_and_word_boundaries_apply():
    terms = {"fail": "(?:fail(?:s|ed)?)", "pos": "(?<!\\bnot )(?<!n't )", "call": "mlock\\(\\)"}
    regex = compile_phrase("<call> ... <pos><fail>", terms)
    assert regex.search("mlock() then fails")
    assert not regex.search("mlock() does not fail")
    assert not regex.search("mlock() doesn't fail")
    assert not compile_phrase("lock", {}).search("unlocked")
    with pytest.raises(ValueError, match="unknown term <nope>"):
        expand("<nope>", terms)
    with pytest.raises(ValueError, match="nest too deeply"):
        expand("<a>", {"a": "<a>"})


def test_normalise_keeps_offsets():
    text, where = normalise("a\u2014b  \u201cc\u201d\n d\u00ad")
    assert text == 'a-b "c" d'
    assert [where[i] for i in range(len(text))] == [0, 1, 2, 3, 5, 6, 7, 8, 10]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab .\t\n\u00a0\u2014\u201c\u00ad", max_size=40))
def test_normalised_characters_come_from_their_offsets(text):
    plain, where = normalise(text)
    assert len(where) == len(plain)
    offsets = [where[i] for i in range(len(plain))]
    assert offsets == sorted(set(offsets))  # increasing: the source order is kept
    for char, offset in zip(plain, offsets):
        if char == " ":
            assert text[offset].isspace() and (offset == 0 or not text[offset - 1].isspace())
        else:
            assert normalise(text[offset])[0] == char
    with pytest.raises(IndexError):
        where[len(plain)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["MAP_LOCKED", "MAP_", "MAP_LOCKEDX", "mlock", "mlock2", "xmlock", "EINVAL",
                                 "EINVALID", "fork", "forks", "_", "MCL_FUTURE", "brk", " ", "(", ")", ",", "\n"]),
                max_size=12))
def test_the_vocabulary_screen_never_hides_a_name(words):
    from mmsem.manpages.claims.passages import _WORDS, vocabulary
    from mmsem.manpages.lint import packaged_catalogue

    names = vocabulary(default_spec(), packaged_catalogue()).names
    text = "".join(words)
    assert Vocabulary(names).named_in(text) == (not names.isdisjoint(_WORDS(text)))


def test_sentences_and_their_scope():
    span = Span()
    span.append("Before Linux 4.12, pages went away at once (e.g. on a system without swap).",
                Origin("p", 3, 1))
    span.append("Since Linux 2.6.9 it is limited. POSIX says more.", Origin("p", 4, 1))
    found = sentences(span)
    assert [s.text for s in found] == [
        "Before Linux 4.12, pages went away at once (e.g. on a system without swap).",
        "Since Linux 2.6.9 it is limited.", "POSIX says more."]
    assert [scope(s.text).covers((6, 18)) for s in found] == [False, True, False]
    assert scope(found[0].text).covers((4, 11))
    assert found[1].origin_at(0) == Origin("p", 4, 1)
    assert scope("glibc 2.27 and later").covers((6, 18))
    assert not scope("(Linux 2.4 and earlier) more").covers((2, 6))


def test_first_sentence():
    assert first_sentence("One thing: really. Two.") == "One thing: really"
    assert first_sentence("Only one") == "Only one"


# -- the rules on small pages ---------------------------------------------------------------

MMAP_LOCKED = """.SH DESCRIPTION
.TP
.B MAP_LOCKED
Lock the mapped pages
just like
.BR mlock (2).
Nothing else to say.
"""


def test_a_denial_is_reported_at_its_phrase():
    assert lint(page("mmap", MMAP_LOCKED), rules=["MM401"]) == [
        ("MM401", 8, 1, "MAP_LOCKED", "map-locked-best-effort")]


def test_a_claim_qualified_in_its_item_is_not_reported():
    qualified = MMAP_LOCKED + ".IP\nThe call does not fail if the range cannot be populated.\n"
    assert lint(page("mmap", qualified), rules=["MM401"]) == []


def test_evidence_is_the_witness_and_its_outcome(catalogue):
    finding = Linter("6.18", select=["MM401"]).lint_text(page("mmap", MMAP_LOCKED), "page.2")[0]
    prop = next(p for p in catalogue if p.id == "map-locked-best-effort")
    assert finding.evidence.trace == prop.witness
    assert finding.evidence.engine.startswith("engine (profile 6.18): mmap(len=4p, prot=PROT_READ|PROT_WRITE, "
                                              "flags=MAP_SHARED|MAP_LOCKED, fd=F) -> A+0p; ")
    assert "mlock(addr=B, len=4p) -> -1 ENOMEM; touch(addr=A+2p) -> SIGBUS; every expectation met" \
        in finding.evidence.engine
    assert finding.evidence.kernel is None
    assert finding.as_dict()["evidence"]["trace"] == prop.witness
    assert str(finding) == ("page.2:8:1: error: claim contradicts the kernel (map-locked-best-effort): mmap with "
                            "MAP_LOCKED faults the range in on a best-effort basis: it succeeds even when some "
                            "pages cannot be populated, which then stay locked but not resident, so major faults "
                            "can still happen later [MM401]")


DONTUNMAP = """.SH DESCRIPTION
.TP
.BR MREMAP_DONTUNMAP " (since Linux 5.7)"
Moves the mapping and leaves the old range mapped.
It works only on private anonymous mappings.
"""


@pytest.mark.parametrize("version, expected", [
    ("6.18", [("MM403", 8, 10, "MREMAP_DONTUNMAP", "mremap-dontunmap-any-mapping")]),
    ("5.13", [("MM403", 8, 10, "MREMAP_DONTUNMAP", "mremap-dontunmap-any-mapping")]),
    ("5.12", []),  # the text was right then
    ("5.7", []),
])
def test_text_is_judged_for_the_kernel_version(version, expected):
    assert lint(page("mremap", DONTUNMAP), version, ["MM401", "MM403"]) == expected


ONFAULT_ALONE = """.SH DESCRIPTION
.TP
.B MCL_ONFAULT
Pages get locked as they fault in.
MCL_ONFAULT has to be combined with MCL_CURRENT or MCL_FUTURE.
"""


def test_a_property_of_old_kernels_refutes_text_about_new_ones():
    refuted = ["MM401", "MM403"]
    assert lint(page("mlockall", ONFAULT_ALONE), "6.18", refuted) == []
    assert lint(page("mlockall", ONFAULT_ALONE), "5.1", refuted) == [
        ("MM401", 8, 1, "MCL_ONFAULT", "mlockall-onfault-alone-accepted")]
    assert lint(page("mlockall", ONFAULT_ALONE), "4.3", refuted) == []  # no MCL_ONFAULT at all then


def test_sentences_about_other_kernels_or_systems_are_not_claims():
    text = page("madvise", """.SH DESCRIPTION
.TP
.B MADV_FREE
Frees pages lazily.
Before Linux 4.12, on a system without swap the pages were freed immediately.
POSIX says the kernel may simply ignore the advice.
""")
    assert lint(text, rules=["MM401", "MM403"]) == []
    assert lint(text.replace("Before Linux 4.12, on", "On"), rules=["MM401", "MM403"]) == [
        ("MM403", 8, 13, "MADV_FREE", "madvise-free-lazy-without-swap")]


def test_errno_scoped_property_only_in_its_errors_entry():
    body = """.SH DESCRIPTION
Part of the old range is not a valid address; touching it gives a segmentation fault.
.SH ERRORS
.TP
.B EFAULT
Segmentation fault.
The old range is not mapped.
"""
    assert lint(page("mremap", body), rules=["MM401"]) == [("MM401", 9, 1, "EFAULT", "efault-is-not-a-signal")]


BRK = """.SH DESCRIPTION
brk() moves the program break.
"""


def test_undocumented_behaviour_is_reported_where_the_subject_is_documented():
    assert lint(page("brk", BRK, "brk, sbrk")) == [("MM402", 5, 1, "brk", "brk-locked-under-mcl-future")]
    stated = BRK + "Under mlockall(MCL_FUTURE) the new heap pages are locked.\n"
    assert lint(page("brk", stated, "brk, sbrk")) == []
    # a page that does not document brk is not expected to say it
    assert lint(page("sbrk", BRK.replace("brk()", "sbrk()"), "sbrk")) == []


def test_undocumented_flag_is_reported_at_its_tag():
    text = page("mmap", ".SH DESCRIPTION\n.TP\n.B MAP_HUGETLB\nUse huge pages.\n", "mmap, munmap")
    found = [f for f in lint(text) if f[0] == "MM402"]
    assert ("MM402", 6, 4, "MAP_HUGETLB", "hugetlb-private-cow-after-fork") in found


def test_rules_are_registered():
    assert {r: (RULES[r].name, RULES[r].severity, RULES[r].category) for r in ("MM401", "MM402", "MM403")} == {
        "MM401": ("refuted-claim", "error", "claims"),
        "MM402": ("undocumented-behaviour", "warning", "claims"),
        "MM403": ("outdated-claim", "warning", "claims")}


# -- paraphrases we write ourselves, generated from a small grammar -------------------------

def denied(prop_id: str, sentence: str, catalogue) -> bool:
    prop = next(p for p in catalogue if p.id == prop_id)
    return prop.denial(normalise(sentence)[0]) is not None


PARAPHRASES = {
    "map-locked-best-effort": (
        st.sampled_from(["MAP_LOCKED", "This flag", "The flag"]),
        st.sampled_from(["locks the new mapping's pages", "locks the mapped region", "locks the range"]),
        st.sampled_from(["in the manner of mlock()", "in the same way as mlock()", "just like mlock(2)",
                         "exactly like mlock()", "as if by mlock(2)", "the same as calling mlock(2)"])),
    "map-populate-best-effort": (
        st.sampled_from(["Later", "Subsequent", "Future", "Any"]),
        st.sampled_from(["accesses to the mapping", "reads of the region", "references to these pages",
                         "accesses"]),
        st.sampled_from(["will not stall on a page fault", "won't block on page faults",
                         "will never cause page faults", "never incur major page faults",
                         "do not cause page faults"])),
    "fork-drops-locks": (
        st.sampled_from(["Memory locks", "Locks made with mlock(2)", "Locked pages"]),
        st.sampled_from(["are", "will be", "remain"]),
        st.sampled_from(["inherited by the child", "preserved across fork(2)", "kept in the child process",
                         "copied into the child created by fork()"])),
    "mremap-dontunmap-any-mapping": (
        st.sampled_from(["MREMAP_DONTUNMAP", "This flag", "It"]),
        st.sampled_from(["can be used only with", "may only be used with", "can only be used on"]),
        st.sampled_from(["private anonymous mappings", "anonymous private mappings",
                         "MAP_PRIVATE and MAP_ANONYMOUS mappings"])),
    "madvise-advice-honoured": (
        st.sampled_from(["The kernel", "Linux", "The implementation"]),
        st.sampled_from(["is free to ignore", "may simply ignore", "can ignore", "is allowed to ignore"]),
        st.sampled_from(["the advice", "this advice", "any advice"])),
    "madvise-free-lazy-without-swap": (
        st.sampled_from(["On a swapless system,", "On systems without swap,", "When there is no swap,"]),
        st.sampled_from(["the pages", "freed pages", "the range"]),
        st.sampled_from(["are released immediately", "are freed instantly", "get discarded at once"])),
    "map-populate-any-mapping": (
        st.sampled_from(["MAP_POPULATE", "This flag", "It"]),
        st.sampled_from(["is only supported", "works only", "only works", "is only valid"]),
        st.sampled_from(["for private mappings", "on file mappings", "with MAP_PRIVATE mappings"])),
    "mcl-future-mmap-eagain": (
        st.sampled_from(["If MCL_FUTURE is set and", "When MCL_FUTURE has been specified and"]),
        st.sampled_from(["the limit would be exceeded,", "too much memory would be locked,"]),
        st.sampled_from(["the mmap() call fails with ENOMEM", "the call that creates the mapping will fail with "
                         "ENOMEM", "the new mapping fails with the error ENOMEM"])),
}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(PARAPHRASES)).flatmap(
    lambda pid: st.tuples(st.just(pid), *PARAPHRASES[pid])))
def test_paraphrases_of_a_wrong_claim_are_denials(catalogue, case):
    prop_id, *parts = case
    sentence = " ".join(parts) + "."
    assert denied(prop_id, sentence, catalogue), sentence


NEGATED = {
    "map-locked-best-effort": ["The call does not fail as mlock(2) would if the range cannot be populated."],
    "map-populate-best-effort": ["It is not guaranteed that future reads won't stall on faults.",
                                 "There is no guarantee that subsequent reads never cause page faults."],
    "fork-drops-locks": ["Memory locks are not passed on to the child.",
                         "A forked child does not inherit memory locks.",
                         "Record locks made with fcntl(2) are inherited by the child."],
    "mremap-dontunmap-any-mapping": ["Before Linux 5.13 it was not limited in other ways."],
    "mcl-future-mmap-eagain": ["If MCL_FUTURE is set, the mmap() call fails with EAGAIN."],
    "madvise-advice-honoured": ["The kernel does not ignore advice that changes memory contents."],
    "madvise-free-lazy-without-swap": ["Even on systems without swap, the pages are not freed at once."],
}


@pytest.mark.parametrize("prop_id, sentence", [(p, s) for p, ss in NEGATED.items() for s in ss])
def test_negated_or_hedged_paraphrases_are_not_denials(catalogue, prop_id, sentence):
    assert not denied(prop_id, sentence, catalogue)


# -- EACCES for a descriptor not open for reading -------------------------------------------

EACCES_PRIVATE_ONLY = """\
.SH ERRORS
.TP
.B EACCES
The descriptor names a directory.
Or
.B MAP_PRIVATE
was requested, but
.I fd
is not open for reading.
"""


def test_eacces_for_private_mappings_only_is_refuted():
    assert lint(page("mmap", EACCES_PRIVATE_ONLY), rules=["MM401"]) == [
        ("MM401", 9, 4, "EACCES", "mmap-eacces-any-file-mapping")]


@pytest.mark.parametrize("condition", [".B MAP_SHARED\nor\n.B MAP_PRIVATE\n", "a file mapping\n"])
def test_eacces_for_every_file_mapping_is_not_refuted(condition):
    text = EACCES_PRIVATE_ONLY.replace(".B MAP_PRIVATE\n", condition)
    assert lint(page("mmap", text), rules=["MM401"]) == []
