"""Replaying traces on real kernels.

A kernel backend has: ``name`` (e.g. "kernel 6.18.44"), ``profile_name`` (the engine
profile it is compared with), ``calibration()``, ``outside_for(trace)`` and
``run(traces, snap_all=False, jobs=1) -> list[TraceResult]``. Targets are named as
on the command line: ``live`` is the running kernel (live.py); ``qemu:X.Y`` is
Debian's Linux X.Y booted under qemu (qemu.py).
"""

from __future__ import annotations


class ReplayUnavailable(Exception):
    """A kernel backend cannot run here (no compiler, not root, no kernel image...)."""


def backend(target: str):
    """The kernel backend for a --kernel TARGET."""
    if target == "live":
        from mmsem.semantics.replay.live import LiveKernel
        return LiveKernel()
    if target.startswith("qemu:"):
        from mmsem.semantics.replay.qemu import QemuKernel
        return QemuKernel(target.removeprefix("qemu:"))
    raise ReplayUnavailable(f"unknown kernel target {target!r} (available: live, qemu:X.Y such as qemu:6.1)")
