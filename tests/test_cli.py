"""``flask registration ...``: the operator's commands, through Flask's CLI runner, on the
real database and the real SMTP server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from flask_registration import ValidationError, signals
from flask_registration.models import utcnow
from flask_registration.state import get_state
from tests.helpers import add_user, press_confirm_with_new_password
from tests.models import AccessToken, User, db
from tests.smtp import Mailbox

PASSWORD = "correct horse battery"


def run(app: Flask, *args: str, input: str | None = None) -> Any:
    return app.test_cli_runner().invoke(args=["registration", *args], input=input)


def fails(result: Any, *texts: str, status: int = 1) -> None:
    """A clear error: the exit status, each text in the output, and no traceback."""
    assert result.exit_code == status, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    for text in texts:
        assert text in result.output


def find(app: Flask, email: str) -> User | None:
    with app.app_context():
        user = db.session.scalars(db.select(User).filter_by(email=email)).first()
        if user is not None:
            db.session.expunge(user)
        return user


def emails(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(db.select(User.email).order_by(User.id)))


def test_the_group_lists_every_command(app: Flask) -> None:
    result = run(app, "--help")
    assert result.exit_code == 0
    for command in (
        "create-user",
        "verify",
        "resend",
        "list-unverified",
        "purge-unverified",
        "purge-tokens",
        "requeue-failed-mail",
    ):
        assert command in result.output


# create-user


def test_create_user_asks_for_the_password_twice_and_the_user_can_log_in_once_verified(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    result = run(app, "create-user", "Ada@Example.com", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Created user ada@example.com" in result.output
    assert "not verified" in result.output
    assert PASSWORD not in result.output
    user = find(app, "ada@example.com")
    assert user is not None and not user.email_verified
    assert mailbox.messages == []  # no email: `resend` sends the link

    refused = client.post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert refused.json["error"]["code"] == "LOGIN_FAILED"
    assert run(app, "verify", "ada@example.com").exit_code == 0
    assert client.post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD}).status_code == 200


def test_create_user_reads_the_password_from_stdin_and_can_mark_it_verified(app: Flask, client: Any) -> None:
    result = run(app, "create-user", "bob@example.com", "--password-stdin", "--verified", input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "verified." in result.output and "not verified" not in result.output
    assert find(app, "bob@example.com").email_verified
    assert client.post("/api/users/login", json={"email": "bob@example.com", "password": PASSWORD}).status_code == 200


def test_create_user_runs_the_signup_hooks_and_signals(app: Flask, registration: Any) -> None:
    seen: list[Any] = []
    registration.before_signup(lambda data: seen.append(("before_signup", dict(data))))
    registration.after_signup(lambda user, data: seen.append(("after_signup", user.email, data)))
    registration.after_confirm(lambda user: seen.append(("after_confirm", user.email)))
    with signals.user_registered.connected_to(lambda sender, **kw: seen.append(("registered", kw["user"].email)), app):
        result = run(app, "create-user", "c@example.com", "--password-stdin", "--verified", input=PASSWORD)
    assert result.exit_code == 0, result.output
    assert seen == [
        ("before_signup", {"email": "c@example.com", "password": PASSWORD}),
        ("registered", "c@example.com"),
        ("after_signup", "c@example.com", {"email": "c@example.com"}),
        ("after_confirm", "c@example.com"),
    ]


def test_a_before_signup_veto_is_an_error_and_creates_nothing(app: Flask, registration: Any) -> None:
    @registration.before_signup
    def only_example_org(data: Any) -> None:
        if not data["email"].endswith("@example.org"):
            raise ValidationError("must be an example.org address.", field="email", field_code="domain")

    result = run(app, "create-user", "d@example.com", "--password-stdin", input=PASSWORD)
    fails(result, "email must be an example.org address.")
    assert emails(app) == []


def test_a_before_confirm_veto_leaves_the_created_user_unverified(app: Flask, registration: Any) -> None:
    @registration.before_confirm
    def not_yet(user: Any) -> None:
        raise ValidationError("cannot be verified by hand.", field="email", field_code="manual")

    result = run(app, "create-user", "e@example.com", "--password-stdin", "--verified", input=PASSWORD)
    fails(result, "Created user e@example.com", "could not verify it: email cannot be verified by hand.")
    assert not find(app, "e@example.com").email_verified


@pytest.mark.parametrize(
    ("email", "message"),
    [("not-an-address", "This email address is not valid"), ("a@@b.com", "This email address is not valid")],
)
def test_create_user_refuses_an_invalid_email_before_asking_for_a_password(
    app: Flask, email: Any, message: Any
) -> None:
    result = run(app, "create-user", email, input=f"{PASSWORD}\n{PASSWORD}\n")
    fails(result, message)
    assert "Password" not in result.output
    assert emails(app) == []


@pytest.mark.app_config(REGISTRATION_PASSWORD_MIN_LENGTH=12)
def test_create_user_refuses_a_short_password(app: Flask) -> None:
    fails(
        run(app, "create-user", "f@example.com", "--password-stdin", input="short pw\n"),
        "The password must be at least 12 characters long.",
    )
    fails(run(app, "create-user", "f@example.com", "--password-stdin", input="\n"), "Enter your password.")
    assert emails(app) == []


def test_create_user_refuses_a_taken_address_whatever_its_case(app: Flask) -> None:
    add_user(app, "g@example.com", verified=False)
    fails(
        run(app, "create-user", "G@Example.COM", "--password-stdin", input=PASSWORD),
        "An account already uses g@example.com.",
    )
    assert emails(app) == ["g@example.com"]


def test_create_user_with_passwords_that_differ_says_so_and_asks_again(app: Flask) -> None:
    result = run(app, "create-user", "h@example.com", input=f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    assert result.output.count("Password: ") == 2 and result.output.count("Repeat for confirmation: ") == 2
    assert emails(app) == ["h@example.com"]


def test_create_user_with_passwords_that_differ_and_no_more_input_creates_nothing(app: Flask) -> None:
    result = run(app, "create-user", "h@example.com", input=f"{PASSWORD}\nsomething else\n")
    assert result.exit_code == 1
    assert "do not match" in result.output and "Aborted" in result.output
    assert "Traceback" not in result.output
    assert emails(app) == []


# verify


def test_verify_marks_the_address_verified_once(app: Flask) -> None:
    add_user(app, "v@example.com", verified=False)
    verified: list[str] = []
    with signals.user_verified.connected_to(lambda sender, **kw: verified.append(kw["user"].email), app):
        result = run(app, "verify", "V@example.com")
        assert result.exit_code == 0, result.output
        assert result.output.strip() == "Verified v@example.com."
        fails(run(app, "verify", "v@example.com"), "v@example.com is already verified.")
    assert verified == ["v@example.com"]
    assert find(app, "v@example.com").email_verified


def test_verify_refuses_an_unknown_or_invalid_address(app: Flask) -> None:
    fails(run(app, "verify", "nobody@example.com"), "No account uses nobody@example.com.")
    fails(run(app, "verify", "nobody"), "This email address is not valid")


# resend


def test_resend_emails_a_link_that_verifies(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app, "r@example.com", verified=False)
    result = run(app, "resend", "r@example.com")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Sent a verification link to r@example.com."
    (msg,) = mailbox.wait_for(1)
    assert msg["To"] == "r@example.com"
    link = urlsplit(mailbox.link(msg))
    assert link.netloc == "localhost"  # SERVER_NAME
    # The account's password was set straight into the database: its owner sets one.
    r = press_confirm_with_new_password(client, f"{link.path}?{link.query}", "a brand new password")
    assert r.status_code == 200
    assert find(app, "r@example.com").email_verified


@pytest.mark.app_config(SERVER_NAME=None)
def test_resend_without_server_name_says_how_to_set_it(
    app: Flask, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user(app, "s@example.com", verified=False)
    monkeypatch.delenv("SERVER_NAME", raising=False)
    monkeypatch.delenv("FLASK_SERVER_NAME", raising=False)
    fails(
        run(app, "resend", "s@example.com"),
        "The app's SERVER_NAME setting is not set",
        "Set SERVER_NAME in the app's config, or export FLASK_SERVER_NAME=example.com",
        "app.config.from_prefixed_env()",
    )
    # The instruction this message used to give, which Flask ignores.
    monkeypatch.setenv("SERVER_NAME", "example.com")
    fails(run(app, "resend", "s@example.com"), "(a SERVER_NAME variable in the environment is not read)")
    # FLASK_SERVER_NAME, in an app that does not call from_prefixed_env().
    monkeypatch.setenv("FLASK_SERVER_NAME", "example.com")
    fails(run(app, "resend", "s@example.com"), "FLASK_SERVER_NAME is in the environment, but this app does not read it")
    assert mailbox.messages == []


def test_resend_refuses_unknown_invalid_and_verified_addresses(app: Flask, mailbox: Mailbox) -> None:
    add_user(app, "done@example.com", verified=True)
    fails(run(app, "resend", "nobody@example.com"), "No account uses nobody@example.com.")
    fails(run(app, "resend", "nobody@"), "This email address is not valid")
    fails(run(app, "resend", "done@example.com"), "done@example.com is already verified")
    assert mailbox.messages == []


def test_resend_with_the_mail_server_down_is_an_error(app: Flask, mailbox: Mailbox) -> None:
    from tests.conftest import free_port

    add_user(app, "t@example.com", verified=False)
    app.extensions["mail"].port = free_port()  # nothing listens there
    fails(run(app, "resend", "t@example.com"), "Could not send the email to t@example.com")


# list-unverified and purge-unverified


@pytest.fixture
def population(app: Flask) -> dict[str, int]:
    """Unverified and verified accounts of several ages."""
    return {
        "old@example.com": add_user(app, "old@example.com", age=timedelta(days=40), verified=False),
        "older@example.com": add_user(app, "older@example.com", age=timedelta(days=90), verified=False),
        "old-verified@example.com": add_user(app, "old-verified@example.com", age=timedelta(days=60), verified=True),
        "recent@example.com": add_user(app, "recent@example.com", age=timedelta(days=2), verified=False),
        "new@example.com": add_user(app, "new@example.com", verified=False),
    }


def listed(output: str) -> list[str]:
    return [line.split("\t")[1] for line in output.splitlines() if "\t" in line]


def test_list_unverified_shows_only_unverified_accounts_oldest_first(app: Flask, population: Any) -> None:
    result = run(app, "list-unverified")
    assert result.exit_code == 0, result.output
    assert listed(result.output) == ["older@example.com", "old@example.com", "recent@example.com", "new@example.com"]
    assert f"{population['older@example.com']}\tolder@example.com\tcreated " in result.output


@pytest.mark.parametrize(
    ("older_than", "expected"),
    [
        ("30d", ["older@example.com", "old@example.com"]),
        ("12h", ["older@example.com", "old@example.com", "recent@example.com"]),
        ("90m", ["older@example.com", "old@example.com", "recent@example.com"]),
        ("2w", ["older@example.com", "old@example.com"]),
        ("365d", []),
    ],
)
def test_list_unverified_older_than(app: Flask, population: Any, older_than: Any, expected: Any) -> None:
    result = run(app, "list-unverified", "--older-than", older_than)
    assert result.exit_code == 0, result.output
    assert listed(result.output) == expected
    if not expected:
        assert "No unverified accounts created before" in result.output


def test_list_unverified_with_none_says_so(app: Flask) -> None:
    result = run(app, "list-unverified")
    assert result.exit_code == 0
    assert result.output.strip() == "No unverified accounts."


def test_purge_deletes_only_old_unverified_accounts_and_their_tokens(app: Flask, population: Any) -> None:
    with app.app_context():
        get_state().store.create_token(db.session.get(User, population["old@example.com"]), 3600)
        get_state().store.create_token(db.session.get(User, population["new@example.com"]), 3600)
    result = run(app, "purge-unverified", "--older-than", "30d")
    assert result.exit_code == 0, result.output
    assert "Deleted 2 unverified accounts created before" in result.output
    assert listed(result.output) == ["older@example.com", "old@example.com"]
    assert emails(app) == ["old-verified@example.com", "recent@example.com", "new@example.com"]
    with app.app_context():
        owners = set(db.session.scalars(db.select(AccessToken.user_id)))
    assert owners == {population["new@example.com"]}

    again = run(app, "purge-unverified", "--older-than", "30d")
    assert again.exit_code == 0
    assert "No unverified accounts created before" in again.output


def test_purge_dry_run_prints_and_deletes_nothing(app: Flask, population: Any) -> None:
    result = run(app, "purge-unverified", "--older-than", "1d", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Would delete 3 unverified accounts created before" in result.output
    assert listed(result.output) == ["older@example.com", "old@example.com", "recent@example.com"]
    assert len(emails(app)) == 5


def test_purge_says_one_account_in_the_singular(app: Flask) -> None:
    add_user(app, "lone@example.com", age=timedelta(hours=13), verified=False)
    result = run(app, "purge-unverified", "--older-than", "12h")
    assert "Deleted 1 unverified account created before" in result.output
    assert emails(app) == []


@pytest.mark.parametrize("duration", ["30", "abc", "d30", "0d", "-5d", "3y", "1.5h", "99999999999d"])
def test_bad_durations_are_refused(app: Flask, population: Any, duration: Any) -> None:
    for command in ("purge-unverified", "list-unverified"):
        result = run(app, command, "--older-than", duration)
        fails(result, "Invalid value for '--older-than'", status=2)
    assert len(emails(app)) == 5


def test_purge_needs_older_than(app: Flask, population: Any) -> None:
    fails(run(app, "purge-unverified"), "Missing option '--older-than'", status=2)
    assert len(emails(app)) == 5


def test_requeue_failed_mail_without_celery_set_up_says_so(app: Flask) -> None:
    fails(run(app, "requeue-failed-mail"), "init_celery")


# purge-tokens


def test_purge_tokens_deletes_only_the_expired_ones(app: Flask) -> None:
    user_id = add_user(app, "tokens@example.com", verified=True)
    with app.app_context():
        now = utcnow()
        db.session.add_all(
            [
                AccessToken(id="a" * 64, user_id=user_id, ttl=60, created_at=now - timedelta(minutes=5)),
                AccessToken(id="b" * 64, user_id=user_id, ttl=3600, created_at=now - timedelta(minutes=5)),
                AccessToken(id="c" * 64, user_id=user_id, ttl=1, created_at=now - timedelta(days=400)),
            ]
        )
        db.session.commit()
    result = run(app, "purge-tokens")
    assert result.exit_code == 0, result.output
    assert "Deleted 2 expired access tokens." in result.output
    with app.app_context():
        assert [t.id for t in db.session.query(AccessToken).all()] == ["b" * 64]
    again = run(app, "purge-tokens")
    assert "Deleted 0 expired access tokens." in again.output


# The example apps, through a real `flask` process, as a reader runs them.

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_APPS = {"demo": "basic/app.py", "quickstart": "quickstart/app.py", "tutorial": "tutorial/app.py"}
UNSET = ("SECRET_KEY", "SERVER_NAME", "MAIL_SERVER", "MAIL_PORT", "MAIL_USERNAME", "MAIL_PASSWORD", "MAIL_USE_TLS")


def flask_command(folder: Path, *args: str, input: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """``flask --app app.py registration ...`` in ``folder``, with none of the settings the
    example apps read from the environment, except ``env``."""
    environ = {k: v for k, v in os.environ.items() if k not in UNSET and not k.startswith("FLASK_")}
    command = [sys.executable, "-m", "flask", "--app", "app.py", "registration", *args]
    return subprocess.run(
        command, cwd=folder, env={**environ, **env}, input=input, capture_output=True, text=True, timeout=120
    )


def example_copy(tmp_path: Path, name: str) -> Path:
    """A copy of an example app in a folder of its own, so its instance folder (database,
    secret key) is a fresh one."""
    shutil.copy(EXAMPLES / EXAMPLE_APPS[name], tmp_path / "app.py")
    return tmp_path


@pytest.mark.slow  # runs each example app's `flask` command in a new process
@pytest.mark.parametrize("name", EXAMPLE_APPS)
def test_the_example_apps_run_commands_without_secret_key_and_keep_the_key_they_make(tmp_path: Path, name: Any) -> None:
    folder = example_copy(tmp_path, name)
    for _ in range(2):
        result = flask_command(folder, "list-unverified")
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stdout.strip() == "No unverified accounts."
    key = folder / "instance" / "secret_key"
    assert len(key.read_text().strip()) == 64 and key.stat().st_mode & 0o077 == 0


@pytest.mark.slow  # runs the example app's `flask` command in a new process
@pytest.mark.parametrize("name", ["demo", "quickstart"])
def test_resend_in_an_example_app_uses_flask_server_name_as_the_message_says(tmp_path: Path, name: Any) -> None:
    folder = example_copy(tmp_path, name)
    created = flask_command(folder, "create-user", "--password-stdin", "ada@example.com", input=f"{PASSWORD}\n")
    assert created.returncode == 0, created.stderr

    refused = flask_command(folder, "resend", "ada@example.com")
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert "export FLASK_SERVER_NAME=example.com" in refused.stderr

    sent = flask_command(folder, "resend", "ada@example.com", FLASK_SERVER_NAME="example.com:8000")
    assert sent.returncode == 0, sent.stderr
    assert "Sent a verification link to ada@example.com." in sent.stdout
    assert re.search(r"http://example\.com:8000/confirm\?uid=1&token=\S+", sent.stdout + sent.stderr)
