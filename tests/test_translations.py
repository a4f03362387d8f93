"""The library's catalogs are complete: the committed ``.pot`` holds exactly what the code
marks, and every shipped language translates every entry, unfuzzy, with the English
placeholders and HTML tags, compiled into its ``.mo``.

The checks run over whichever languages ship (``flask_registration/translations/*/``),
so a new language is checked as soon as its catalog is added.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from flask_registration.i18n import DOMAIN, TRANSLATIONS_DIR, shipped_languages

ROOT = Path(__file__).resolve().parent.parent
POT = TRANSLATIONS_DIR / f"{DOMAIN}.pot"

#: ``%(name)s``, ``%(num)d``..., and ``{name}``; ``%%`` is a literal percent sign.
PLACEHOLDER_RE = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|\{(\w*)\}")
TAG_RE = re.compile(r"</?[a-zA-Z][^>]*>")


def read_catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def msgids(message: Message) -> list[str]:
    """A message's msgid, and its plural msgid if it has one."""
    return [str(i) for i in message.id] if isinstance(message.id, (tuple, list)) else [str(message.id)]


def key(message: Message) -> tuple[str, ...]:
    """A message's identity: its msgid (and plural msgid), and its context."""
    return (message.context or "", *msgids(message))


def keys(catalog: Catalog) -> set[tuple[str, ...]]:
    return {key(m) for m in catalog if m.id}


def catalogs() -> dict[str, Path]:
    """Each shipped language's ``.po``, by folder name (``de``, ``pt_BR``)."""
    return {p.parent.parent.name: p for p in sorted(TRANSLATIONS_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))}


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER_RE.findall(text.replace("%%", ""))}


def forms(message: Message) -> list[str]:
    """A message's translation, one string per plural form."""
    string = message.string
    return [str(s) for s in string] if isinstance(string, (tuple, list)) else [str(string or "")]


@pytest.mark.slow
def test_the_committed_pot_holds_exactly_what_the_code_marks(tmp_path: Path) -> None:
    fresh = tmp_path / f"{DOMAIN}.pot"
    env = {**os.environ, "POT_FILE": str(fresh), "PYTHON": sys.executable}
    done = subprocess.run(
        ["sh", str(ROOT / "scripts" / "translations.sh"), "extract"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    marked, committed = keys(read_catalog(fresh)), keys(read_catalog(POT))
    assert marked, "the extraction found no string"
    fix = "run scripts/translations.sh extract, then update (see docs/translations.rst)"
    assert sorted(marked - committed) == [], f"marked in the code but not in the .pot: {fix}"
    assert sorted(committed - marked) == [], f"in the .pot but no longer marked in the code: {fix}"


def test_the_shipped_languages_are_the_compiled_catalogs() -> None:
    found = catalogs()
    compiled = {name for name, po in found.items() if po.with_suffix(".mo").is_file()}
    assert compiled == set(found), "a catalog without its .mo: run scripts/translations.sh compile"
    assert shipped_languages() == ("en", *sorted(name.replace("_", "-") for name in found))


def test_every_catalog_translates_every_entry_and_none_is_fuzzy() -> None:
    expected = keys(read_catalog(POT))
    problems = []
    for name, path in catalogs().items():
        catalog = read_catalog(path, locale=name)
        assert not catalog.fuzzy, f"{name}: the catalog's header is marked fuzzy"
        have = {key(m): m for m in catalog if m.id}
        for missing in sorted(expected - set(have)):
            problems.append(f"{name}: missing {missing[1:]!r}")
        for stale in sorted(set(have) - expected):
            problems.append(f"{name}: no longer marked in the code {stale[1:]!r}")
        for k, message in have.items():
            if message.fuzzy:
                problems.append(f"{name}: fuzzy {k[1:]!r}")
            strings = forms(message)
            if isinstance(message.id, tuple) and len(strings) != catalog.num_plurals:
                problems.append(f"{name}: {len(strings)} plural forms instead of {catalog.num_plurals} for {k[1:]!r}")
            if not all(strings):
                problems.append(f"{name}: untranslated {k[1:]!r}")
    assert problems == []


def test_translations_keep_the_placeholders_and_tags_of_the_english() -> None:
    problems = []
    for name, path in catalogs().items():
        for message in read_catalog(path, locale=name):
            if not message.id:
                continue
            ids = msgids(message)
            english = set().union(*(placeholders(i) for i in ids))
            tags = Counter(TAG_RE.findall(ids[-1]))
            for text in filter(None, forms(message)):
                found = placeholders(text)
                # A plural form may leave the number out ("eine Stunde"), nothing else.
                allowed = english - {"num"} if isinstance(message.id, tuple) else english
                if not allowed <= found <= english:
                    problems.append(f"{name}: {sorted(found)} instead of {sorted(english)} in {text!r}")
                if Counter(TAG_RE.findall(text)) != tags:
                    problems.append(f"{name}: tags {sorted(TAG_RE.findall(text))} differ in {text!r}")
    assert problems == []


@pytest.mark.slow
def test_each_mo_is_the_compiled_form_of_its_po() -> None:
    problems = []
    for name, path in catalogs().items():
        written = {key(m): forms(m) for m in read_catalog(path, locale=name) if m.id}
        with path.with_suffix(".mo").open("rb") as f:
            compiled = {key(m): forms(m) for m in read_mo(f) if m.id}
        if compiled != written:
            problems.append(f"{name}: the .mo differs from the .po: run scripts/translations.sh compile")
    assert problems == []


def test_the_placeholder_check_sees_a_dropped_or_renamed_placeholder() -> None:
    # The checks above pass vacuously if the pattern finds nothing: it must see both styles.
    assert placeholders("Hello %(name)s, %(num)d left, {count} more, 100%% sure") == {"name", "num", "count"}
    assert placeholders("Hallo %(nom)s") != placeholders("Hello %(name)s")
    assert TAG_RE.findall('<a href="%(url)s">log in</a>') == ['<a href="%(url)s">', "</a>"]
