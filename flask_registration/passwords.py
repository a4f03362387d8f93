"""Password hashing with argon2id (argon2-cffi), parameters from configuration.

Hashes imported from LoopBack (bcrypt, ``$2a$``/``$2b$``/``$2y$``) are checked with the
``bcrypt`` package (the ``loopback`` extra) and reported as needing a re-hash, so the
first successful login replaces them with argon2id (verify-then-upgrade).
"""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Passwords:
    """Hash, check and upgrade passwords with one set of argon2id parameters."""

    def __init__(self, *, time_cost: int, memory_cost: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=Type.ID,
        )
        # Made now, not at the first unknown address: that first login would otherwise
        # cost one hash more than a known one, and show it.
        self._dummy = self._hasher.hash("dummy password for timing")

    def hash(self, password: str) -> str:
        """An argon2id hash of ``password``."""
        return self._hasher.hash(password)

    def verify(self, hashed: str | None, password: str) -> bool:
        """Whether ``password`` matches ``hashed``.

        With no hash (an unknown user, or an account that has no password) a dummy hash
        is checked instead, so both answers cost the same time.
        """
        if not hashed:
            hashed = self._dummy
            password = password + "\x00never matches"
        if hashed.startswith(BCRYPT_PREFIXES):
            return _bcrypt_verify(hashed, password)
        try:
            return self._hasher.verify(hashed, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, hashed: str) -> bool:
        """Whether ``hashed`` was made with other parameters (or another algorithm)."""
        if hashed.startswith(BCRYPT_PREFIXES):
            return True
        try:
            return self._hasher.check_needs_rehash(hashed)
        except (InvalidHashError, ValueError):
            return True


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
