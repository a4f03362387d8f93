"""Rate limits: per client address and per normalised email, the same buckets for the
HTML pages and the JSON API, 429 with Retry-After, X-Forwarded-For only behind trusted
proxies, nothing cleared by a successful login; in memory and in a real Redis."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.helpers import add_user, client_at, limited_app
from tests.models import db, make_app
from tests.smtp import Mailbox

CLIENT_A = "198.51.100.1"
CLIENT_B = "198.51.100.2"
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.app_config(REGISTRATION_RATE_LIMITS_ENABLED=True, WTF_CSRF_ENABLED=False)


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest) -> str:
    """Each test runs on Flask-Limiter's memory storage and on a real Redis server."""
    if request.param == "memory":
        return "memory://"
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
def make_limited(database_url: str, mailbox: Any, storage: str) -> Any:
    apps: list[Flask] = []

    def make(config: dict[str, Any] | None = None, **limits: str | None) -> Flask:
        app = limited_app(database_url, mailbox, storage, REGISTRATION_RATE_LIMITS=limits, **(config or {}))
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


def assert_429(response: Any, *, html: bool = False) -> None:
    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 3600
    if html:
        assert response.mimetype == "text/html"
        assert b"Too many attempts" in response.data
    else:
        error = response.get_json()["error"]
        assert error == {
            "statusCode": 429,
            "name": "Error",
            "code": "TOO_MANY_REQUESTS",
            "message": error["message"],
        }
        assert "Try again in" in error["message"]


def signup_json(client: Any, email: str) -> Any:
    return client.post("/api/users", json={"email": email, "password": PASSWORD})


def signup_html(client: Any, email: str) -> Any:
    return client.post("/signup", data={"email": email, "password": PASSWORD, "password_confirm": PASSWORD})


def test_signups_from_one_address_share_a_bucket_across_both_faces(make_limited: Any) -> None:
    app = make_limited(signup_per_ip="3 per hour")
    a, b = client_at(app, CLIENT_A), client_at(app, CLIENT_B)
    assert signup_json(a, "one@example.com").status_code == 202
    assert signup_html(a, "two@example.com").status_code == 200
    assert signup_json(a, "three@example.com").status_code == 202
    assert_429(signup_html(a, "four@example.com"), html=True)
    assert_429(signup_json(a, "four@example.com"))
    # Another client has its own bucket.
    assert signup_json(b, "four@example.com").status_code == 202


def test_an_address_in_any_case_counts_in_one_bucket(make_limited: Any) -> None:
    app = make_limited(signup_per_email="2 per hour")
    # Three clients, one address written three ways: the third attempt is refused.
    assert signup_json(client_at(app, CLIENT_A), "Ada@Example.com").status_code == 202
    assert signup_html(client_at(app, CLIENT_B), "ada@example.com").status_code == 200
    assert_429(signup_json(client_at(app, "203.0.113.9"), "ADA@EXAMPLE.COM"))
    # Another address is not affected.
    assert signup_json(client_at(app, "203.0.113.9"), "bob@example.com").status_code == 202


def test_a_refused_signup_does_no_work(make_limited: Any, mailbox: Mailbox) -> None:
    app = make_limited(signup_per_email="1 per hour")
    client = client_at(app, CLIENT_A)
    assert signup_json(client, "ada@example.com").status_code == 202
    mailbox.wait_for(1)
    assert_429(signup_json(client, "ada@example.com"))
    # No "you already have an account" email for the refused attempt.
    assert len(mailbox.messages) == 1


def test_failed_logins_lock_the_address_whatever_its_case(make_limited: Any) -> None:
    app = make_limited(failed_login_per_email="3 per hour")
    add_user(app, "ada@example.com", password=PASSWORD)
    for n, email in enumerate(("ada@example.com", "ADA@example.com", "Ada@Example.COM")):
        client = client_at(app, f"203.0.113.{n + 1}")
        r = client.post("/api/users/login", json={"email": email, "password": "wrong password"})
        assert r.status_code == 401
    # Full: refused before the password is checked, even the right one, on both faces.
    assert_429(
        client_at(app, CLIENT_A).post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD})
    )
    assert_429(
        client_at(app, CLIENT_A).post("/login", data={"email": "ada@example.com", "password": PASSWORD}), html=True
    )


