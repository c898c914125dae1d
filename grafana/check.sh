#!/usr/bin/env bash
# Checks the Grafana dashboards and provisioning in this folder (see grafana/README.md):
# schema types (tsc against @grafana/schema), datasource uids, template variables, PromQL syntax
# (promtool), metric and label names (docs/prometheus-names.md, recording rules of
# prometheus/rules), Tempo query model, and the PromQL rules of the README (owner join, guarded
# divisions, no increase() over $__interval, no duration quantiles, TraceQL filters, exemplars).
# Needs Node 20+ and npm; promtool 3.5 comes from testing/install-backends.sh (Debian forky .deb).
# Extra arguments go to check/check.mjs (--dashboards DIR, --datasources FILE, --names FILE, --rules DIR,
# --keep).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# promtool 3.5, the Prometheus major version docker-compose.yml ships: Debian forky's package,
# unpacked under .backends/ by testing/install-backends.sh (no root needed); its bin/ goes first
# on PATH, where check/check.mjs looks for `promtool`.
promtool="$(bash "$here/../testing/install-backends.sh" | sed -n 's/^PROMTOOL=//p')"
[ -x "$promtool" ] || { echo "grafana/check.sh: testing/install-backends.sh gave no promtool" >&2; exit 2; }
PATH="$(dirname "$promtool"):$PATH"
export PATH

(cd "$here/check" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
exec node "$here/check/check.mjs" "$@"
