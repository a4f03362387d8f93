"""``purge-unverified`` and ``purge-tokens`` work in batches: one short transaction per
batch (counted as commits on the engine), the progress printed after each, the oldest
accounts first; on SQLite and on PostgreSQL (``TEST_DATABASE_URL``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from flask_registration import get_state
from flask_registration.models import utcnow
from tests.helpers import add_user
from tests.models import AccessToken, User, db


def run(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["registration", *args])


def emails(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(db.select(User.email).order_by(User.id)))


def progress(output: str) -> list[str]:
    return re.findall(r"^Batch \d+: \d+ deleted so far\.$", output, re.M)


@pytest.fixture
def commits(app: Flask) -> Iterator[list[int]]:
    """Every COMMIT the app's engine sends, from now on."""
    seen: list[int] = []
    with app.app_context():
        engine = db.engine

    def count(conn: Any) -> None:
        seen.append(1)

    event.listen(engine, "commit", count)
    yield seen
    event.remove(engine, "commit", count)


@pytest.fixture
def stale(app: Flask) -> list[str]:
    """Five unverified accounts older than a month (oldest first), and three to keep."""
    old = [f"old{days}@example.com" for days in (90, 80, 70, 60, 50)]
    for address, days in zip(old, (90, 80, 70, 60, 50), strict=True):
        add_user(app, address, age=timedelta(days=days), verified=False)
    add_user(app, "verified@example.com", age=timedelta(days=100), verified=True)
    add_user(app, "recent@example.com", age=timedelta(days=2), verified=False)
    add_user(app, "new@example.com", verified=False)
    return old


def test_purge_unverified_deletes_in_batches_oldest_first_and_commits_each(app: Any, stale: Any, commits: Any) -> None:
    with app.app_context():
        victim = db.session.scalars(db.select(User).filter_by(email="old60@example.com")).one()
        get_state().store.create_token(victim, 3600)
    commits.clear()
    result = run(app, "purge-unverified", "--older-than", "30d", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert progress(result.output) == [
        "Batch 1: 2 deleted so far.",
        "Batch 2: 4 deleted so far.",
        "Batch 3: 5 deleted so far.",
    ]
    listed = [line.split("\t")[1] for line in result.output.splitlines() if "\t" in line]
    assert listed == stale  # oldest first, across the batches
    assert "Deleted 5 unverified accounts created before" in result.output
    assert len(commits) == 3  # one transaction per batch, none holding the whole purge
    assert emails(app) == ["verified@example.com", "recent@example.com", "new@example.com"]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(AccessToken)) == 0


def test_a_last_full_batch_is_followed_by_an_empty_look_and_no_more_progress(
    app: Any, stale: Any, commits: Any
) -> None:
    add_user(app, "old40@example.com", age=timedelta(days=40), verified=False)
    commits.clear()
    result = run(app, "purge-unverified", "--older-than", "30d", "--batch-size", "3", "--quiet")
    assert result.exit_code == 0, result.output
    assert progress(result.output) == ["Batch 1: 3 deleted so far.", "Batch 2: 6 deleted so far."]
    assert "\t" not in result.output  # --quiet: no account listed
    assert result.output.strip().endswith("UTC.") and "Deleted 6 unverified accounts" in result.output
    assert len(commits) == 2
    assert emails(app) == ["verified@example.com", "recent@example.com", "new@example.com"]


def test_nothing_to_purge_says_so_without_progress(app: Any, commits: Any) -> None:
    add_user(app, "recent@example.com", age=timedelta(days=2), verified=False)
    commits.clear()
    result = run(app, "purge-unverified", "--older-than", "30d", "--batch-size", "5")
    assert result.exit_code == 0
    assert progress(result.output) == []
    assert "No unverified accounts created before" in result.output
    assert commits == []  # the empty look writes nothing
    assert emails(app) == ["recent@example.com"]


def test_a_dry_run_lists_everything_and_deletes_nothing(app: Any, stale: Any) -> None:
    result = run(app, "purge-unverified", "--older-than", "30d", "--dry-run", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert "Would delete 5 unverified accounts created before" in result.output
    assert progress(result.output) == []
    assert len(emails(app)) == 8


@pytest.mark.parametrize("size", ["0", "-1", "10001", "many"])
def test_a_bad_batch_size_is_refused(app: Any, stale: Any, size: Any) -> None:
    for command in (("purge-unverified", "--older-than", "30d"), ("purge-tokens",)):
        result = run(app, *command, "--batch-size", size)
        assert result.exit_code == 2
        assert "Invalid value for '--batch-size'" in result.output
    assert len(emails(app)) == 8


def test_purge_tokens_goes_through_the_tokens_in_batches(app: Any, commits: Any) -> None:
    user_id = add_user(app, "tokens@example.com", verified=True)
    now = utcnow()
    # By id: a, b, c, d, e; expired: a, c, e.
    spans = {"a": (60, 5), "b": (3600, 5), "c": (1, 400 * 24 * 60), "d": (3600, 1), "e": (60, 2)}
    with app.app_context():
        db.session.add_all(
            AccessToken(id=k * 64, user_id=user_id, ttl=ttl, created_at=now - timedelta(minutes=age))
            for k, (ttl, age) in spans.items()
        )
        db.session.commit()
    commits.clear()
    result = run(app, "purge-tokens", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert progress(result.output) == [
        "Batch 1: 1 deleted so far.",
        "Batch 2: 2 deleted so far.",
        "Batch 3: 3 deleted so far.",
    ]
    assert "Deleted 3 expired access tokens." in result.output
    assert len(commits) == 4  # three batches, and the look that found no more
    with app.app_context():
        assert sorted(db.session.scalars(db.select(AccessToken.id))) == ["b" * 64, "d" * 64]
