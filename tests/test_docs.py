"""The configuration page documents every key of ``config.DEFAULTS``, and only those."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask_registration.config import DEFAULTS

DOCS = Path(__file__).resolve().parent.parent / "docs"
CONFIGURATION = DOCS / "configuration.rst"

# A ``.. data::`` directive and its indented body (blank lines included).
ENTRY_RE = re.compile(r"^\.\. data:: (REGISTRATION_\w+)[ \t]*\n((?:[ \t]+.*\n|[ \t]*\n)*)", re.MULTILINE)


def documented_entries() -> dict[str, str]:
    entries: dict[str, str] = {}
    for name, body in ENTRY_RE.findall(CONFIGURATION.read_text(encoding="utf-8")):
        assert name not in entries, f"{name} is documented twice"
        entries[name] = body
    return entries


def shown(value: Any) -> str:
    """How a default is written in the docs: its repr, ``timedelta(days=2)`` unqualified."""
    return repr(value).removeprefix("datetime.")


def test_every_config_key_is_documented_and_nothing_else() -> None:
    documented = set(documented_entries())
    assert documented - set(DEFAULTS) == set(), "documented but not in config.DEFAULTS"
    assert set(DEFAULTS) - documented == set(), "in config.DEFAULTS but not documented"


def test_each_documented_key_states_its_default() -> None:
    entries = documented_entries()
    for key, (default, _types) in DEFAULTS.items():
        expected = f"Default: ``{shown(default)}``"
        assert key in entries, f"{key} has no entry in docs/configuration.rst"
        assert expected in entries[key], f"{key}: its entry should say {expected}"


def test_each_documented_key_says_what_it_does() -> None:
    for key, body in documented_entries().items():
        effect = [line for line in body.splitlines() if line.strip() and "Default:" not in line]
        assert effect, f"{key}: its entry states a default but not what the key does"


def test_no_other_page_documents_a_config_key() -> None:
    for page in DOCS.glob("*.rst"):
        if page != CONFIGURATION:
            text = page.read_text(encoding="utf-8")
            assert not ENTRY_RE.search(text), f"{page.name} has a .. data:: REGISTRATION_ entry"


def test_every_template_is_listed_in_the_templates_page() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    page = (root / "docs" / "templates.rst").read_text()
    folder = root / "flask_registration" / "templates" / "registration"
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert names, "no templates found"
    missing = [n for n in names if f"registration/{n}" not in page]
    assert missing == [], "templates not documented in docs/templates.rst"
