"""`.so` may include only files of the page's own manual tree (man(7): groff's -U safer mode)."""

import os

import pytest

from .conftest import assert_input_error, mmsem


@pytest.mark.parametrize("target, shown", [
    ("/etc/passwd", "/etc/passwd"),
    ("../outside/secret.2", "../outside/secret.2"),
    ("man2/../../outside/secret.2", "man2/../../outside/secret.2"),
])
def test_so_outside_the_tree_is_refused(man_tree, target, shown):
    page = man_tree / "man2" / "page.2"
    page.write_text(f".TH PAGE 2\n.SH NAME\npage \\- x\n.so {target}\n")
    assert_input_error(mmsem("lint", page), f"{page}:4:5: .so target outside the manual tree: {shown}")


@pytest.mark.parametrize("link, target, included", [
    ("inside.2", "../../outside/secret.2", "man2/inside.2"),  # a page that is a link out
    ("dir", "../../outside", "man2/dir/secret.2"),  # a directory that is a link out
], ids=["file", "directory"])
def test_so_through_a_symlink_out_of_the_tree_is_refused(man_tree, link, target, included):
    os.symlink(target, man_tree / "man2" / link)
    page = man_tree / "man2" / "page.2"
    page.write_text(f".TH PAGE 2\n.SH NAME\npage \\- x\n.so {included}\n")
    assert_input_error(mmsem("lint", page), f"{page}:4:5: .so target outside the manual tree: {included} "
                                            "(a symbolic link leads out of it)")


def test_so_in_a_patch_cannot_leave_the_tree(man_tree, tmp_path):
    (man_tree / "man2" / "page.2").write_text(".TH PAGE 2\n.SH NAME\npage \\- x\n")
    patch = tmp_path / "p.patch"
    patch.write_text("--- a/man2/page.2\n+++ b/man2/page.2\n@@ -1,3 +1,4 @@\n .TH PAGE 2\n .SH NAME\n"
                     " page \\- x\n+.so /etc/passwd\n")
    # the patched page's line 4 is the .so the patch adds
    assert_input_error(mmsem("lint-patch", "--base", man_tree, patch),
                       f"{man_tree}/man2/page.2:4:5: .so target outside the manual tree: /etc/passwd")
