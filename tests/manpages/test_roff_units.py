"""The roff lexer and man(7) parser on small pages written for these tests.

Every expectation is exact: texts, line:column positions, messages and counts.
Snippets are raw strings so that a roff escape is written as it is in a page;
positions can be counted by eye (columns are 1-based, the control character of a
request is column 1).
"""

from __future__ import annotations

import gc
import gzip
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsem.manpages.document import Comment, Origin, new_origin
from mmsem.manpages.lexer import Token
from mmsem.manpages.roff import parse_text, read_page, tokenize
from mmsem.spec.source import InputError

HEAD = ".TH demo 2 2024-01-01\n.SH DESCRIPTION\n"  # page bodies below start on line 3


def page(body: str, path: str = "demo.2"):
    return parse_text(HEAD + body, path)


def paragraphs(doc, section: str = "DESCRIPTION") -> list:
    return doc.section(section).paragraphs


def at(path: str, line: int, col: int) -> Origin:
    return Origin(path, line, col)


# ------------------------------------------------------------------- tokens


def test_font_and_character_escapes_are_tokens_at_their_columns():
    [(kind, tokens)] = tokenize(r"Set \fBMAP_X\fP here\-now" + "\n")
    assert kind == "text"
    assert tokens == [
        Token("text", "Set ", "Set ", 1, 1, "R"),
        Token("font", "", r"\fB", 1, 5, "B"),
        Token("text", "MAP_X", "MAP_X", 1, 8, "B"),
        Token("font", "", r"\fP", 1, 13, "R"),
        Token("text", " here", " here", 1, 16, "R"),
        Token("escape", "-", r"\-", 1, 21, "R"),
        Token("text", "now", "now", 1, 23, "R"),
    ]


def test_font_escape_forms():
    [(_, tokens)] = tokenize(r"\f(BIa\f[I]b\f[]c\fRd" + "\n")
    assert [(t.raw, t.font) for t in tokens if t.kind == "font"] == [
        (r"\f(BI", "BI"), (r"\f[I]", "I"), (r"\f[]", "BI"), (r"\fR", "R")]
    assert "".join(t.text for t in tokens) == "abcd"


def test_macro_arguments_start_after_their_opening_quote():
    [(kind, tokens)] = tokenize('.BI "int f(char " name );\n')
    assert kind == "request"
    assert [(t.kind, t.text, t.line, t.col) for t in tokens] == [
        ("request", "BI", 1, 2),
        ("text", "int f(char ", 1, 6),
        ("text", "name", 1, 19),
        ("text", ");", 1, 24),
    ]


def test_a_doubled_quote_inside_a_quoted_argument_is_one_quote():
    [(_, tokens)] = tokenize('.B "say ""hi"""\n')
    assert [(t.kind, t.text, t.raw, t.col) for t in tokens[1:]] == [
        ("text", "say ", "say ", 5),
        ("escape", '"', '""', 9),
        ("text", "hi", "hi", 11),
        ("escape", '"', '""', 13),
    ]
    assert page('.B "say ""hi"""\n').section("DESCRIPTION").paragraphs[0].body.text == 'say "hi"'


def test_escaped_newline_joins_lines_and_keeps_each_lines_positions():
    [(kind, tokens)] = tokenize('.BI "int g(int " a ", \\\nlong " b );\n')
    assert kind == "request"
    assert [(t.text, t.line, t.col) for t in tokens] == [
        ("BI", 1, 2), ("int g(int ", 1, 6), ("a", 1, 18), (", ", 1, 21), ("long ", 2, 1), ("b", 2, 8), (");", 2, 10),
    ]


def test_special_characters_strings_and_spacing_escapes_in_plain_text():
    doc = page(r"A \(em B \[bu] C \*(lqD\*(rq E\[u00E9] 2\ GB \~x y\&z \%w \e" + "\n")
    body = paragraphs(doc)[0].body
    assert body.text == "A \u2014 B \u2022 C \u201cD\u201d E\u00e9 2 GB  x yz w \\"
    assert body.origin_at(body.text.index("B")) == at("demo.2", 3, 8)
    assert body.origin_at(body.text.index("C")) == at("demo.2", 3, 16)
    assert body.origin_at(body.text.index("GB")) == at("demo.2", 3, 43)
    assert doc.problems == []


def test_comments_are_kept_with_positions_and_produce_no_text():
    doc = parse_text("'\\\" t\n" + HEAD + '.\\" a remark\nSome text \\" trailing remark\n.B word \\" on a macro\n',
                     "demo.2")
    assert doc.comments == [
        Comment(" t", at("demo.2", 1, 1)),
        Comment(" a remark", at("demo.2", 4, 1)),
        Comment(" trailing remark", at("demo.2", 5, 11)),
        Comment(" on a macro", at("demo.2", 6, 9)),
    ]
    assert paragraphs(doc)[0].body.text == "Some text word"


