"""Very deep nesting, 100 MB inputs, binary and non-UTF-8 input: one-line errors (exit 2),
fast and in bounded memory, for every reader: traces, spec files, man pages, patches."""

import time

import pytest

from .conftest import assert_input_error, mmsem

MEMORY = 1 << 30
HUNDRED_MB = 100 << 20


def big_file(path, head: bytes, filler: bytes = b"#") -> None:
    with open(path, "wb") as out:
        out.write(head)
        block = filler * (1 << 20)
        for _ in range(HUNDRED_MB // len(block)):
            out.write(block)
        out.write(b"\n")


# -- very deep nesting -------------------------------------------------------------------------

@pytest.mark.parametrize("text, where", [
    # the first node too deep: level 65 (the document is level 0, steps: level 1)
    ("steps: " + "[" * 100_000 + "]" * 100_000 + "\n", "1:72: nesting deeper than 64 levels"),
    ("steps: " + "{a: " * 100 + "1" + "}" * 100 + "\n", "1:261: nesting deeper than 64 levels"),
    ("steps:\n" + "".join("  " * i + "-\n" for i in range(1, 200)) + "\n", "66:131: nesting deeper than 64 levels"),
], ids=["flow lists", "flow maps", "block lists"])
def test_deep_yaml_trace(tmp_path, text, where):
    trace = tmp_path / "deep.yaml"
    trace.write_text(text)
    assert_input_error(mmsem("run", trace, memory=MEMORY), f"{trace}:{where}")


def test_deep_yaml_spec_file(spec_copy):
    path = spec_copy / "syscalls" / "munlockall.yaml"
    lines = len(path.read_text().splitlines())
    path.write_text(path.read_text() + "deep: " + "[" * 5000 + "]" * 5000 + "\n")
    assert_input_error(mmsem("check-spec", spec_copy, memory=MEMORY),
                       f"{path}:{lines + 1}:71: nesting deeper than 64 levels")


@pytest.mark.parametrize("body, problem", [
    (".de a\n.a\n..\n.a\n", (6, "macro nested too deep: .a")),
    (".ds a \\*[a]x\n\\*[a]\n", (4, "string nested too deep: \\*[a]")),
    (".if n \\{\\\n" * 3000 + "x\n" + ".\\}\n" * 3000, None),
    ("\\*[" * 30_000 + "a" + "]" * 30_000 + "\n", None),
    (".nr x " + "(" * 30_000 + "1" + ")" * 30_000 + "\n", None),
], ids=["recursive macro", "recursive string", "nested conditionals", "nested strings", "deep register"])
def test_deep_roff(tmp_path, body, problem):
    """The parser bounds every recursion; groff warns and goes on, so does mmsem: the page is
    linted (exit 1: it lacks sections), the parser notes the defect, nothing crashes."""
    from mmsem.manpages import roff

    page = tmp_path / "man2" / "deep.2"
    page.parent.mkdir()
    page.write_text(".TH DEEP 2\n.SH NAME\n" + body)
    started = time.monotonic()
    result = mmsem("lint", page, memory=MEMORY)
    assert time.monotonic() - started < 60
    err = result.stderr.decode()
    assert result.returncode == 1 and "Traceback" not in err
    assert err.splitlines()[-1] == "mmsem lint: 3 findings in 1 page (judged against Linux 6.18)"
    if problem is not None:
        assert [(o.line, m) for o, m in roff.read_page(page).problems][:1] == [problem]


def test_deep_patch(tmp_path):
    patch = tmp_path / "deep.patch"
    patch.write_text("--- a/man2/x.2\n+++ b/man2/x.2\n@@ -1,1 +1,1 @@\n-x\n+" + "\\*[" * 50_000 + "\n")
    base = tmp_path / "man"
    (base / "man2").mkdir(parents=True)
    (base / "man2" / "x.2").write_text("y\n")
    assert_input_error(mmsem("lint-patch", "--base", base, patch, memory=MEMORY),
                       f"{patch}:3: hunk 1 of man2/x.2 does not apply at page line 1")


# -- 100 MB inputs -----------------------------------------------------------------------------

def test_100mb_trace(tmp_path):
    trace = tmp_path / "big.yaml"
    big_file(trace, b"steps: []\n")
    started = time.monotonic()
    assert_input_error(mmsem("run", trace, memory=MEMORY), f"{trace}:1:1: larger than 1 MiB")
    assert time.monotonic() - started < 30


def test_100mb_spec_file(spec_copy):
    path = spec_copy / "syscalls" / "munlockall.yaml"
    big_file(path, path.read_bytes())
    assert_input_error(mmsem("check-spec", spec_copy, memory=MEMORY), f"{path}:1:1: larger than 1 MiB")


@pytest.mark.parametrize("compressed", [False, True])
def test_100mb_page(tmp_path, compressed):
    page = tmp_path / "man2" / "big.2"
    page.parent.mkdir()
    big_file(page, b".TH BIG 2\n", b"a")
    if compressed:  # a gzip bomb: 100 KB that inflate to 100 MB
        import gzip
        page = page.with_suffix(".2.gz")
        page.write_bytes(gzip.compress(page.with_suffix("").read_bytes(), 9))
        page.with_suffix("").unlink()
    assert_input_error(mmsem("lint", page, memory=MEMORY), f"{page}:1:1: larger than 16 MiB")


def test_100mb_patch(tmp_path):
    patch = tmp_path / "big.patch"
    big_file(patch, b"--- a/man2/x.2\n+++ b/man2/x.2\n", b"a")
    assert_input_error(mmsem("lint-patch", patch, memory=MEMORY), f"{patch}:1: larger than 64 MiB")


def test_100mb_on_standard_input(tmp_path):
    result = mmsem("lint-patch", "-", input=b"--- a/x\n+++ b/x\n" + b"a" * HUNDRED_MB, memory=MEMORY)
    assert_input_error(result, "<stdin>:1: larger than 64 MiB")


def test_endless_input(tmp_path):
    """A device that never ends (/dev/zero) is read only up to the limit."""
    link = tmp_path / "zero.yaml"
    link.symlink_to("/dev/zero")
    assert_input_error(mmsem("run", link, memory=MEMORY, timeout=60), f"{link}:1:1: larger than 1 MiB")


# -- binary and non-UTF-8 input ------------------------------------------------------------------

BINARY = bytes(range(256)) * 16
LATIN1 = "steps: []\n# caf\xe9\n".encode("latin-1")


@pytest.mark.parametrize("data, where", [
    (BINARY, "1:1: binary data (NUL byte) where YAML text was expected"),
    (LATIN1, "2:6: not UTF-8 text"),
    (b"steps: []\n\x1b[31m: red\n", "2:1: malformed YAML: special characters are not allowed (U+001B)"),
    (b"\xff\xfesteps: []\n", "1:1: not UTF-8 text"),
])
def test_binary_and_non_utf8_trace(tmp_path, data, where):
    trace = tmp_path / "t.yaml"
    trace.write_bytes(data)
    assert_input_error(mmsem("run", trace), f"{trace}:{where}")


@pytest.mark.parametrize("data, where", [
    (BINARY, "1:1: binary data (NUL byte) where YAML text was expected"),
    ("name: munlockall\nsummary: caf\xe9\n".encode("latin-1"), "2:13: not UTF-8 text"),
])
def test_binary_and_non_utf8_spec_file(spec_copy, data, where):
    path = spec_copy / "syscalls" / "munlockall.yaml"
    path.write_bytes(data)
    assert_input_error(mmsem("check-spec", spec_copy), f"{path}:{where}")


def test_binary_page(tmp_path):
    page = tmp_path / "man2" / "bin.2"
    page.parent.mkdir()
    page.write_bytes(b".TH BIN 2\n" + BINARY)
    assert_input_error(mmsem("lint", page), f"{page}:2:1: binary data (NUL byte) where roff text was expected")


def test_latin1_page_is_read_as_latin1(tmp_path):
    """Old pages are latin-1: read as such (groff's -k behaviour), not refused."""
    page = tmp_path / "man2" / "old.2"
    page.parent.mkdir()
    page.write_bytes(".TH OLD 2\n.SH NAME\nold \\- caf\xe9\n".encode("latin-1"))
    result = mmsem("lint", page)
    assert result.returncode == 1 and b"Traceback" not in result.stderr
    from mmsem.manpages import roff
    assert [(o.line, o.col, m) for o, m in roff.read_page(page).problems] == [(3, 11, "not UTF-8; read as latin-1")]


@pytest.mark.parametrize("data, where", [
    (BINARY, "1: not a patch: no unified diff in it"),
    (b"\x1f\x8b\x08\x00" + BINARY, "1: not a patch: no unified diff in it"),
])
def test_binary_patch(tmp_path, data, where):
    patch = tmp_path / "bin.patch"
    patch.write_bytes(data)
    assert_input_error(mmsem("lint-patch", patch), f"{patch}:{where}")


# -- huge numbers ------------------------------------------------------------------------------
# int() refuses strings of more than 4300 digits (ValueError); found by the campaign in a
# property's `since:`, and then in a page's "since Linux 2.999...".

HUGE = "4" * 5000


def test_huge_version_in_a_spec_file(spec_copy):
    path = spec_copy / "syscalls" / "mlock2.yaml"
    text = path.read_text()
    assert text.splitlines()[4] == 'since: "4.4"'
    path.write_text(text.replace('since: "4.4"', f'since: "4.{HUGE}"', 1))
    assert_input_error(mmsem("check-spec", spec_copy), f"{path}:5:8: '4.{HUGE[:57]}... does not match "
                                                       "'^[0-9]{1,4}\\\\.[0-9]{1,4}(\\\\.[0-9]{1,4})?$' (at /since)")


def test_huge_version_in_a_page(tmp_path):
    page = tmp_path / "man2" / "mlock.2"
    page.parent.mkdir()
    page.write_text(f".TH MLOCK 2\n.SH NAME\nmlock \\- lock memory\n.SH DESCRIPTION\n"
                    f"MLOCK_ONFAULT is available since Linux 4.{HUGE}.\n.SH HISTORY\nLinux 1{HUGE}.0.\n")
    result = mmsem("lint", page)
    assert result.returncode == 1 and b"Traceback" not in result.stderr


def test_huge_numbers_in_a_trace(tmp_path):
    trace = tmp_path / "t.yaml"
    trace.write_text(f"steps:\n  - mlock: {{addr: 0, len: {HUGE}}}\n")
    assert_input_error(mmsem("run", trace), f"{trace}:2:27: integer literal longer than 100 characters")
    trace.write_text(f"steps:\n  - mlock: {{addr: 0, len: '{HUGE}p'}}\n")
    assert_input_error(mmsem("run", trace), f"{trace}:2:27: cannot read size '{HUGE[:60]}'...: a number of "
                                            "more than 40 digits")


def test_vmlck_relative_to_a_name(tmp_path):
    """Found by the trace campaign: a vmlck relative to a bound name reached `Ref // int`."""
    trace = tmp_path / "t.yaml"
    trace.write_text("steps:\n  - mmap: {len: 1p, prot: [PROT_READ], flags: [MAP_PRIVATE, MAP_ANONYMOUS]}\n"
                     "    as: A\nexpect_state:\n  vmlck: A+1p\n")
    assert_input_error(mmsem("run", trace), f"{trace}:5:10: vmlck 'A+1p' is a size: it cannot be relative to a name")


def test_spec_without_the_prot_flagset(spec_copy):
    """Found by the spec campaign: with flags/prot.yaml gone the spec looked sound, and its
    witness traces then failed on the missing flag set (KeyError)."""
    (spec_copy / "flags" / "prot.yaml").unlink()
    result = mmsem("check-spec", spec_copy)
    assert (result.returncode, result.stdout, b"Traceback" in result.stderr) == (2, b"", False)
    assert result.stderr.decode().splitlines() == [
        f"{spec_copy}/syscalls/mmap.yaml:21:5: prot argument prot needs the flagset prot",
        f"{spec_copy}/syscalls/mprotect.yaml:18:5: prot argument prot needs the flagset prot"]


def test_names_of_a_bare_number_or_a_broken_expression():
    """Found by the spec campaign: a spec placement size that YAML reads as an int (4096)
    reached names_in(4096) (AttributeError) while a witness trace was parsed."""
    from mmsem.semantics.expr import names_in

    assert names_in(4096) == set() and names_in("len + (") == set() and names_in("len + x") == {"len", "x"}
