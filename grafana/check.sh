#!/usr/bin/env bash
# Checks the Grafana dashboards and provisioning in this folder (see grafana/README.md):
# schema types (tsc against @grafana/schema), datasource uids, template variables, PromQL syntax
# (promtool), metric and label names (docs/prometheus-names.md), Tempo query model.
# Needs Node 20+ and npm; installs promtool (Debian's prometheus package) when it is missing.
# Extra arguments go to check/check.mjs (--dashboards DIR, --datasources FILE, --names FILE, --keep).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool not found: installing Debian's prometheus package" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

(cd "$here/check" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
exec node "$here/check/check.mjs" "$@"
