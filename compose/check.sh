#!/usr/bin/env bash
# Validates docker-compose.yml without a Docker engine: `docker-compose config -q` parses the
# file against the compose schema (wrong types, unknown keys, undefined depends_on services,
# bad healthchecks ...). Installs Debian's docker-compose (1.29) if missing. Then, on the
# normalized config, that the bridge runs on a read-only root filesystem with its state
# directory on a named volume and every other mount read-only (compose/check-bridge.py).
#   bash compose/check.sh [FILE]      # default: docker-compose.yml at the repository root
# DOCKER_COMPOSE=/path/to/docker-compose (e.g. the v2 plugin binary) checks with another one.
# The bridge check uses $PYTHON if set, else python3 if it has PyYAML, else the project venv
# (testing/setup-venv.sh, which installs PyYAML with moto).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
file="${1:-$root/docker-compose.yml}"

dc="${DOCKER_COMPOSE:-docker-compose}"
if [ -z "${DOCKER_COMPOSE:-}" ] && ! command -v docker-compose >/dev/null 2>&1; then
  echo "compose/check.sh: installing docker-compose (Debian package)" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends docker-compose >&2
fi

# `config` resolves relative paths against the file's folder; run from there so that a
# broken copy in a temp dir is judged on its content only.
cd "$(dirname "$file")"
"$dc" -f "$(basename "$file")" config -q
echo "ok   $file ($("$dc" -f "$(basename "$file")" config --services | paste -sd " " -))"

if [ -z "${PYTHON:-}" ]; then
  if python3 -c 'import yaml' >/dev/null 2>&1; then
    PYTHON=python3
  else
    PYTHON="$(bash "$root/testing/setup-venv.sh")/bin/python"
  fi
fi
"$dc" -f "$(basename "$file")" config | "$PYTHON" "$here/check-bridge.py"
