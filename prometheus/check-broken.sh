#!/usr/bin/env bash
# Proves that prometheus/check.sh catches broken input: copies the rule files, tests and
# Alertmanager config (COPY/prometheus/) and the runbooks (COPY/docs/runbooks/) to a temporary
# directory, breaks one thing per case, runs the check that must catch it
# (check.sh --only CHECK COPY/prometheus) and asserts that it fails. A pristine copy must pass
# every check first, so a failure can only come from the break.
#
#   rule syntax error          first expr of rules/pipelines.yml gets an unbalanced "("  rules
#   wrong expected annotation  first expected summary in tests/ gets "BROKEN "          tests
#   template vmalert rejects   first alert of rules/bridge.yml gets an annotation using   vmalert
#                              graphLink (a Prometheus-only template function: promtool
#                              accepts it, vmalert does not load the file)
#   expression vmalert rejects first expr of rules/bridge.yml gets an unbalanced "("    vmalert
#   alert without runbook_url  the first runbook_url of rules/pipelines.yml removed        runbooks
#   runbook file missing       the runbook the first alert of rules/pipelines.yml links    runbooks
#                              to deleted from docs/runbooks/
#   copied alert, old runbook  the first alert of rules/bridge.yml renamed (…Copy), its     runbooks
#                              runbook_url still pointing at the original's runbook
#   undefined receiver         alertmanager.yml                                            alertmanager
#   pipeline routed elsewhere  alertmanager.yml                                            routes
#
# The breaks are made with patterns (first expr, first summary, first alert ...) rather than
# exact text where the files change often; a break that changes nothing is a setup error.
#
# Usage: prometheus/check-broken.sh
# Exits 0 only if the pristine copy passed and every broken copy was caught.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
check="$here/check.sh"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

copy() { # copy NAME: a fresh copy of the checked files in $tmp/NAME/{prometheus,docs/runbooks}
  rm -rf "${tmp:?}/$1"
  mkdir -p "$tmp/$1/prometheus" "$tmp/$1/docs"
  cp -R "$here/rules" "$here/tests" "$here/examples" "$here/alertmanager.yml" "$tmp/$1/prometheus/"
  if [ -d "$repo/docs/runbooks" ]; then cp -R "$repo/docs/runbooks" "$tmp/$1/docs/"; fi
}

# replace FILE OLD NEW: replaces the first occurrence of the literal text OLD; fails if OLD is
# not there or the file did not change (so a stale case cannot pass by breaking nothing).
replace() {
  local file="$1"
  grep -qF -- "$2" "$file" || { echo "  setup error: '$2' not found in $file" >&2; return 1; }
  OLD="$2" NEW="$3" edit "$file" 's/\Q$ENV{OLD}\E/$ENV{NEW}/'
}

# edit FILE PERL: applies the perl substitution PERL to the whole file (perl -0p); fails if the
# file did not change. Shows the changed lines.
edit() {
  local file="$1"
  [ -f "$file" ] || { echo "  setup error: no file $file" >&2; return 1; }
  cp "$file" "$file.orig"
  perl -0pi -e "$2" "$file" || { echo "  setup error: perl failed on $file" >&2; return 1; }
  if cmp -s "$file" "$file.orig"; then echo "  setup error: $file unchanged by $2" >&2; return 1; fi
  diff "$file.orig" "$file" | grep -E '^[<>]' | head -n 6 | cut -c1-160 | sed 's/^</  -/; s/^>/  +/'
  rm -f "$file.orig"
}

ok=1
echo "=== pristine copy: every check must pass"
copy pristine
if "$check" "$tmp/pristine/prometheus" >"$tmp/pristine.log" 2>&1; then
  echo "passed"
else
  echo "FAILED - the unmodified files do not pass; output:"
  cat "$tmp/pristine.log"
  ok=0
fi

# expect_caught NAME CHECK [EXCERPT-REGEX]: check.sh --only CHECK on copy NAME must fail in CHECK
expect_caught() {
  local name="$1" chk="$2"
  if "$check" --only "$chk" "$tmp/$name/prometheus" >"$tmp/$name.log" 2>&1; then
    echo "NOT CAUGHT: check '$chk' passed on the broken copy"
    cat "$tmp/$name.log"
    ok=0
  elif grep -q "^FAIL $chk\$" "$tmp/$name.log"; then
    echo "caught:"
    sed "s|$tmp/$name/||g" "$tmp/$name.log" |
      grep -E "FAILED:|^FAIL |FAIL  |undefined|could not parse|expected|fatal|${3:-FAILED:}" |
      grep -v '^==>' | head -n 5 | cut -c1-200 | sed 's/^/  | /'
  else
    echo "NOT CAUGHT as expected: check.sh failed, but not in check '$chk'"
    cat "$tmp/$name.log"
    ok=0
  fi
}

