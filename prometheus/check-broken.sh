#!/usr/bin/env bash
# Proves that prometheus/check.sh catches broken input: copies the rule files, tests and
# Alertmanager config to a temporary directory, breaks one file per case, runs the check that
# must catch it (check.sh --only CHECK COPY) and asserts that it fails. A pristine copy must pass
# every check first, so a failure can only come from the break.
#
#   rule syntax error         rules/pipelines.yml        check: rules
#   wrong expected annotation tests/pipeline-run-failed  check: tests
#   undefined receiver        alertmanager.yml           check: alertmanager
#   pipeline routed elsewhere alertmanager.yml           check: routes
#
# Usage: prometheus/check-broken.sh
# Exits 0 only if the pristine copy passed and every broken copy was caught.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
check="$here/check.sh"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

copy() { # copy NAME: a fresh copy of the checked files in $tmp/NAME
  rm -rf "${tmp:?}/$1"
  mkdir -p "$tmp/$1"
  cp -R "$here/rules" "$here/tests" "$here/examples" "$here/alertmanager.yml" "$tmp/$1/"
}

# replace FILE OLD NEW: replaces the first occurrence of the literal text OLD; fails if OLD is
# not there or the file did not change (so a stale case cannot pass by breaking nothing).
replace() {
  local file="$1"
  grep -qF -- "$2" "$file" || { echo "  setup error: '$2' not found in $file" >&2; return 1; }
  cp "$file" "$file.orig"
  OLD="$2" NEW="$3" perl -0pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/' "$file"
  if cmp -s "$file" "$file.orig"; then echo "  setup error: $file unchanged" >&2; return 1; fi
  rm -f "$file.orig"
  printf '  - %s\n  + %s\n' "$2" "$3"
}

ok=1
echo "=== pristine copy: every check must pass"
copy pristine
if "$check" "$tmp/pristine" >"$tmp/pristine.log" 2>&1; then
  echo "passed"
else
  echo "FAILED - the unmodified files do not pass; output:"
  cat "$tmp/pristine.log"
  ok=0
fi

# case_ NAME CHECK FILE OLD NEW [EXCERPT-REGEX]
case_() {
  local name="$1" chk="$2" file="$3"
  echo
  echo "=== $name ($file, check: $chk)"
  copy "$name"
  replace "$tmp/$name/$file" "$4" "$5" || { ok=0; return; }
  if "$check" --only "$chk" "$tmp/$name" >"$tmp/$name.log" 2>&1; then
    echo "NOT CAUGHT: check '$chk' passed on the broken copy"
    cat "$tmp/$name.log"
    ok=0
  elif grep -q "^FAIL $chk\$" "$tmp/$name.log"; then
    echo "caught:"
    sed "s|$tmp/$name/||g" "$tmp/$name.log" | grep -E "FAILED:|^FAIL |FAIL  |undefined|could not parse|expected|${6:-FAILED:}" |
      grep -v '^==>' | head -n 5 | cut -c1-200 | sed 's/^/  | /'
  else
    echo "NOT CAUGHT as expected: check.sh failed, but not in check '$chk'"
    cat "$tmp/$name.log"
    ok=0
  fi
}

case_ rule-syntax-error rules rules/pipelines.yml \
  'increase(pipeline_bridge_pipeline_runs_total[1h])' \
  'increase(pipeline_bridge_pipeline_runs_total[1h]'

case_ wrong-expected-annotation tests tests/pipeline-run-failed.yml \
  'Team: data-eng, project: orders.' \
  'Team: data-eng, project: shipping.' \
  'alertname: .*time:'

case_ undefined-receiver alertmanager alertmanager.yml \
  'receiver: finance-email' \
  'receiver: finance-e-mail'

case_ misrouted-team routes alertmanager.yml \
  'matchers: [team="finance"]' \
  'matchers: [team="finanse"]'

echo
if [ "$ok" = 1 ]; then
  echo "==> every broken copy was caught"
  exit 0
fi
echo "==> FAILED: see above"
exit 1
