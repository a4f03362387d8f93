"""Every step of docs/tutorial.rst works as the page says: each step is a file under
examples/tutorial/ that the page includes, and each is run here, over the real SMTP
server."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.helpers import press_confirm
from tests.models import CHEAP_ARGON2
from tests.smtp import Mailbox

TUTORIAL = Path(__file__).resolve().parent.parent / "examples" / "tutorial"
PAGE = Path(__file__).resolve().parent.parent / "docs" / "tutorial.rst"
STEPS = ["step1", "step2", "step3", "step4", "step5", "app"]  # app.py is step 6, the final code
WITH_REGISTRATION = STEPS[2:]
WITH_NOTES_PAGE = STEPS[3:]
WITH_NAME = STEPS[4:]


def load(step: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"flask_registration_tutorial_{step}", TUTORIAL / f"{step}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # SQLAlchemy resolves the models' annotations there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def steps() -> dict[str, Any]:
    return {step: load(step) for step in STEPS}


def make_app(steps: Any, step: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> Any:
    # In the environment, as a reader would export it (else the key goes to the instance folder).
    monkeypatch.setenv("SECRET_KEY", "tutorial tests secret key, long enough")
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'notes.sqlite'}",
        "WTF_CSRF_ENABLED": False,
        **CHEAP_ARGON2,
        **extra,
    }
    return steps[step].create_app(config)


@pytest.fixture
def notes_app(steps: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mailbox: Mailbox) -> Any:
    def make(step: str) -> Any:
        return make_app(
            steps,
            step,
            tmp_path,
            monkeypatch,
            MAIL_SERVER=mailbox.host,
            MAIL_PORT=mailbox.port,
            MAIL_SUPPRESS_SEND=False,
        )

    return make


def _signup(client: Any, **data: Any) -> Any:
    form = {"email": "lin@example.com", "password": "notes password", "password_confirm": "notes password"}
    return client.post("/signup", data={**form, **data})


def _sign_up_and_confirm(app: Flask, mailbox: Mailbox, **data: Any) -> Any:
    client = app.test_client()
    r = _signup(client, **data)
    assert r.status_code == 200 and b"Check your email" in r.data
    (msg,) = mailbox.wait_for(1)
    assert press_confirm(client, mailbox.link(msg)).status_code == 200
    return client


def test_the_page_includes_every_step_file_and_shows_no_code_of_its_own() -> None:
    page = PAGE.read_text(encoding="utf-8")
    for step in STEPS:
        assert f".. literalinclude:: ../examples/tutorial/{step}.py" in page, step
    assert ".. code-block:: python" not in page
    assert "pip install flask-registration\n" not in page and "``pip install flask-registration``" not in page


@pytest.mark.parametrize("step", STEPS)
def test_each_step_imports_and_starts(steps: Any, step: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(steps, step, tmp_path, monkeypatch)
    r = app.test_client().get("/")
    assert r.status_code == 200
    has_signup = app.test_client().get("/signup").status_code == 200
    assert has_signup == (step in WITH_REGISTRATION)


def test_step2_gives_the_model_the_library_columns(steps: Any) -> None:
    columns = set(steps["step2"].User.__table__.columns.keys())
    assert {"id", "email", "password_hash", "email_verified_at", "created_at", "auth_stamp", "name"} <= columns
    assert "password_hash" not in steps["step1"].User.__table__.columns


@pytest.mark.parametrize("step", WITH_REGISTRATION)
def test_signup_confirm_login_and_logout_work(notes_app: Any, mailbox: Mailbox, step: Any) -> None:
    app = notes_app(step)
    extra = {"name": "Lin Wei"} if step in WITH_NAME else {}
    client = _sign_up_and_confirm(app, mailbox, **extra)
    r = client.post("/login", data={"email": "lin@example.com", "password": "notes password"})
    assert r.status_code == 302
    assert r.headers["Location"] == ("/notes" if step in WITH_NOTES_PAGE else "/")
    assert client.post("/logout").status_code == 302
    if step in WITH_NOTES_PAGE:
        assert client.get("/notes").status_code == 302


@pytest.mark.slow
def test_without_a_mail_server_step3_prints_the_email(
    steps: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in ("MAIL_SERVER", "MAIL_PORT"):
        monkeypatch.delenv(key, raising=False)
    app = make_app(steps, "step3", tmp_path, monkeypatch)
    assert _signup(app.test_client()).status_code == 200
    printed = capsys.readouterr().out
    assert "--- email to lin@example.com" in printed
    assert re.search(r"http://localhost/confirm\?uid=\S+", printed), printed


@pytest.mark.parametrize("step", WITH_NOTES_PAGE)
def test_the_notes_page_needs_a_login_and_has_a_logout_button(notes_app: Any, mailbox: Mailbox, step: Any) -> None:
    app = notes_app(step)
    client = app.test_client()
    r = client.get("/notes")
    assert r.status_code == 302 and r.headers["Location"] == "/login?next=%2Fnotes"
    extra = {"name": "Lin Wei"} if step in WITH_NAME else {}
    client = _sign_up_and_confirm(app, mailbox, **extra)
    client.post("/login", data={"email": "lin@example.com", "password": "notes password"})
    page = client.get("/notes").data.decode()
    assert 'action="/logout"' in page


@pytest.mark.parametrize("step", WITH_NAME)
def test_the_signup_form_asks_for_a_name_and_keeps_it(notes_app: Any, mailbox: Mailbox, step: Any) -> None:
    app = notes_app(step)
    r = _signup(app.test_client())
    assert r.status_code == 422 and "This field is required." in r.data.decode()
    assert b'name="name"' in app.test_client().get("/signup").data
    _sign_up_and_confirm(app, mailbox, name="Lin Wei")
    with app.app_context():
        module = sys.modules[f"flask_registration_tutorial_{step}"]
        user = module.db.session.scalars(module.db.select(module.User)).one()
        assert user.name == "Lin Wei"


@pytest.mark.parametrize(
    ("step", "status"),
    [("step5", 202), ("app", 422)],
)
def test_a_json_signup_without_a_name_is_never_a_500(notes_app: Any, step: Any, status: Any) -> None:
    r = notes_app(step).test_client().post("/api/users", json={"email": "j@example.com", "password": "json password"})
    assert r.status_code == status, r.json
    if status == 422:
        (detail,) = r.json["error"]["details"]["messages"]["name"]
        assert detail == "Enter your name."


def test_the_final_app_shows_the_welcome_note(notes_app: Any, mailbox: Mailbox) -> None:
    app = notes_app("app")
    client = _sign_up_and_confirm(app, mailbox, name="  Lin Wei  ")
    r = client.post("/login", data={"email": "lin@example.com", "password": "notes password"})
    assert r.status_code == 302 and r.headers["Location"] == "/notes"
    page = client.get("/notes").data.decode()
    assert "Lin Wei's notes" in page.replace("&#39;", "'") and "Welcome, Lin Wei! This is your first note." in page


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "This field is required."), ("lin", "Please tell us your name, not your address.")],
)
def test_the_custom_rule_refuses_a_missing_or_lazy_name(
    notes_app: Any, mailbox: Mailbox, name: Any, message: Any
) -> None:
    r = _signup(notes_app("app").test_client(), name=name)
    assert r.status_code == 422
    assert message in r.data.decode().replace("&#39;", "'")
    assert mailbox.messages == []


def test_a_json_name_that_is_not_a_string_is_a_422_not_a_500(notes_app: Any) -> None:
    r = (
        notes_app("app")
        .test_client()
        .post("/api/users", json={"email": "k@example.com", "password": "json password", "name": 5})
    )
    assert r.status_code == 422