def test_unknown_macros_escapes_and_characters_are_problems_and_parsing_goes_on():
    doc = page(".XY one two\nBefore \\[nope] mid \\j after.\n.RE\nLast words.\n")
    assert doc.problems == [
        (at("demo.2", 3, 2), "unknown macro: .XY"),
        (at("demo.2", 4, 8), "unknown special character: \\[nope]"),
        (at("demo.2", 4, 20), "unknown escape: \\j"),
        (at("demo.2", 5, 2), ".RE without .RS"),
    ]
    assert [p.body.text for p in paragraphs(doc)] == ["Before \ufffd mid j after.", "Last words."]


# -------------------------------------------------------------- structure


def test_sections_and_subsections_keep_their_name_positions():
    doc = parse_text('.TH demo 2\n.SH NAME\ndemo \\- x\n.SH "SEE ALSO"\n.SS First part\ntext\n.SH\nNEXT\n', "d.2")
    assert [(s.name, s.origin) for s in doc.sections] == [
        ("NAME", at("d.2", 2, 5)), ("SEE ALSO", at("d.2", 4, 6)), ("NEXT", at("d.2", 8, 1))]
    assert doc.section("SEE ALSO").subsections == [("First part", at("d.2", 5, 5))]
    assert doc.section("SEE ALSO").paragraphs[0].subsection == "First part"
    assert (doc.title, doc.man_section) == ("demo", "2")


def test_tp_takes_the_next_line_as_its_tag_and_tq_adds_tag_lines():
    doc = page('.TP\n.BR DEMO_ONE " (since Linux 5.1)"\nFirst body.\n'
               ".TP 8\n.B DEMO_TWO\n.TQ\n.B DEMO_THREE\nShared\nbody.\n.PP\nAfter the list.\n")
    first, second, after = paragraphs(doc)
    assert (first.kind, first.tag.text, first.tag.origin, first.body.text) == (
        "tagged", "DEMO_ONE (since Linux 5.1)", at("demo.2", 4, 5), "First body.")
    assert first.tag.origin_at(first.tag.text.index("(")) == at("demo.2", 4, 16)
    assert (second.tag.text, second.body.text) == ("DEMO_TWO\nDEMO_THREE", "Shared body.")
    assert second.tag.origin_at(second.tag.text.index("DEMO_THREE")) == at("demo.2", 9, 4)
    assert (after.kind, after.tag, after.item) == ("plain", None, None)


def test_ip_with_a_tag_is_tagged_and_without_one_continues_the_item():
    doc = page('.IP "\\(bu" 4\nA point.\n.IP\nMore on it.\n.PP\nOutside.\n')
    point, more, outside = paragraphs(doc)
    assert (point.kind, point.tag.text, point.body.text) == ("tagged", "\u2022", "A point.")
    assert (more.kind, more.tag, more.item is point) == ("plain", None, True)
    assert outside.item is None


def test_rs_re_nesting_is_the_paragraph_indent():
    doc = page("Zero.\n.RS\nOne.\n.RS 4\nTwo.\n.RE\nOne again.\n.RE\nZero again.\n")
    assert [(p.body.text, p.indent) for p in paragraphs(doc)] == [
        ("Zero.", 0), ("One.", 1), ("Two.", 2), ("One again.", 1), ("Zero again.", 0)]


def test_ex_ee_is_a_literal_paragraph_with_lines_kept():
    doc = page(".EX\nint x = 1;\n\n    y = \\-x;  /* \\fBsee\\fP */\n.EE\nAfter.\n")
    literal, after = paragraphs(doc)
    assert (literal.kind, literal.body.text) == ("literal", "int x = 1;\n\n    y = -x;  /* see */")
    assert literal.body.origin_at(literal.body.text.index("y")) == at("demo.2", 6, 5)
    assert (after.kind, after.body.text) == ("plain", "After.")


def test_nf_fi_and_fill_mode_line_joining():
    doc = page("one\ntwo\\c\nthree   \n\nNew paragraph.\n.nf\nkept\n  as is\n.fi\n")
    assert [(p.kind, p.body.text) for p in paragraphs(doc)] == [
        ("plain", "one twothree"), ("plain", "New paragraph."), ("literal", "kept\n  as is")]


