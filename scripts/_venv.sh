# Sourced by the scripts: make .venv with the package installed (editable) and its extras.
PYTHON=${PYTHON:-python3}
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v "$PYTHON" >/dev/null 2>&1 || ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  echo "== installing python3 and python3-venv (apt)"
  as_root apt-get update -q
  as_root apt-get install -y -q python3 python3-venv python3-dev
  PYTHON=python3
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
extras=${EXTRAS-test,docs,dev,mfa}
spec="."; [ -n "$extras" ] && spec=".[$extras]"
echo "== pip install -e $spec"
.venv/bin/python -m pip install -q --disable-pip-version-check -e "$spec" 2>&1 \
  | grep -v "^WARNING: Location" || true
.venv/bin/python -c 'import flask_registration' || { echo "install failed" >&2; exit 1; }
