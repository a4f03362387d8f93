"""flask_registration as the demo in ``examples/basic/app.py`` configures it.

The demo's own ``create_app`` builds the app (its user model with a ``username``, its
``before_signup`` hook, its templates); the benchmark changes only the database, the
secret key, the argon2 parameters and the mail sender. The demo's console outbox prints
every email to the terminal, which would measure the terminal: the benchmark hands each
rendered message to an in-process list instead.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from flask import Flask

#: ``BENCH_PACKAGE_ROOT`` (set by ``run.py --against``) names another tree to take it from.
ROOT = Path(os.environ.get("BENCH_PACKAGE_ROOT") or Path(__file__).resolve().parent.parent)
DEMO = ROOT / "examples" / "basic" / "app.py"


def load_demo() -> Any:
    """The demo module, imported from its file (it is not a package)."""
    name = "flask_registration_demo"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DEMO)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # SQLAlchemy resolves the model's annotations there
    spec.loader.exec_module(module)
    return module


def create_app(database_uri: str, argon2: dict[str, int], outbox: Any, extra: dict[str, Any] | None = None) -> Flask:
    """The demo app; every email is appended to ``outbox`` instead of being printed.
    ``extra`` adds settings (the load benchmark's, see ``load_wsgi.py``)."""
    from flask_registration.state import get_state

    demo = load_demo()
    app: Flask = demo.create_app(
        {
            "SECRET_KEY": "benchmark secret key",
            "SQLALCHEMY_DATABASE_URI": database_uri,
            "REGISTRATION_ARGON2_TIME_COST": argon2["time_cost"],
            "REGISTRATION_ARGON2_MEMORY_COST": argon2["memory_cost"],
            "REGISTRATION_ARGON2_PARALLELISM": argon2["parallelism"],
            # LoopBack's confirm by GET, as the floor's: the default POST from another
            # browser than the signup's checks the password (one argon2 hash more).
            "REGISTRATION_LOOPBACK_CONFIRM_LINKS": True,
            **(extra or {}),
        }
    )

    def keep(message: Any) -> None:
        outbox.append({"to": message.recipients[0], "subject": message.subject, "text": message.body})

    get_state(app).extension.set_mail_sender(app, keep)
    return app