# case_ NAME CHECK FILE OLD NEW [EXCERPT-REGEX]: FILE (relative to the copy's prometheus/) with
# the literal text OLD replaced by NEW
case_() {
  local name="$1" chk="$2" file="$3"
  echo
  echo "=== $name ($file, check: $chk)"
  copy "$name"
  replace "$tmp/$name/prometheus/$file" "$4" "$5" || { ok=0; return; }
  expect_caught "$name" "$chk" "${6:-}"
}

# case_edit NAME CHECK FILE PERL [EXCERPT-REGEX]: FILE (relative to the copy's prometheus/)
# changed by the perl substitution PERL
case_edit() {
  local name="$1" chk="$2" file="$3"
  echo
  echo "=== $name ($file, check: $chk)"
  copy "$name"
  edit "$tmp/$name/prometheus/$file" "$4" || { ok=0; return; }
  expect_caught "$name" "$chk" "${5:-}"
}

# An expression: the text after "expr:", inline or as a block scalar (| or >).
first_expr='^([ \t]*expr:[ \t]*(?:[|>][-+]?[ \t]*\n[ \t]*)?)(?=\S)'

case_edit rule-syntax-error rules rules/pipelines.yml \
  "s/$first_expr/\${1}(/m"

# Only the broken test file stays in this copy: the whole suite takes minutes (pipeline-trend.yml
# alone evaluates days of samples) and the pristine copy already ran it.
tests_file="$(cd "$here" && grep -l '^[[:space:]]*summary:' tests/*.yml 2>/dev/null | head -n1)"
tests_file="${tests_file:-tests/<none with an expected summary>}"
echo
echo "=== wrong-expected-annotation ($tests_file, check: tests)"
copy wrong-expected-annotation
find "$tmp/wrong-expected-annotation/prometheus/tests" -name '*.yml' ! -path "*/$tests_file" -delete
if edit "$tmp/wrong-expected-annotation/prometheus/$tests_file" \
  's/^([ \t]*summary:[ \t]*["'\'']?)(?=[A-Za-z{])/${1}BROKEN /m'; then
  expect_caught wrong-expected-annotation tests 'alertname: .*time:'
else
  ok=0
fi

# A template function Prometheus has and vmalert lacks: this copy still passes `promtool check
# rules` (asserted below), so only the vmalert check can catch it.
case_edit vmalert-template vmalert rules/bridge.yml \
  's/^([ \t]*)annotations:[ \t]*\n([ \t]+)/${1}annotations:\n${2}graph: '\''{{ graphLink "up" }}'\''\n${2}/m' \
  'graphLink'
if "$check" --only rules "$tmp/vmalert-template/prometheus" >/dev/null 2>&1; then
  echo "  (promtool check rules accepts this copy: only vmalert catches it)"
else
  echo "  note: promtool check rules rejects this copy too"
fi

case_edit vmalert-expression vmalert rules/bridge.yml \
  "s/$first_expr/\${1}(/m" \
  'bad prometheus expr'

case_edit runbook-url-missing runbooks rules/pipelines.yml \
  's/^([ \t]*)runbook_url:[^\n]*\n(?:\1[ \t]+[^\n]*\n)*//m' \
  'no runbook_url'

echo
# The file name at the end of the first runbook_url value (inline or folded onto the next lines).
first_runbook="$(perl -0ne 'print $2 if /^([ \t]*)runbook_url:[^\n]*?(?:\n\1[ \t]+[^\n]*?)*\/([A-Za-z0-9._-]+\.md)\b/m' \
  "$here/rules/pipelines.yml" 2>/dev/null)"
echo "=== runbook-file-missing (docs/runbooks/${first_runbook:-?}, check: runbooks)"
copy runbook-file-missing
if [ -n "$first_runbook" ] && [ -f "$tmp/runbook-file-missing/docs/runbooks/$first_runbook" ]; then
  rm "$tmp/runbook-file-missing/docs/runbooks/$first_runbook"
  echo "  - docs/runbooks/$first_runbook"
  expect_caught runbook-file-missing runbooks 'does not exist'
else
  echo "  setup error: no runbook file found for rules/pipelines.yml's first runbook_url" >&2
  ok=0
fi

case_edit copied-alert-old-runbook runbooks rules/bridge.yml \
  's/^([ \t]*-[ \t]*alert:[ \t]*)(\w+)/${1}${2}Copy/m' \
  'does not end in'

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