def test_a_tbl_block_is_a_literal_paragraph_of_its_cells():
    doc = page(".TS\nallbox;\nl l.\nName\tValue\nT{\n.B bold\nT}\tplain\n.TE\nAfter.\n")
    table, after = paragraphs(doc)
    assert (table.kind, table.body.text) == ("literal", "Name\tValue\nbold\n\tplain")
    assert after.body.text == "After."


def test_links_put_their_text_or_their_address_in_the_paragraph():
    doc = page(".UR https://example.org/a\nthe site\n.UE ,\nand\n.UR https://example.org/b\n.UE .\n")
    assert paragraphs(doc)[0].body.text == "the site, and https://example.org/b."


def test_strings_registers_conditionals_and_user_macros():
    body = (".ds Dx demo string\n"
            ".nr Nn 2+3*2\n"
            ".de Qm\n"
            ".B \\\\$1\n"
            "..\n"
            ".if n Nroff text.\n"
            ".if t Troff text.\n"
            ".ie \\n(.g Groff.\n"
            ".el Other.\n"
            ".if !t \\{\\\n"
            "Block text.\n"
            ".\\}\n"
            "Use \\*(Dx, \\n(Nn.\n"
            ".Qm ARG\n")
    doc = page(body)
    [paragraph] = paragraphs(doc)
    assert paragraph.body.text == "Nroff text. Groff. Block text. Use demo string, 10. ARG"
    # text from a macro expansion is placed at the macro call
    assert paragraph.body.origin_at(paragraph.body.text.index("ARG")) == at("demo.2", 16, 1)
    assert doc.problems == []


def test_self_multiplying_macros_and_strings_stop_at_the_expansion_allowance():
    doc = page(".de X\n.X\n.X\nw\n..\n.X\n")
    assert doc.problems == [
        (at("demo.2", 8, 1), "macro nested too deep: .X"),
        (at("demo.2", 8, 1), "more than 20000 macro lines and strings expanded; no more are"),
    ]
    strings = "".join(f".ds s{n} \\*[s{n + 1}]\\*[s{n + 1}]\n" for n in range(30)) + ".ds s30 x\n\\*[s0]\n"
    doc = page(strings)
    assert doc.problems == [
        (at("demo.2", 34, 1), "string nested too deep: \\*[s20]"),
        (at("demo.2", 34, 1), "more than 20000 macro lines and strings expanded; no more are"),
    ]


def test_ig_blocks_are_skipped():
    doc = page(".ig\nignored .B text\n..\nKept.\n")
    assert [p.body.text for p in paragraphs(doc)] == ["Kept."]


# ------------------------------------------------------------------ facts


def test_name_section_lists_the_names():
    doc = parse_text(".TH demo 2\n.SH NAME\ndemo, demo2,\ndemo3 \\- do things, carefully\n", "d.2")
    assert doc.names == ("demo", "demo2", "demo3")


SYNOPSIS = r""".TH demo 2
.SH SYNOPSIS
.nf
.B #include <demo.h>
.PP
/* Only on odd days: */
.BI "int demo(int " fd ", const char *" name ,
.BI "         size_t " len );
.BI "void (*demo_handler(int " sig "))(int);"
.B typedef int demo_t;
.fi
.PP
.BI "int demo3(int " fd );
Note: not a prototype(void);
"""


def test_synopsis_prototypes_are_joined_normalised_and_positioned():
    doc = parse_text(SYNOPSIS, "d.2")
    assert [(p.name, p.text, p.origin) for p in doc.prototypes] == [
        ("demo", "int demo(int fd, const char *name, size_t len);", at("d.2", 7, 6)),
        ("demo_handler", "void (*demo_handler(int sig))(int);", at("d.2", 9, 6)),
        ("demo3", "int demo3(int fd);", at("d.2", 13, 6)),  # outside no-fill mode, still a declaration
    ]


ERRORS = r""".TH demo 2
.SH ERRORS
.TP
.B EFOO
.RB ( demo (),
.BR demo2 (),
and
.BR demo3 ())
Reason one.
.TP
.BR EBAR " or " EBAZ
(Not on this system) Reason two.
.TP
.BR EQUX " (" demo "() only)"
.RB ( demo2 ()):
(before Linux 1.0) Reason three.
.TP
.B SIGDEMO
Not an error number.
"""