def test_a_successful_login_does_not_clear_another_clients_failures(make_limited: Any) -> None:
    app = make_limited(failed_login_per_ip="3 per hour", failed_login_per_email="3 per hour")
    add_user(app, "ada@example.com", password=PASSWORD)
    attacker, owner = client_at(app, CLIENT_A), client_at(app, CLIENT_B)

    def guess(email: str) -> Any:
        return attacker.post("/api/users/login", json={"email": email, "password": "a guess"})

    assert guess("ada@example.com").status_code == 401
    assert guess("ada@example.com").status_code == 401
    # The owner logs in from elsewhere (django-allauth cleared the failures here).
    assert owner.post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD}).status_code == 200
    assert owner.post("/login", data={"email": "ada@example.com", "password": PASSWORD}).status_code == 302
    assert guess("ada@example.com").status_code == 401
    # Both the attacker's address and the targeted email are now full.
    assert_429(guess("ada@example.com"))
    assert_429(guess("other@example.com"))


def test_login_attempts_are_counted_per_client(make_limited: Any) -> None:
    app = make_limited(login_per_ip="2 per minute")
    add_user(app, "ada@example.com", password=PASSWORD)
    body = {"email": "ada@example.com", "password": PASSWORD}
    # Fresh clients (no session cookie, so no CSRF header needed), one address.
    assert client_at(app, CLIENT_A).post("/api/users/login", json=body).status_code == 200
    assert client_at(app, CLIENT_A).post("/login", data=body).status_code == 302
    assert_429(client_at(app, CLIENT_A).post("/api/users/login", json=body))
    assert client_at(app, CLIENT_B).post("/api/users/login", json=body).status_code == 200


