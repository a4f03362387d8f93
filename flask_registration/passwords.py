"""Password hashing with argon2id (argon2-cffi), parameters from configuration.

Hashes imported from LoopBack (bcrypt, ``$2a$``/``$2b$``/``$2y$``) are checked with the
``bcrypt`` package (the ``loopback`` extra) and reported as needing a re-hash, so the
first successful login replaces them with argon2id (verify-then-upgrade).

Every check costs what a check with the current parameters costs, whatever the stored
hash is: see :meth:`Passwords.verify`.

Every hash and every check holds one of the process's hashing slots while it computes
(:class:`~flask_registration.admission.HashSlots`): a caller that gets none in time is
refused with :class:`~flask_registration.errors.ServerBusy` before it writes anything.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .admission import HashSlots, LowPriorityThreads, default_slots

#: How many recent checks with the current parameters the padding follows (their median).
COST_SAMPLES = 15

#: Hashes that cost less than this (seconds, the median of the recent checks) run in the
#: caller's thread even with a niceness: they end within a scheduler time slice, where
#: a priority changes nothing, and handing one to another thread costs about 0.15 ms
#: (``benchmarks/handoff.py`` on the development machine), a large share of such a hash.
RUN_INLINE_BELOW = 0.005


class Passwords:
    """Hash, check and upgrade passwords with one set of argon2id parameters.

    :param max_concurrent: at most this many hashes and checks at once
        (``REGISTRATION_MAX_CONCURRENT_HASHES``); None: one per ``parallelism`` CPUs,
        see :func:`~flask_registration.admission.default_slots`.
    :param wait: how long a hash or a check waits for a slot (``REGISTRATION_HASH_WAIT``)
        before :class:`~flask_registration.errors.ServerBusy` is raised.
    :param max_waiting: at most this many callers wait for a slot
        (``REGISTRATION_MAX_HASH_WAITING``); None: as many as the slots can serve within
        the wait at the measured cost of a hash (:meth:`waiting_room`).
    :param niceness: hashes and checks run on threads of their own with their CPU
        priority lowered by this much (``REGISTRATION_HASH_NICENESS``, Linux); 0: in the
        caller's thread. See :class:`~flask_registration.admission.LowPriorityThreads`.
    :param clock: seconds, for measuring checks (default :func:`time.perf_counter`).
    :param sleep: waits that many seconds (default :func:`time.sleep`). Tests pass a
        virtual clock and sleep, so that they count work instead of reading the clock.

    :attr:`slots` counts the hashes running and waiting; :attr:`hasher` is the
    argon2-cffi ``PasswordHasher`` that computes them.
    """

    def __init__(
        self,
        *,
        time_cost: int,
        memory_cost: int,
        parallelism: int,
        max_concurrent: int | None = None,
        wait: timedelta = timedelta(seconds=1),
        max_waiting: int | None = None,
        niceness: int = 0,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        #: The argon2-cffi ``PasswordHasher`` that does the work. It may be replaced by
        #: one with the same parameters (a subclass that counts or holds its calls, as
        #: the test suite's does): every call to it still holds a slot.
        self.hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._costs: deque[float] = deque(maxlen=COST_SAMPLES)
        self._lock = threading.Lock()
        #: The hashing slots: at most ``slots.size`` hashes and checks run at once.
        self.slots = HashSlots(
            max_concurrent if max_concurrent is not None else default_slots(parallelism),
            wait.total_seconds(),
            max_waiting if max_waiting is not None else self.waiting_room,
        )
        #: Where the hashes run: threads of lower priority, or the caller's.
        self.threads = LowPriorityThreads(self.slots.size, niceness)
        self._clock = clock
        self._sleep = sleep
        # Made now, not at the first unknown address: that first login would otherwise
        # cost one hash more than a known one, and show it. Its time is the first
        # measure of what a check with these parameters costs (the same argon2 work).
        with self.slots.hold():
            start = clock()
            self._dummy = self.hasher.hash("dummy password for timing")
            self._record(clock() - start)

    def hash(self, password: str) -> str:
        """An argon2id hash of ``password``.

        :raises ServerBusy: no hashing slot came free within the wait.
        """
        with self.slots.hold(self.retry_after):
            return self.threads.run(self.hasher.hash, password, inline=self._cheap())

    def verify(self, hashed: str | None, password: str) -> bool:
        """Whether ``password`` matches ``hashed``.

        Every call costs the time of one check with the current parameters, so that
        the time of a wrong password tells nothing about the account:

        - With no hash (an unknown user, or an account that has no password) a dummy
          hash made with the current parameters is checked instead.
        - A current-parameters argon2id hash is checked; the time it took is kept (the
          median of the last :data:`COST_SAMPLES` such checks, the dummy's included, is
          what a current check costs now).
        - Any other hash (bcrypt from LoopBack, argon2 with older parameters, something
          unreadable) is checked, then the call waits out the difference between that
          median and the time the check took. The caller cannot tell it from a current
          check; a hash that costs *more* than a current one is not shortened (it is
          replaced at the account's next successful login).

        Why wait rather than work: the difference between two algorithms has no common
        unit of work. Django's ``harden_runtime`` runs the missing iterations of the same
        algorithm (PBKDF2, bcrypt rounds), and gives up for argon2; running a whole
        extra current check after an old one (the other simple choice) would make old
        accounts *slower* than unknown addresses by the old check's cost, a leak of its
        own. A measured wait matches the current cost whatever the old hash was, and
        follows the machine's load, since the median is taken from the real checks.

        The check holds a hashing slot; the wait for one is not part of what is
        measured, and the padding waits with the slot given back.

        :raises ServerBusy: no hashing slot came free within the wait (for an unknown
            address as for a known one).
        """
        if not hashed:
            hashed = self._dummy
            password = password + "\x00never matches"
        with self.slots.hold(self.retry_after):
            start = self._clock()
            current = self._is_current(hashed)
            if hashed.startswith(BCRYPT_PREFIXES) and not current:
                ok = self.threads.run(_bcrypt_verify, hashed, password, inline=self._cheap())
            else:
                ok = self.threads.run(self._check_argon2, hashed, password, inline=self._cheap())
            took = self._clock() - start
        if current:
            self._record(took)
            return ok
        missing = self.current_cost() - took
        if missing > 0:
            self._sleep(missing)
        return ok

    def retry_after(self, waiting: int) -> int:
        """The seconds a caller refused a slot is told to wait (``Retry-After``): the
        time the ``waiting`` callers and one more take on the slots, at the current
        cost of a hash; at least one."""
        return max(1, math.ceil(self.current_cost() * (waiting + 1) / self.slots.size))

    def waiting_room(self) -> int:
        """How many callers may wait for a slot when ``REGISTRATION_MAX_HASH_WAITING`` is
        None: those the slots can serve within the wait, at the current cost of a hash
        (``wait x slots / cost``, rounded down). One more would be refused after waiting
        the whole wait; it is refused at once instead, and its thread is free."""
        return math.floor(self.slots.wait * self.slots.size / max(self.current_cost(), 1e-6))

    def current_cost(self) -> float:
        """What a check with the current parameters costs now, in seconds: the median
        of the recent ones (0 before the first)."""
        with self._lock:
            return statistics.median(self._costs) if self._costs else 0.0

    def needs_rehash(self, hashed: str) -> bool:
        """Whether ``hashed`` was made with other parameters (or another algorithm)."""
        if hashed.startswith(BCRYPT_PREFIXES):
            return True
        try:
            return self.hasher.check_needs_rehash(hashed)
        except (InvalidHashError, ValueError):
            return True

    # The name :attr:`hasher` had before it was public (tests of the enumeration
    # safeguards replace it under this name).
    @property
    def _hasher(self) -> PasswordHasher:
        return self.hasher

    @_hasher.setter
    def _hasher(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher

    def _is_current(self, hashed: str) -> bool:
        return hashed.startswith("$argon2id$") and not self.needs_rehash(hashed)

    def _check_argon2(self, hashed: str, password: str) -> bool:
        try:
            return self.hasher.verify(hashed, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _cheap(self) -> bool:
        return self.current_cost() < RUN_INLINE_BELOW

    def _record(self, seconds: float) -> None:
        with self._lock:
            self._costs.append(seconds)


BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


def _bcrypt_verify(hashed: str, password: str) -> bool:
    try:
        import bcrypt
    except ImportError:  # pragma: no cover - the loopback extra is not installed
        raise RuntimeError(
            "A bcrypt hash (imported from LoopBack) needs the bcrypt package: pip install flask-registration[loopback]"
        ) from None
    # LoopBack's bcryptjs reads at most 72 bytes of the password; bcrypt 5 refuses more.
    secret = password.encode("utf-8", "surrogatepass")[:72]
    try:
        return bool(bcrypt.checkpw(secret, hashed.encode("ascii")))
    except (ValueError, UnicodeEncodeError):
        return False
