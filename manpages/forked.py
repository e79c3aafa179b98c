"""Map a function over a list in forked worker processes, results in the list's order.

``mmsem lint`` reads and lints every page on its own, so a run over many pages (all
of man2, or man2 and man3) spreads them over the CPUs it may use. The workers are
forked from the process that has already loaded the spec, the property catalogue and
the caches: they start with all of it in memory (copy-on-write) and nothing is sent
to them. Worker k of n takes items k, k + n, k + 2n, ...: pages in name order are
spread this way about evenly, whatever their sizes, without any scheduling traffic.
The calling process is worker 0; the others send their results back pickled
through a pipe.

There is no thread and no multiprocessing machinery on purpose: a worker that dies
(killed, out of memory) is an error in the parent, never a hang, and an interrupt of
the parent (SIGINT, SIGTERM) kills the workers before it unwinds. Workers ignore
SIGINT, which a terminal sends to the whole process group (the parent alone decides
what to do), die on SIGTERM, and leave with os._exit: they never run the parent's
exit handlers or flush a copy of its output buffers.
"""

from __future__ import annotations

import os
import pickle
import signal
import traceback

#: Exit status of a worker that could not send its results (EX_SOFTWARE).
_FAILED = 70


class WorkerFailed(RuntimeError):
    """A worker ended without sending its results."""


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def map_forked(function, items: list, jobs: int) -> list:
    """``[function(item) for item in items]``, computed by up to `jobs` forked workers.

    An exception `function` raises is raised here, as the serial loop would raise it:
    the first in item order (a worker stops at its first), with the worker's
    traceback as a note.
    """
    jobs = min(jobs, len(items))
    if jobs <= 1:
        return [function(item) for item in items]
    workers: list = []  # [k, pid, read end of its pipe]; pid 0 once reaped
    own = [0]  # the shares this process computes: its own, and any a fork failed to start
    try:
        for k in range(1, jobs):
            try:
                read, write = os.pipe()
            except OSError:  # out of file descriptors: no worker for k
                own.append(k)
                continue
            try:
                pid = os.fork()
            except OSError:  # out of processes or memory (EAGAIN, ENOMEM): no worker for k
                os.close(read)
                os.close(write)
                own.append(k)
                continue
            if pid == 0:  # the worker
                os.close(read)
                _work(function, items[k::jobs], write)
            os.close(write)
            workers.append([k, pid, read])
        outputs = {k: _compute(function, items[k::jobs]) for k in own}
        for worker in workers:
            outputs[worker[0]] = _receive(*worker[1:])
            worker[1] = 0
    finally:
        for _, pid, read in workers:
            if pid:
                _kill(pid)
            os.close(read)
    return _merge([outputs[k] for k in range(jobs)], len(items))


def _work(function, items: list, write: int) -> None:
    """A worker's whole life: compute, send, leave (never returns)."""
    status = _FAILED
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        results, error = _compute(function, items)
        try:
            payload = pickle.dumps((results, error), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # an exception that cannot be pickled: send its text
            payload = pickle.dumps((results, (len(results), WorkerFailed(repr(error[1])), error[2])))
        with os.fdopen(write, "wb") as pipe:
            pipe.write(payload)
        status = 0
    finally:
        os._exit(status)


def _compute(function, items: list) -> tuple:
    """(results, None), or (the results before the first exception, (their count, it, its traceback))."""
    results: list = []
    for item in items:
        try:
            results.append(function(item))
        except Exception as exc:  # raised by map_forked, in item order
            return results, (len(results), exc, traceback.format_exc())
    return results, None


def _receive(pid: int, read: int) -> tuple:
    """What the worker `pid` sent: (results, error or None)."""
    chunks = []
    while True:
        chunk = os.read(read, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        raise WorkerFailed(f"a worker process was killed by signal {os.WTERMSIG(status)}")
    if os.waitstatus_to_exitcode(status) != 0:
        raise WorkerFailed(f"a worker process failed (exit status {os.waitstatus_to_exitcode(status)})")
    return pickle.loads(b"".join(chunks))


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _merge(outputs: list, count: int) -> list:
    """The results in item order, or the first error in item order raised."""
    jobs = len(outputs)
    errors = []
    for k, (_, error) in enumerate(outputs):
        if error is not None:
            position, exc, text = error
            errors.append((k + position * jobs, exc, text))
    if errors:
        _, exc, text = min(errors, key=lambda e: e[0])
        if exc.__traceback__ is None and hasattr(exc, "add_note"):  # raised in another process
            # (unpickled without its traceback; add_note: Python 3.11)
            exc.add_note(f"in a worker process:\n{text.rstrip()}")
        raise exc
    merged = [None] * count
    for k, (results, _) in enumerate(outputs):
        merged[k::jobs] = results
    return merged