def test_errors_entries_with_scopes_and_qualifiers():
    doc = parse_text(ERRORS, "d.2")
    assert [(e.errno, e.scope, e.qualifiers, e.origin) for e in doc.errors] == [
        ("EFOO", ("demo", "demo2", "demo3"), (), at("d.2", 4, 4)),
        ("EBAR", (), ("Not on this system",), at("d.2", 11, 5)),
        ("EBAZ", (), ("Not on this system",), at("d.2", 11, 17)),
        ("EQUX", ("demo", "demo2"), ("before Linux 1.0",), at("d.2", 14, 5)),
    ]
    assert doc.errors[0].body.text == "(demo(), demo2(), and demo3()) Reason one."


SINCE = r""".TH demo 2
.SH DESCRIPTION
.TP
.BR DEMO_A ", " DEMO_B " (since Linux 3.8)"
Two flags.
.TP
.B DEMO_C
(since Linux 4.1)
Its note starts the body.
Mid-line words (since Linux 9.0) name nothing.
.PP
Use the
.B DEMO_D
flag (since Linux 5.10) here; \fIdemo_e\fP (Since Linux 2.6.12.) too.
.EX
demo(); /* (since Linux 1.0) */
.EE
"""


def test_since_notes_and_their_subjects():
    doc = parse_text(SINCE, "d.2")
    assert [(n.subject, n.version, n.origin) for n in doc.since] == [
        ("DEMO_A", "3.8", at("d.2", 4, 26)),
        ("DEMO_B", "3.8", at("d.2", 4, 26)),
        ("DEMO_C", "4.1", at("d.2", 8, 1)),
        ("DEMO_D", "5.10", at("d.2", 14, 6)),
        ("demo_e", "2.6.12", at("d.2", 14, 44)),
    ]


# --------------------------------------------------------------- reading files


def write(path, text: str | bytes, compress: bool = False) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    path.write_bytes(gzip.compress(data) if compress else data)
    return str(path)


PAGE = ".TH real 2\n.SH NAME\nreal \\- a page\n.SH DESCRIPTION\nReal text.\n"


def test_gzip_and_plain_pages_read_the_same(tmp_path):
    plain = read_page(write(tmp_path / "man2" / "real.2", PAGE))
    packed = read_page(write(tmp_path / "man2" / "packed.2.gz", PAGE, compress=True))
    assert packed.names == plain.names == ("real",)
    assert packed.section("DESCRIPTION").paragraphs[0].body.origin.path == str(tmp_path / "man2" / "packed.2.gz")


def test_a_page_that_is_not_utf8_is_read_as_latin1_and_noted(tmp_path):
    raw = (".TH old 3\n.SH NAME\nold \\- legacy\n.SH DESCRIPTION\nCaf\xe9 au lait.\n").encode("latin-1")
    path = write(tmp_path / "man3" / "old.3", raw)
    doc = read_page(path)
    assert doc.problems == [(at(path, 5, 4), "not UTF-8; read as latin-1")]
    assert doc.section("DESCRIPTION").paragraphs[0].body.text == "Caf\u00e9 au lait."


def test_so_link_page_reads_its_target_and_keeps_the_chain(tmp_path):
    target = write(tmp_path / "man2" / "real.2.gz", PAGE, compress=True)
    link = write(tmp_path / "man2" / "alias.2", '.\\" a link page\n.so man2/real.2\n')
    doc = read_page(link)
    assert (doc.path, doc.source, doc.names) == (link, target, ("real",))
    assert doc.sections[0].origin == Origin(target, 2, 5, at(link, 2, 1))


def test_so_in_the_middle_of_a_page_is_read_in_place(tmp_path):
    write(tmp_path / "man7" / "shared.7", "Shared line.\n")
    path = write(tmp_path / "man2" / "host.2", ".TH host 2\n.SH DESCRIPTION\nBefore.\n.so man7/shared.7\nAfter.\n")
    doc = read_page(path)
    body = doc.section("DESCRIPTION").paragraphs[0].body
    assert body.text == "Before. Shared line. After."
    assert body.origin_at(body.text.index("Shared")) == Origin(str(tmp_path / "man7" / "shared.7"), 1, 1, at(path, 4, 1))
    assert body.origin_at(body.text.index("After")) == at(path, 5, 1)
    assert doc.source == path


@pytest.mark.parametrize("target", ["../outside.2", "/etc/passwd", "man2/../../outside.2"])
def test_so_outside_the_manual_tree_is_refused(tmp_path, target):
    write(tmp_path / "outside.2", PAGE)
    path = write(tmp_path / "tree" / "man2" / "evil.2", f".TH evil 2\n.so {target}\n")
    with pytest.raises(InputError) as caught:
        read_page(path)
    assert str(caught.value) == f"{path}:2:5: .so target outside the manual tree: {target}"


