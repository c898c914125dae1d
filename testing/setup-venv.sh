#!/usr/bin/env bash
# Create/refresh the Python venv used by the tests and the demo, then print
# its path on stdout (everything else goes to stderr), so callers can do
#   VENV="$(testing/setup-venv.sh)"
#
# Env: POB_VENV  venv location (default: <repo>/.venv)
#      PYTHON    interpreter to build it from (default: python3)
#
# Idempotent and cheap when nothing changed: requirements are installed only
# when the hash of testing/requirements.txt differs from the stamp in the venv.
# Safe to call from parallel test processes (serialised with flock).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
venv="${POB_VENV:-$root/.venv}"
python="${PYTHON:-python3}"
requirements="$here/requirements.txt"
stamp="$venv/.requirements.sha256"

log() { printf 'setup-venv: %s\n' "$*" >&2; }

mkdir -p "$(dirname "$venv")"
venv="$(cd "$(dirname "$venv")" && pwd)/$(basename "$venv")"

if command -v flock >/dev/null 2>&1; then
    exec 9>"$venv.lock"
    flock 9
fi

want_hash="$( (cat "$requirements"; "$python" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"

usable() {
    [ -x "$venv/bin/python" ] && "$venv/bin/python" -m pip --version >/dev/null 2>&1
}

create() {
    # Debian splits ensurepip into python3-venv; without it `-m venv` fails
    # (leaving a half-made venv). virtualenv bundles its own pip, and
    # `pip install --target` is exempt from PEP 668, so it works on a bare
    # system pip too.
    if "$python" -m venv "$venv" >&2 2>/dev/null && usable; then
        return
    fi
    log "python3 -m venv unavailable (no ensurepip?); falling back to virtualenv"
    rm -rf "$venv"
    local tmp
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN
    PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --quiet --disable-pip-version-check --target "$tmp" virtualenv >&2
    PYTHONPATH="$tmp" "$python" -m virtualenv --quiet "$venv" >&2
}

if ! usable; then
    if [ -e "$venv" ] && [ ! -f "$venv/pyvenv.cfg" ] && [ -n "$(ls -A "$venv" 2>/dev/null)" ]; then
        log "$venv exists and is not a venv; refusing to replace it"
        exit 1
    fi
    # A broken venv (e.g. its interpreter was upgraded away) is rebuilt.
    rm -rf "$venv"
    log "creating $venv"
    create
fi

if [ "$(cat "$stamp" 2>/dev/null)" != "$want_hash" ]; then
    log "installing $(basename "$requirements") into $venv"
    rm -f "$stamp"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
    printf '%s\n' "$want_hash" >"$stamp"
else
    log "requirements up to date"
fi

printf '%s\n' "$venv"
