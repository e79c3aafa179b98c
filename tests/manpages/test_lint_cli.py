"""`mmsem lint`: formats, exit codes, configuration and bad input (one line, exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from mmsem.cli import main
from mmsem.manpages import lint

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SILENT = str(FIXTURES / "silent" / "mlock.2")
SINCE = str(FIXTURES / "findings" / "since.2")
STRUCTURE = str(FIXTURES / "findings" / "structure.2")


@pytest.fixture(autouse=True)
def no_config(tmp_path, monkeypatch):
    """Run every test from an empty directory, away from any pyproject.toml with [tool.mmsem]."""
    monkeypatch.chdir(tmp_path)


#: The rule families whose findings these tests spell out (claim rules are tested apart).
FAMILIES = "structure,coverage,synopsis"


def run(capsys, *argv) -> tuple[int, str, str]:
    select = [] if "--select" in argv else ["--select", FAMILIES]
    code = main(["lint", "--kernel-version", "6.18", *select, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_clean_page_exits_0(capsys):
    assert run(capsys, SILENT) == (0, "", "mmsem lint: no findings in 1 page (judged against Linux 6.18)\n")


def test_text_findings_follow_the_compiler_convention(capsys):
    code, out, err = run(capsys, SINCE)
    assert code == 1
    assert out == (f"{SINCE}:18:24: warning: the page dates MREMAP_DONTUNMAP from Linux 5.8, the spec from "
                   "Linux 5.7 [MM205]\n")
    assert err == "mmsem lint: 1 finding in 1 page (judged against Linux 6.18)\n"


def test_json_output_matches_its_schema(capsys):
    code, out, _ = run(capsys, "--format", "json", STRUCTURE, SINCE)
    assert code == 1
    doc = json.loads(out)
    schema = json.loads(resources.files("mmsem.manpages").joinpath("schema/findings.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
    assert doc["findings"][-1] == {
        "path": SINCE, "line": 18, "column": 24, "rule": "MM205", "name": "since-mismatch",
        "severity": "warning", "subject": "MREMAP_DONTUNMAP",
        "message": "the page dates MREMAP_DONTUNMAP from Linux 5.8, the spec from Linux 5.7"}
    assert [f["rule"] for f in doc["findings"]] == ["MM105", "MM101", "MM103", "MM104", "MM101", "MM102", "MM205"]


def test_sarif_output_is_valid_sarif_2_1_0(capsys):
    code, out, _ = run(capsys, "--format", "sarif", STRUCTURE, SINCE)
    assert code == 1
    log = json.loads(out)
    schema = json.loads((FIXTURES / "sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.validate(log, schema, cls=jsonschema.Draft4Validator)
    run_ = log["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted(r.id for r in lint.RULES.values()
                                              if r.category in FAMILIES.split(","))
    last = run_["results"][-1]
    assert last["ruleId"] == "MM205" and rules[last["ruleIndex"]]["id"] == "MM205"
    assert last["level"] == "warning"
    assert last["locations"][0]["physicalLocation"]["region"] == {"startLine": 18, "startColumn": 24}
    assert last["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == SINCE


def test_github_annotations(capsys):
    code, out, _ = run(capsys, "--format", "github", SINCE, str(FIXTURES / "findings" / "coverage-errors.2"))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (f"::warning file={SINCE},line=18,col=24,title=MM205::the page dates MREMAP_DONTUNMAP "
                         "from Linux 5.8, the spec from Linux 5.7")
    assert len(lines) == 6
    assert lines[4].startswith("::notice file=") and ",title=MM202::" in lines[4]  # info is a notice


def test_list_rules(capsys):
    assert main(["lint", "--list-rules"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(lint.RULES)
    assert out[0].split()[:4] == ["MM100", "bad-suppression", "error", "structure"]
    assert any(line.split()[:4] == ["MM201", "undocumented-errno", "warning", "coverage"]
               and line.endswith("A call can fail with an errno that ERRORS does not document for it.")
               for line in out)


def test_select_and_ignore_take_ids_names_prefixes_and_categories(capsys):
    assert run(capsys, "--select", "MM1", "--ignore", "duplicate-flag,section-order", STRUCTURE)[1].count("\n") == 3
    assert run(capsys, "--select", "coverage", STRUCTURE)[0] == 0
    assert run(capsys, "--select", "errno-order", STRUCTURE)[1].count("[MM103]") == 1


@pytest.mark.parametrize("argv, message", [
    (["/nonexistent/page.2"], "/nonexistent/page.2:1:1: cannot read: No such file or directory"),
    (["--select", "MM999", SILENT], "--select:1:1: unknown rule 'MM999' (mmsem lint --list-rules lists them)"),
    (["--ignore", "bogus", SILENT], "--ignore:1:1: unknown rule 'bogus' (mmsem lint --list-rules lists them)"),
    (["--kernel-version", "six", SILENT], "--kernel-version:1:1: not a kernel version X.Y: 'six'"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    assert main(["lint", *argv]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", message + "\n")


def test_unreadable_pages(capsys, tmp_path):
    broken = tmp_path / "broken.2.gz"
    broken.write_bytes(b"\x1f\x8bnot gzip")
    assert main(["lint", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"{tmp_path}:1:1: cannot read: Is a directory\n"
    assert main(["lint", str(broken)]) == 2
    assert capsys.readouterr().err.startswith(f"{broken}:1:1: cannot decompress")


@pytest.mark.parametrize("text, message", [
    ("[tool.mmsem]\nselect = [\"MM103\"]\ncolour = 1\n",
     "3:1: unknown key 'colour' in [tool.mmsem] (known: select, ignore, kernel-version)"),
    ("[tool.mmsem\n", "1:12: not valid TOML: Expected ']' at the end of a table declaration"),
    ("[tool.mmsem]\nignore = 3\n", "2:1: expected a list of rule ids or names"),
    ("[tool.mmsem]\nkernel-version = 6.18\n", "2:1: kernel-version must be a string X.Y, not 6.18"),
    ("[tool.mmsem]\nselect = [\"MM9\"]\n", None),
])
def test_bad_configuration(capsys, tmp_path, text, message):
    (tmp_path / "pyproject.toml").write_text(text)
    assert main(["lint", SILENT]) == 2
    err = capsys.readouterr().err
    if message is None:
        assert err == "--select:1:1: unknown rule 'MM9' (mmsem lint --list-rules lists them)\n"
    else:
        assert err == f"{tmp_path / 'pyproject.toml'}:{message}\n"


def test_configuration_is_found_upwards_and_the_command_line_wins(capsys, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.mmsem]\nselect = "MM103"\nkernel-version = "4.3"\n')
    (tmp_path / "sub" / "dir").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "sub" / "dir")
    assert main(["lint", STRUCTURE]) == 1
    out, err = capsys.readouterr()
    assert [line.rsplit(" ", 1)[-1] for line in out.splitlines()] == ["[MM103]"]
    assert err.endswith("(judged against Linux 4.3)\n")
    assert main(["lint", "--select", "MM104", "--kernel-version", "6.1", STRUCTURE]) == 1
    out, err = capsys.readouterr()
    assert [line.rsplit(" ", 1)[-1] for line in out.splitlines()] == ["[MM104]"]
    assert err.endswith("(judged against Linux 6.1)\n")


def test_no_page_installed_says_what_it_looked_for(capsys, monkeypatch):
    monkeypatch.setattr(lint, "man_path", lambda name, section: None)
    assert main(["lint"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmsem lint:1:1: none of the pages of the modelled calls is installed (looked for ")
    assert "mlock.2, mmap.2" in err and err.count("\n") == 1


def test_installed_pages_are_each_linted_once():
    if lint.man_path("mlock", "2") is None:
        pytest.skip("man-pages are not installed")
    from mmsem.spec import default_spec

    files, wanted = lint.installed_pages(default_spec())
    assert "mlock.2" in wanted and "mmap.2" in wanted
    real = [os.path.realpath(f) for f in files]
    assert len(real) == len(set(real))
    assert sum(r.endswith("/mlock.2.gz") for r in real) == 1


def test_pages_are_not_modified(capsys, tmp_path):
    page = tmp_path / "since.2"
    page.write_bytes(Path(SINCE).read_bytes())
    before = (page.read_bytes(), page.stat().st_mtime_ns)
    assert main(["lint", "--format", "sarif", "--select", FAMILIES, str(page)]) == 1
    capsys.readouterr()
    assert (page.read_bytes(), page.stat().st_mtime_ns) == before
    assert sorted(os.listdir(tmp_path)) == ["since.2"]


def test_no_traceback_from_the_command(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mmsem", "lint", str(tmp_path / "missing.2")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == f"{tmp_path / 'missing.2'}:1:1: cannot read: No such file or directory\n"