def test_so_to_a_missing_page_is_refused(tmp_path):
    path = write(tmp_path / "man2" / "lost.2", ".so man2/nowhere.2\n")
    with pytest.raises(InputError) as caught:
        read_page(path)
    assert str(caught.value) == f"{path}:1:5: .so target not found: man2/nowhere.2"


def test_so_loop_is_refused_where_it_closes(tmp_path):
    first = write(tmp_path / "man2" / "a.2", ".TH a 2\n.so man2/b.2\n")
    second = write(tmp_path / "man2" / "b.2.gz", ".so man2/a.2\n", compress=True)
    with pytest.raises(InputError) as caught:
        read_page(first)
    assert str(caught.value) == f"{second}:1:5: .so loop: man2/a.2 -> man2/b.2.gz -> man2/a.2"


def test_a_symbolic_link_page_records_the_link(tmp_path):
    target = write(tmp_path / "man2" / "real.2.gz", PAGE, compress=True)
    link = tmp_path / "man2" / "other.2.gz"
    os.symlink("real.2.gz", link)
    doc = read_page(link)
    assert (doc.path, doc.source) == (str(link), target)
    assert doc.sections[0].origin.via == at(str(link), 1, 1)


def test_unreadable_and_corrupt_pages_are_input_errors(tmp_path):
    with pytest.raises(InputError) as caught:
        read_page(tmp_path / "missing.2")
    assert str(caught.value) == f"{tmp_path / 'missing.2'}:1:1: cannot read: No such file or directory"
    broken = write(tmp_path / "man2" / "broken.2.gz", gzip.compress(PAGE.encode())[:-12])
    with pytest.raises(InputError) as caught:
        read_page(broken)
    assert str(caught.value) == f"{broken}:1:1: cannot decompress: truncated gzip data"


# ------------------------------------------------------------------ internals


def test_new_origin_is_the_same_value_as_origin():
    via = Origin("a.2", 3)
    made = new_origin("b.2", 4, 5, via)
    assert made == Origin("b.2", 4, 5, via) and hash(made) == hash(Origin("b.2", 4, 5, via))
    assert (repr(made), str(made), new_origin("c.2", 1)) == (repr(Origin("b.2", 4, 5, via)), "b.2:4:5", Origin("c.2", 1))


def test_parsing_makes_no_reference_cycles():
    """parse() pauses the cycle collector, which is only sound if it leaves no cycles behind."""
    text = HEAD + ".de Qm\n.B \\\\$1\n..\n.ds Dx words\n.TP\n.Qm TAG\n\\*(Dx\n.RS\n.IP\nmore\n.RE\n"
    gc.collect()
    gc.disable()
    try:
        doc = parse_text(text + SINCE + ERRORS + SYNOPSIS, "d.2")
        assert doc.since and doc.errors and doc.prototypes
        del doc
        assert gc.collect() == 0
    finally:
        gc.enable()


# Fragments that exercise every branch of the lexer and parser when strung together
# at random, including unterminated escapes, stray block ends and bad .so requests.
FRAGMENTS = [
    ".TH x 2", ".SH", ".SH ERRORS", ".SH SYNOPSIS", ".SS", ".PP", ".TP", ".TQ", ".IP", '.IP "\\(bu" 4',
    ".RS", ".RE", ".nf", ".fi", ".EX", ".EE", ".TS", ".T&", ".TE", "T{", "T}", ".UR", ".UE", ".MT x", ".ME",
    ".MR", ".SY", ".OP", ".YS", ".B", ".BR a b", '.I "x ""y"', ".de X", "..", ".X a", ".ds s \\*s", ".if",
    ".ie n", ".el", ".if t \\{", ".\\}", "\\}", ".ig", ".nr a 1+", ".so", ".so man2/x.2", ".do", ".nop",
    ".am X", ".rm X", ".cc", "\\", "\\f", "\\f(", "\\f[", "\\(", "\\[", "\\*", "\\*(", "\\n[",
    "\\s(", "\\h'", "\\w'a", "\\C", "\\c", '\\"', "\\#", "\\$1", "\\z", "\\o'", "\\kx", '"',
    "text", "(since Linux 1.2)", "E2BIG", "(f())", "int f(int);", ";", "(", ")", " ", "\t", ".", "'",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=5).map("".join), max_size=15).map("\n".join))
def test_any_arrangement_of_roff_fragments_parses_or_is_refused_as_input(text):
    try:
        doc = parse_text(text, "/nonexistent/man2/fuzz.2")
    except InputError as exc:  # only .so requests may refuse a page
        assert ".so" in exc.message
        return
    for origin, message in doc.problems:
        assert origin.line >= 1 and origin.col >= 1 and "\n" not in message
