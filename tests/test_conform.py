"""The conformance campaign: it agrees on this kernel, and it can fail.

The mutation tests break one rule in a copy of the spec and require the campaign
to find the divergence within 2,000 traces and shrink it to a small trace that
still diverges.
"""

import shutil

import pytest

from mmsem.semantics.compare import compare
from mmsem.semantics.conform import Campaign, possible_outcomes
from mmsem.semantics.engine import Engine
from mmsem.semantics.runner import run_engine
from mmsem.spec import PACKAGE_DIR, default_spec, load_spec


def test_bounded_campaign_agrees(live_kernel, tmp_path):
    report = Campaign(live_kernel, jobs=2, out_dir=tmp_path).run(400, seed=11, steps=12)
    assert report.traces == 400
    assert [f.as_dict() for f in report.found] == []
    assert report.agree == 400
    assert list(tmp_path.iterdir()) == []


MUTATIONS = {
    # mlockall(MCL_CURRENT) no longer tests the address space against RLIMIT_MEMLOCK
    "mlockall-limit-dropped": ("syscalls/mlockall.yaml",
                               "when: flags & MCL_CURRENT and not cap_ipc_lock and total_vm > memlock_limit",
                               "when: false", "mlockall"),
    # mlock2(MLOCK_ONFAULT) locks like plain mlock
    "mlock2-onfault-ignored": ("syscalls/mlock2.yaml",
                               'lock_flags: "VM_LOCKED | (VM_LOCKONFAULT if flags & MLOCK_ONFAULT else 0)"',
                               "lock_flags: VM_LOCKED", "mlock2"),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_campaign_finds_and_shrinks_a_broken_rule(live_kernel, tmp_path, name):
    path, old, new, call = MUTATIONS[name]
    spec_dir = tmp_path / "spec"
    shutil.copytree(PACKAGE_DIR, spec_dir)
    target = spec_dir / path
    text = target.read_text()
    assert text.count(old) == 1
    target.write_text(text.replace(old, new))
    broken = Engine(load_spec(spec_dir))

    campaign = Campaign(live_kernel, broken, jobs=2, out_dir=tmp_path / "found", shrink_limit=1)
    report = campaign.run(2000, seed=5, steps=12)

    assert report.undeclared, "the campaign did not notice the broken rule"
    found = report.undeclared[0]
    assert found.shrunk is not None and len(found.shrunk["steps"]) <= 4
    assert found.path and (tmp_path / "found").joinpath(found.path.split("/")[-1]).exists()
    # The shrunk trace still diverges with the broken spec and agrees with the real one.
    trace = campaign.load([found.shrunk], ["shrunk"])[0]
    kernel_result = live_kernel.run([trace], snap_all=True)[0]
    outside = live_kernel.outside_for(trace)
    assert not compare(run_engine(trace, broken, outside=outside), kernel_result).agree
    assert compare(run_engine(trace, Engine(), outside=outside), kernel_result).agree
    assert any(call in step for step in found.shrunk["steps"])


def test_possible_outcomes_follow_the_profile():
    spec = default_spec()
    now = possible_outcomes(spec, spec.profile("6.18"))
    assert now["mlock2"] == {"ok", "EINVAL", "EPERM", "ENOMEM"}
    assert now["munlockall"] == {"ok"}
    assert now["touch"] == {"ok", "SIGSEGV", "SIGBUS"}
    assert possible_outcomes(spec, spec.profile("4.3"))["mlock2"] == {"ENOSYS"}
