#!/usr/bin/env bash
# Structural check of the collector configs (see check.py for what is checked).
#   bash collector-config/check.sh            # both configs in this folder
#   bash collector-config/check.sh FILE...    # other files
# Uses $PYTHON if set, else python3 if it has PyYAML, else the project venv
# (testing/setup-venv.sh, which installs PyYAML with moto).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

if [ -z "${PYTHON:-}" ]; then
  if python3 -c 'import yaml' >/dev/null 2>&1; then
    PYTHON=python3
  else
    PYTHON="$(bash "$root/testing/setup-venv.sh")/bin/python"
  fi
fi

if [ "$#" -eq 0 ]; then
  set -- "$here/otelcol.yaml" "$here/otelcol-hosted.yaml"
fi
exec "$PYTHON" "$here/check.py" "$@"