def test_a_spoofed_x_forwarded_for_is_ignored_without_trusted_proxies(make_limited: Any) -> None:
    app = make_limited(signup_per_ip="2 per hour")
    for n in range(2):
        client = client_at(app, CLIENT_A, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
        assert signup_json(client, f"user{n}@example.com").status_code == 202
    # A new made-up address in the header does not open a new bucket...
    assert_429(signup_json(client_at(app, CLIENT_A, HTTP_X_FORWARDED_FOR="192.0.2.77"), "x@example.com"))
    # ...and naming the limited client does not put anyone else in its bucket.
    other = client_at(app, CLIENT_B, HTTP_X_FORWARDED_FOR=CLIENT_A)
    assert signup_json(other, "y@example.com").status_code == 202


def test_behind_trusted_proxies_the_client_is_the_address_they_saw(make_limited: Any) -> None:
    app = make_limited(signup_per_ip="2 per hour", config={"REGISTRATION_TRUSTED_PROXIES": 2})
    proxy = "10.0.0.2"  # the proxy next to the app connects; the outer one appended the client

    def through_proxies(spoofed: str, client_ip: str) -> Any:
        header = f"{spoofed}, {client_ip}, 10.0.0.1" if spoofed else f"{client_ip}, 10.0.0.1"
        return client_at(app, proxy, HTTP_X_FORWARDED_FOR=header)

    assert signup_json(through_proxies("", CLIENT_A), "one@example.com").status_code == 202
    assert signup_json(through_proxies("192.0.2.1", CLIENT_A), "two@example.com").status_code == 202
    # Whatever the client writes in front, it stays in its own bucket.
    assert_429(signup_json(through_proxies("192.0.2.2, 192.0.2.3", CLIENT_A), "three@example.com"))
    # Another client behind the same proxies has its own; the proxies' addresses none.
    assert signup_json(through_proxies("", CLIENT_B), "four@example.com").status_code == 202
    assert signup_json(through_proxies(CLIENT_B, "192.0.2.200"), "five@example.com").status_code == 202


def test_a_header_shorter_than_the_proxy_chain_falls_back_to_the_peer(make_limited: Any) -> None:
    app = make_limited(signup_per_ip="1 per hour", config={"REGISTRATION_TRUSTED_PROXIES": 2})
    assert signup_json(client_at(app, CLIENT_A, HTTP_X_FORWARDED_FOR="192.0.2.1"), "a@example.com").status_code == 202
    assert_429(signup_json(client_at(app, CLIENT_A, HTTP_X_FORWARDED_FOR="192.0.2.2"), "b@example.com"))


def test_an_ipv6_client_counts_by_its_64_network(make_limited: Any) -> None:
    app = make_limited(signup_per_ip="1 per hour")
    assert signup_json(client_at(app, "2001:db8:1:2::10"), "a@example.com").status_code == 202
    assert_429(signup_json(client_at(app, "2001:db8:1:2:ffff::1"), "b@example.com"))
    assert signup_json(client_at(app, "2001:db8:1:3::10"), "c@example.com").status_code == 202


@pytest.mark.parametrize("face", ["json", "html"])
def test_resend_is_limited_per_address(make_limited: Any, face: Any) -> None:
    app = make_limited(resend_per_email="2 per hour")
    add_user(app, "ada@example.com", verified=False, password=PASSWORD)

    def resend(address: str, email: str) -> Any:
        client = client_at(app, address)
        if face == "json":
            return client.post("/api/users/verify", json={"email": email})
        return client.post("/resend", data={"email": email})

    ok = 204 if face == "json" else 200
    assert resend(CLIENT_A, "ada@example.com").status_code == ok
    assert resend(CLIENT_B, "Ada@Example.com").status_code == ok
    assert_429(resend("203.0.113.5", "ADA@example.com"), html=face == "html")


@pytest.mark.parametrize("face", ["json", "html"])
def test_reset_requests_are_limited_per_client(make_limited: Any, face: Any) -> None:
    app = make_limited(reset_per_ip="2 per hour")

    def reset(email: str) -> Any:
        client = client_at(app, CLIENT_A)
        if face == "json":
            return client.post("/api/users/reset", json={"email": email})
        return client.post("/forgot", data={"email": email})

    ok = 204 if face == "json" else 200
    assert reset("a@example.com").status_code == ok
    assert reset("b@example.com").status_code == ok
    assert_429(reset("c@example.com"), html=face == "html")


def test_change_email_is_limited_per_account_on_both_faces(make_limited: Any) -> None:
    app = make_limited(change_email_per_email="2 per hour")
    add_user(app, "ada@example.com", password=PASSWORD)
    client = client_at(app, CLIENT_A)
    assert client.post("/login", data={"email": "ada@example.com", "password": PASSWORD}).status_code == 302
    token = client.get("/api/users/csrf-token").get_json()["csrfToken"]
    r = client.post(
        "/api/users/change-email",
        json={"newEmail": "new1@example.com", "password": PASSWORD},
        headers={"X-CSRFToken": token},
    )
    assert r.status_code == 202
    assert (
        client.post("/account/email", data={"new_email": "new2@example.com", "password": PASSWORD}).status_code == 200
    )
    assert_429(client.post("/account/email", data={"new_email": "new3@example.com", "password": PASSWORD}), html=True)


def test_wrong_current_passwords_count_as_failed_logins(make_limited: Any) -> None:
    app = make_limited(failed_login_per_email="2 per hour")
    add_user(app, "ada@example.com", password=PASSWORD)
    client = client_at(app, CLIENT_A)
    assert client.post("/login", data={"email": "ada@example.com", "password": PASSWORD}).status_code == 302
    wrong = {"old_password": "a guess", "password": "new password 1", "password_confirm": "new password 1"}
    for _ in range(2):
        r = client.post("/account/password", data=wrong)
        assert r.status_code == 400 and b"current password is not right" in r.data
    assert_429(client.post("/account/password", data=wrong), html=True)


@pytest.mark.slow
def test_a_limit_set_to_none_is_off(make_limited: Any) -> None:
    app = make_limited(signup_per_ip=None, signup_per_email=None)
    client = client_at(app, CLIENT_A)
    for n in range(25):  # over the default 20 per hour
        assert signup_json(client, "same@example.com" if n % 2 else f"u{n}@example.com").status_code == 202


def test_limits_are_off_with_the_switch(make_limited: Any) -> None:
    app = make_limited(login_per_ip="1 per hour", config={"REGISTRATION_RATE_LIMITS_ENABLED": False})
    client = client_at(app, CLIENT_A)
    for _ in range(3):
        assert client.post("/api/users/login", json={"email": "a@example.com", "password": "x"}).status_code == 401


def test_flask_limiters_own_switch_turns_them_off_too(make_limited: Any) -> None:
    app = make_limited(login_per_ip="1 per hour", config={"RATELIMIT_ENABLED": False})
    client = client_at(app, CLIENT_A)
    for _ in range(3):
        assert client.post("/api/users/login", json={"email": "a@example.com", "password": "x"}).status_code == 401


def test_the_apps_own_routes_are_not_limited(make_limited: Any) -> None:
    app = make_limited(config={"RATELIMIT_DEFAULT": "1 per hour"})
    client = client_at(app, CLIENT_A)
    assert [client.get("/").status_code for _ in range(3)] == [200, 200, 200]


def test_two_apps_on_one_storage_share_the_buckets(database_url: str, mailbox: Mailbox, storage: Any) -> None:
    """Two processes (here two app objects) behind one site: with Redis they count
    together; memory storage is per process, which is why it is not for that."""
    first = limited_app(database_url, mailbox, storage, REGISTRATION_RATE_LIMITS={"login_per_ip": "2 per hour"})
    second = make_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REGISTRATION_RATE_LIMITS_ENABLED": True,
            "REGISTRATION_RATE_LIMIT_STORAGE_URI": storage,
            "REGISTRATION_RATE_LIMITS": {"login_per_ip": "2 per hour"},
        }
    )
    try:
        body = {"email": "a@example.com", "password": "wrong"}
        assert client_at(first, CLIENT_A).post("/api/users/login", json=body).status_code == 401
        assert client_at(second, CLIENT_A).post("/api/users/login", json=body).status_code == 401
        third = client_at(second, CLIENT_A).post("/api/users/login", json=body)
        assert third.status_code == (429 if storage.startswith("redis") else 401)
    finally:
        with second.app_context():
            db.session.remove()
            db.engine.dispose()
        with first.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


