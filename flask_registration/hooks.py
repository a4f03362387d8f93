"""Ordered hook registries: LoopBack's beforeRemote/afterRemote, done the Flask way.

A ``before_*`` hook may change the data it is given and may veto by raising
:class:`~flask_registration.errors.RegistrationError` (usually ``ValidationError``).
An ``after_*`` hook runs after the change is committed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: Every hook point, in the order a user meets them.
HOOK_NAMES = (
    "before_signup",
    "after_signup",
    "before_confirm",
    "after_confirm",
    "before_login",
    "after_login",
    "before_reset_password",
    "after_reset_password",
    "before_change_password",
    "after_change_password",
    "before_change_email",
    "after_change_email",
    "before_update",
    "after_update",
    "export_data",
    "before_delete",
    "after_delete",
    "before_add_factor",
    "after_add_factor",
    "before_remove_factor",
    "after_remove_factor",
)


class HookRegistry:
    """One ordered list of functions per hook point."""

    def __init__(self) -> None:
        self._hooks: dict[str, list[Callable[..., Any]]] = {name: [] for name in HOOK_NAMES}

    def register(self, name: str, fn: F) -> F:
        """Append ``fn`` to hook point ``name`` and return it unchanged."""
        if name not in self._hooks:
            raise ValueError(f"Unknown hook point {name!r}; known: {', '.join(HOOK_NAMES)}.")
        if not callable(fn):
            raise TypeError(f"A {name} hook must be callable, not {type(fn).__name__}.")
        self._hooks[name].append(fn)
        return fn

    def run(self, name: str, *args: Any) -> None:
        """Call every function of ``name`` in order; an exception stops the rest."""
        for fn in self._hooks[name]:
            fn(*args)

    def __getitem__(self, name: str) -> list[Callable[..., Any]]:
        return list(self._hooks[name])
