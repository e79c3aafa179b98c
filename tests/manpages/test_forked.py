"""map_forked, the worker processes of `mmsem lint --jobs`: the same results as the
serial loop, in order; the first exception in item order; a dead worker is an error,
never a hang; no worker outlives the call."""

from __future__ import annotations

import os
import signal
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsem.manpages.forked import WorkerFailed, map_forked, usable_cpus
from mmsem.spec.source import InputError
from mmsem.manpages.patch_input import PatchError


def no_children_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def square(n: int) -> int:
    return n * n


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-1000, 1000), max_size=30), st.integers(1, 5))
def test_the_results_of_the_serial_loop_in_order(items, jobs):
    assert map_forked(square, items, jobs) == [n * n for n in items]
    assert no_children_left()


class Odd(Exception):
    pass


def fail_on(bad: set):
    def function(n):
        if n in bad:
            raise Odd(n)
        return n
    return function


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 25), st.sets(st.integers(0, 24), min_size=1), st.integers(2, 4))
def test_the_first_exception_in_item_order_is_raised(count, bad, jobs):
    items = list(range(count))
    bad = {n for n in bad if n < count} or {count - 1}
    with pytest.raises(Odd) as raised:
        map_forked(fail_on(bad), items, jobs)
    assert raised.value.args == (min(bad),)
    assert no_children_left()


def test_an_exception_from_a_worker_carries_its_traceback_as_a_note():
    with pytest.raises(Odd) as raised:
        map_forked(fail_on({1}), [0, 1], 2)  # item 1 is worker 1's
    (note,) = raised.value.__notes__
    assert note.startswith("in a worker process:\nTraceback (most recent call last):")
    assert note.rstrip().endswith("Odd: 1")


def test_an_exception_of_the_calling_process_is_raised_as_it_is():
    with pytest.raises(Odd) as raised:
        map_forked(fail_on({0}), [0, 1], 2)  # item 0 is this process's own
    assert getattr(raised.value, "__notes__", []) == []


@pytest.mark.parametrize("error", [InputError("page.2", 3, 4, "bad page"), PatchError("a.patch", 7, 1, "bad hunk")])
def test_input_errors_cross_the_pipe_whole(error):
    def function(n):
        if n == 1:
            raise error
        return n

    with pytest.raises(type(error)) as raised:
        map_forked(function, [0, 1, 2], 2)
    assert (type(raised.value), str(raised.value), raised.value.message) == (type(error), str(error), error.message)


def test_an_exception_that_cannot_be_pickled_is_reported_by_its_text():
    class Local(Exception):  # a local class: pickle cannot find it by name
        pass

    def function(n):
        if n == 1:
            raise Local("no pickle")
        return n

    with pytest.raises(WorkerFailed, match=r"Local\('no pickle'\)"):
        map_forked(function, [0, 1], 2)
    assert no_children_left()


def test_a_worker_killed_is_an_error_not_a_hang():
    parent = os.getpid()

    def function(n):
        if n == 1 and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return n

    with pytest.raises(WorkerFailed, match="^a worker process was killed by signal 9$"):
        map_forked(function, [0, 1, 2, 3], 2)
    assert no_children_left()


def test_an_interrupt_of_the_caller_kills_the_workers_at_once():
    parent = os.getpid()

    def function(n):
        if os.getpid() == parent:
            raise KeyboardInterrupt  # Ctrl-C while this process lints its own share
        time.sleep(60)
        return n

    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        map_forked(function, [0, 1, 2], 3)
    assert time.monotonic() - start < 10
    assert no_children_left()


def test_workers_ignore_sigint_and_leave_no_output_of_their_own(capfd):
    parent = os.getpid()

    def function(n):
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGINT)  # as a terminal sends it to the whole group
        return n

    print("before", end="", flush=False)  # buffered at the fork: printed once, by this process
    assert map_forked(function, list(range(6)), 3) == list(range(6))
    out, err = capfd.readouterr()
    assert (out, err) == ("before", "")


def test_one_job_or_one_item_stays_in_this_process():
    parent = os.getpid()
    assert map_forked(lambda n: os.getpid(), [1, 2, 3], 1) == [parent] * 3
    assert map_forked(lambda n: os.getpid(), [1], 4) == [parent]
    assert map_forked(lambda n: os.getpid(), [], 4) == []


def test_usable_cpus_is_the_affinity_mask():
    assert usable_cpus() == len(os.sched_getaffinity(0)) >= 1


def test_a_worker_that_cannot_be_forked_leaves_its_share_to_this_process(monkeypatch):
    real_fork, forks = os.fork, []

    def fork():
        forks.append(1)
        if len(forks) == 2:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return real_fork()

    monkeypatch.setattr(os, "fork", fork)
    parent = os.getpid()
    fds = len(os.listdir("/proc/self/fd"))
    assert map_forked(lambda n: (n, os.getpid() == parent), list(range(8)), 4) == [
        (0, True), (1, False), (2, True), (3, False), (4, True), (5, False), (6, True), (7, False)]
    assert len(forks) == 3 and no_children_left()
    assert len(os.listdir("/proc/self/fd")) == fds  # the failed worker's pipe is closed
