"""Admission control for password hashing: at most so many hashes at once per process.

An argon2id hash holds ``REGISTRATION_ARGON2_MEMORY_COST`` KiB (64 MiB by default) and
``REGISTRATION_ARGON2_PARALLELISM`` threads while it runs. Without a bound, a burst of
signups or logins runs as many hashes at once as the server has request threads: memory
grows with the burst, and the cheap requests (a confirmation, ``/me``) wait behind the
hashes for the cores. :class:`HashSlots` bounds them: a hash takes a slot, or waits at
most ``REGISTRATION_HASH_WAIT`` for one, or the request is refused with
:class:`~flask_registration.errors.ServerBusy` (503, ``Retry-After``) before anything is
written. Memory then has a ceiling: slots times the argon2 memory cost, over the
process's own (see ``docs/performance.rst``).

:class:`~flask_registration.passwords.Passwords` takes the slot itself, around every
argon2 (and bcrypt) computation, so no caller can hash without one.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from .errors import ServerBusy

T = TypeVar("T")


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS and Windows
        return os.cpu_count() or 1


def default_slots(parallelism: int, cpus: int | None = None) -> int:
    """How many hashes may run at once when ``REGISTRATION_MAX_CONCURRENT_HASHES`` is None:
    enough to keep every CPU busy, and no more.

    One hash runs ``parallelism`` lanes, each on a thread of its own, so ``cpus /
    parallelism`` hashes (rounded up, at least one) fill the CPUs. More at once could not
    hash faster (they would share the same cores), but each would hold its memory
    longer: memory grows and nothing is gained. With argon2's defaults (4 lanes) that is
    one slot on up to 4 CPUs, two on 8; with one lane, one slot per CPU.
    """
    cpus = available_cpus() if cpus is None else cpus
    return max(1, math.ceil(cpus / max(1, parallelism)))


class HashSlots:
    """At most ``size`` password hashes at once; a caller waits at most ``wait`` seconds
    for a slot (``0``: no waiting at all).

    ``max_waiting`` bounds the queue: a caller that finds that many already waiting is
    refused at once instead of waiting. It is a number, or a function giving the number
    now (:class:`~flask_registration.passwords.Passwords` derives it from the wait and
    the measured cost of a hash: the callers that could still get a slot within the
    wait), or None for no bound. A caller beyond it would only have held a server thread
    for the whole wait, then been refused all the same; refused at once, it leaves that
    thread to the cheap requests.

    The counters are for monitoring and tests (they count, they do not time):
    ``in_use`` and ``waiting`` now, ``admitted`` and ``refused`` since the start, and
    ``turned_away``, the refused ones that found the queue full and did not wait.
    """

    def __init__(self, size: int, wait: float, max_waiting: int | Callable[[], int] | None = None) -> None:
        if size < 1:
            raise ValueError("A hash needs at least one slot.")
        if wait < 0:
            raise ValueError("The wait for a slot cannot be negative.")
        self.size = size
        self.wait = wait
        self.max_waiting = max_waiting
        self._free = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self.in_use = 0
        self.waiting = 0
        self.admitted = 0
        self.refused = 0
        self.turned_away = 0

    def queue_limit(self) -> int | None:
        """How many callers may wait for a slot now (None: any number)."""
        limit = self.max_waiting() if callable(self.max_waiting) else self.max_waiting
        return None if limit is None else max(0, limit)

    @contextmanager
    def hold(self, retry_after: Callable[[int], int] = lambda waiting: 1) -> Iterator[None]:
        """Hold a slot for the block: wait for one (at most :attr:`wait` seconds), and
        give it back when the block ends, whether it returns or raises.

        :param retry_after: the seconds a refused caller is told to wait, given how many
            callers were waiting for a slot.
        :raises ServerBusy: no slot came free in time, or the queue was full; the block
            did not run.
        """
        limit = self.queue_limit()
        # A free slot is taken at once, whatever the queue; a full queue refuses at once.
        got = self._free.acquire(blocking=False)
        with self._lock:
            if not got and limit is not None and self.waiting >= limit:
                self.refused += 1
                self.turned_away += 1
                queue = self.waiting
                turned_away = True
            else:
                turned_away = False
                if not got:
                    self.waiting += 1
        if turned_away:
            raise ServerBusy(retry_after=retry_after(queue))
        if not got:
            try:
                got = self._free.acquire(timeout=self.wait) if self.wait > 0 else False
            finally:
                with self._lock:
                    self.waiting -= 1
        with self._lock:
            queue = self.waiting
            if got:
                self.in_use += 1
                self.admitted += 1
            else:
                self.refused += 1
        if not got:
            raise ServerBusy(retry_after=retry_after(queue))
        try:
            yield
        finally:
            with self._lock:
                self.in_use -= 1
            self._free.release()


def threads_are_real() -> bool:
    """Whether :mod:`threading` makes operating-system threads that run: not under
    gevent's or eventlet's monkey-patching, where a "thread" is a greenlet of the one
    real thread (lowering its priority would lower the whole worker's), nor in a uWSGI
    worker started without ``enable-threads`` or ``threads``, where the threads an app
    starts may never run."""
    gevent = sys.modules.get("gevent.monkey")
    if gevent is not None and gevent.is_module_patched("threading"):
        return False
    eventlet = sys.modules.get("eventlet.patcher")
    if eventlet is not None and eventlet.is_monkey_patched("thread"):
        return False
    uwsgi = sys.modules.get("uwsgi")
    if uwsgi is not None:
        options = getattr(uwsgi, "opt", {})
        return bool(options.get("enable-threads") or options.get("threads"))
    return True


class LowPriorityThreads:
    """Run calls on threads of their own whose CPU priority is lowered by ``niceness``
    (Linux's per-thread ``nice``), and wait for their result.

    argon2 runs its lanes on threads it starts from the calling thread, and on Linux a
    new thread inherits its creator's nice value: a hash run here runs all its lanes at
    the lower priority. When the cores are busy with hashes, a cheap request (a
    confirmation, ``/me``) then gets the CPU first, and the hashes use what is left;
    on an idle machine they run as fast as before.

    :attr:`active` is False (calls run in the caller's thread, as without this class)
    when ``niceness`` is 0, off Linux, under gevent or eventlet, and in uWSGI without
    threads (see :func:`threads_are_real`). The threads are
    made at the first call, and again in a child process after a fork (a pre-forking
    server's workers each get their own).
    """

    def __init__(self, size: int, niceness: int) -> None:
        self.size = size
        self.niceness = niceness
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0
        _FORKABLE.add(self)

    @property
    def active(self) -> bool:
        """Whether calls go to the threads. Checked at each call, not once: a server may
        make the app, then fork a worker that monkey-patches threading (gunicorn's gevent
        workers with ``--preload``)."""
        return self.niceness > 0 and sys.platform.startswith("linux") and threads_are_real()

    def run(self, call: Callable[..., T], *args: object, inline: bool = False) -> T:
        """``call(*args)`` on one of the threads (or here, when not :attr:`active` or
        ``inline``); what it returns or raises."""
        if inline or not self.active:
            return call(*args)
        return self._executor().submit(call, *args).result()

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool = ThreadPoolExecutor(
                    max_workers=self.size, thread_name_prefix="registration-hash", initializer=self._lower
                )
                self._pid = os.getpid()
            return self._pool

    def _lower(self) -> None:
        thread = threading.get_native_id()
        try:
            os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + self.niceness))
        except OSError:  # pragma: no cover - not allowed here: the hash runs at the usual priority
            pass

    def _after_fork(self) -> None:
        # The parent's threads do not exist in the child, and its lock may have been
        # held by one of them at the fork.
        self._lock = threading.Lock()
        self._pool = None


_FORKABLE: weakref.WeakSet[LowPriorityThreads] = weakref.WeakSet()


def _forget_threads_after_fork() -> None:
    for threads in list(_FORKABLE):
        threads._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_threads_after_fork)
