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
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .errors import ServerBusy


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

    The counters are for monitoring and tests (they count, they do not time):
    ``in_use`` and ``waiting`` now, ``admitted`` and ``refused`` since the start.
    """

    def __init__(self, size: int, wait: float) -> None:
        if size < 1:
            raise ValueError("A hash needs at least one slot.")
        if wait < 0:
            raise ValueError("The wait for a slot cannot be negative.")
        self.size = size
        self.wait = wait
        self._free = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self.in_use = 0
        self.waiting = 0
        self.admitted = 0
        self.refused = 0

    @contextmanager
    def hold(self, retry_after: Callable[[int], int] = lambda waiting: 1) -> Iterator[None]:
        """Hold a slot for the block: wait for one (at most :attr:`wait` seconds), and
        give it back when the block ends, whether it returns or raises.

        :param retry_after: the seconds a refused caller is told to wait, given how many
            callers were waiting for a slot.
        :raises ServerBusy: no slot came free in time; the block did not run.
        """
        with self._lock:
            self.waiting += 1
        got = False
        try:
            got = self._free.acquire(timeout=self.wait) if self.wait > 0 else self._free.acquire(blocking=False)
        finally:
            with self._lock:
                self.waiting -= 1
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