@pytest.mark.parametrize(
    "limits, message",
    [
        ({"login_per_mail": "5 per minute"}, "no limit named 'login_per_mail'. Did you mean 'login_per_ip'?"),
        ({"login_per_ip": "often"}, "must be a limit such as '5 per minute' or None"),
        ({"login_per_ip": 5}, "must be a limit such as '5 per minute' or None"),
    ],
)
def test_a_wrong_limit_is_an_error_at_init_app(limits: Any, message: Any) -> None:
    with pytest.raises(RuntimeError, match=message):
        make_app({"REGISTRATION_RATE_LIMITS": limits})


def test_trusted_proxies_cannot_be_negative() -> None:
    with pytest.raises(RuntimeError, match="REGISTRATION_TRUSTED_PROXIES must be 0 or more"):
        make_app({"REGISTRATION_TRUSTED_PROXIES": -1})


def test_flows_run_outside_a_request_are_not_counted(make_limited: Any) -> None:
    from flask_registration.flows import resend

    app = make_limited(resend_per_email="1 per hour", resend_per_ip="1 per hour")
    add_user(app, "ada@example.com", verified=False, password=PASSWORD)
    with app.app_context():  # an operator's command: no client, no bucket
        for _ in range(3):
            assert resend("ada@example.com") is True


@pytest.mark.slow
@pytest.mark.parametrize("victim_has_an_account", [False, True])
def test_requests_to_move_to_one_address_are_limited_per_target(
    make_limited: Any, mailbox: Mailbox, victim_has_an_account: Any
) -> None:
    app = make_limited()  # the built-in limits
    victim = "victim@example.com"
    if victim_has_an_account:
        add_user(app, victim, password=PASSWORD)
    tokens = []
    for n in range(4):  # four accounts of the attacker's, each from a client of its own
        add_user(app, f"attacker{n}@example.com", password=PASSWORD)
        r = client_at(app, f"203.0.113.{n + 1}").post(
            "/api/users/login", json={"email": f"attacker{n}@example.com", "password": PASSWORD}
        )
        tokens.append((f"203.0.113.{n + 1}", r.get_json()["id"]))
    statuses = []
    for address, token in tokens:
        for _ in range(5):  # within each account's own change_email_per_email
            r = client_at(app, address).post(
                "/api/users/change-email",
                json={"newEmail": "Victim@Example.com", "password": PASSWORD},
                headers={"Authorization": f"Bearer {token}"},
            )
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert_429(r)
    to_victim = [m for m in mailbox.messages if m["To"] == victim]
    assert len(to_victim) == 5  # change_email_per_target: 5 per hour
    assert statuses == [202] * 5 + [429] * 15
