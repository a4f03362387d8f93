#!/bin/sh
# The library's translations (domain flask_registration), from the repository's root:
#
#   scripts/translations.sh extract        marked strings -> flask_registration/translations/flask_registration.pot
#   scripts/translations.sh init LANG      a new catalog:  flask_registration/translations/LANG/LC_MESSAGES/flask_registration.po
#   scripts/translations.sh update [LANG]  every catalog (or LANG's) brought up to the .pot (new entries empty, changed ones fuzzy)
#   scripts/translations.sh compile [LANG] every .po (or LANG's) -> .mo (the files the package ships)
#
# See docs/translations.rst. POT_FILE names another output for extract (the tests use it).
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
DIR=flask_registration/translations
DOMAIN=flask_registration
POT=${POT_FILE:-$DIR/$DOMAIN.pot}
pybabel() { "$PYTHON" -m babel.messages.frontend "$@"; }

case "${1:-}" in
  extract)
    pybabel -q extract -F babel.cfg -o "$POT" \
      -k _r -k _rn:1,2 -k N_ -k lazy_gettext \
      --add-comments=Translators: --sort-by-file --width=100 \
      --project=flask-registration --copyright-holder="flask-registration contributors" \
      flask_registration
    ;;
  init)
    [ -n "${2:-}" ] || { echo "usage: $0 init LANG (de, fr, pt_BR...)" >&2; exit 2; }
    pybabel -q init --domain "$DOMAIN" -i "$DIR/$DOMAIN.pot" -d "$DIR" -l "$2" --width=100
    ;;
  update)
    pybabel -q update --domain "$DOMAIN" -i "$DIR/$DOMAIN.pot" -d "$DIR" --width=100 --ignore-obsolete ${2:+-l "$2"}
    ;;
  compile)
    pybabel compile --domain "$DOMAIN" -d "$DIR" --statistics ${2:+-l "$2"}
    ;;
  *)
    sed -n '2,10p' "$0" >&2
    exit 2
    ;;
esac
