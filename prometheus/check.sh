#!/usr/bin/env bash
# Validates the Prometheus rules, their unit tests and the Alertmanager configuration:
#
#   rules         promtool check rules --lint=all --lint-fatal  rules/*.yml examples/*.yml
#   tests         promtool test rules  tests/*.yml
#   vmalert       vmalert -dryRun  rules/*.yml examples/*.yml: the rules load in VictoriaMetrics'
#                 vmalert too (MetricsQL parse of every expr, annotation/label templates parsed
#                 with vmalert's template functions, no unknown rule/group fields)
#   runbooks      every alert in rules/*.yml has runbook_url ending in /<alert-name-kebab>.md and
#                 that runbook exists (RUNBOOKS, default DIR/../docs/runbooks; check-runbooks.py)
#   alertmanager  amtool check-config  alertmanager.yml
#   routes        amtool config routes test: example alerts reach the intended receivers
#
# Usage: prometheus/check.sh [--only CHECK[,CHECK...]] [--runbooks RUNBOOKS] [DIR]
#   DIR defaults to the directory of this script (prometheus/); check-broken.sh passes a copy.
# Exits 0 when every selected check passed, 1 when one failed, 2 on a usage or setup error.
#
# promtool 3.5, amtool 0.33 and vmalert 1.112 come from testing/install-backends.sh (Debian
# forky/trixie packages unpacked under .backends/, no root needed; the compose stack ships
# Prometheus 3.5 and Alertmanager 0.28). The runbooks check needs Python with PyYAML: $PYTHON if
# set, else python3 if it has PyYAML, else the project venv (testing/setup-venv.sh).
set -uo pipefail

usage() { sed -n '2,23s/^# \{0,1\}//p' "$0"; }

all="rules,tests,vmalert,runbooks,alertmanager,routes"
only="$all"
runbooks=""
while [ $# -gt 0 ]; do
  case "$1" in
    --only) [ $# -ge 2 ] || { usage >&2; exit 2; }; only="$2"; shift 2 ;;
    --runbooks) [ $# -ge 2 ] || { usage >&2; exit 2; }; runbooks="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "check.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -le 1 ] || { usage >&2; exit 2; }
dir="${1:-$(dirname "${BASH_SOURCE[0]}")}"
dir="$(cd "$dir" 2>/dev/null && pwd)" || { echo "check.sh: no such directory: ${1:-}" >&2; exit 2; }
selected() { case ",$only," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
for c in ${only//,/ }; do
  case ",$all," in *",$c,"*) ;; *) echo "check.sh: unknown check: $c (known: $all)" >&2; exit 2 ;; esac
done
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
runbooks="${runbooks:-$dir/../docs/runbooks}"
if [ -d "$runbooks" ]; then runbooks="$(cd "$runbooks" && pwd)"; fi

# --- tools -----------------------------------------------------------------------------------
# KEY=PATH lines (PROMTOOL, AMTOOL, VMALERT, ...); install-backends.sh logs to stderr.
backends="$(bash "$repo/testing/install-backends.sh")" || { echo "check.sh: testing/install-backends.sh failed" >&2; exit 2; }
tool() { sed -n "s/^$1=//p" <<<"$backends"; }
promtool="$(tool PROMTOOL)" amtool="$(tool AMTOOL)" vmalert="$(tool VMALERT)"
for t in "$promtool" "$amtool" "$vmalert"; do
  [ -x "$t" ] || { echo "check.sh: testing/install-backends.sh gave no usable tool: '$t'" >&2; exit 2; }
done
echo "==> $("$promtool" --version 2>&1 | head -n1)"
echo "==> $("$amtool" --version 2>&1 | head -n1)"
echo "==> vmalert $(sed -n 's/^victoria-metrics //p' "$(dirname "$(dirname "$vmalert")")/VERSIONS" 2>/dev/null)"
echo "==> checking $dir"

# --- checks ----------------------------------------------------------------------------------
failed=()
passed=()
run() { # run NAME CMD...: prints the command and its output, records the result
  local name="$1"; shift
  echo
  echo "--- $name: $*"
  if "$@"; then passed+=("$name"); echo "PASS $name"
  else failed+=("$name"); echo "FAIL $name"
  fi
}

if selected rules; then
  run rules "$promtool" check rules --lint=all --lint-fatal "$dir"/rules/*.yml "$dir"/examples/*.yml
fi

if selected tests; then
  # Test files name their rule files relative to themselves (../rules/...).
  run tests "$promtool" test rules "$dir"/tests/*.yml
fi

# vmalert's dry run: loads the rule files as `vmalert -rule=...` would and exits non-zero (with a
# "fatal ... failed to parse" line) on an expression MetricsQL can't parse, a template that does
# not parse with vmalert's functions (graphLink/tableLink, for one, are Prometheus-only), or an
# unknown field. -rule is a comma-separated list flag, so each file gets its own -rule.
vmalert_check() {
  local args=() f
  for f in "$dir"/rules/*.yml "$dir"/examples/*.yml; do [ -e "$f" ] && args+=("-rule=$f"); done
  set -- -dryRun -rule.validateExpressions=true -rule.validateTemplates=true -loggerLevel=WARN "${args[@]}"
  echo "  $vmalert $*"
  # Its fatal line repeats the file list twice before the reason: keep the reason.
  "$vmalert" "$@" 2>&1 | sed -E 's/^.*\tfatal\t[^\t]*\t/fatal: /; s/failed to parse "?\[[^]]*\]"?: //g; s/^/  /' || return 1
  echo "  ${#args[@]} rule files loaded"
}
if selected vmalert; then
  run vmalert vmalert_check
fi

# PyYAML for check-runbooks.py: $PYTHON, else python3 if it has it, else the project venv.
python_with_yaml() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"
  elif python3 -c 'import yaml' >/dev/null 2>&1; then echo python3
  else
    local venv
    venv="$(bash "$repo/testing/setup-venv.sh")" || return 1
    echo "$venv/bin/python"
  fi
}
if selected runbooks; then
  py="$(python_with_yaml)" || { echo "check.sh: no Python with PyYAML (testing/setup-venv.sh failed)" >&2; exit 2; }
  run runbooks "$py" "$here/check-runbooks.py" "$runbooks" "$dir"/rules/*.yml
fi

if selected alertmanager; then
  run alertmanager "$amtool" check-config "$dir/alertmanager.yml"
fi

routes() { # each line: expected receivers | alert labels
  local rc=0 expected labels got
  while IFS='|' read -r expected labels; do
    [ -n "$expected" ] || continue
    # shellcheck disable=SC2086 # labels are space-separated arguments
    got="$("$amtool" config routes test --config.file="$dir/alertmanager.yml" $labels 2>/dev/null)"
    if [ "$got" = "$expected" ]; then echo "  ok   $labels -> $got"
    else echo "  FAIL $labels -> ${got:-<error>} (expected $expected)"; rc=1
    fi
  done <<'EOF'
orders-oncall-email,data-eng-slack|alertname=PipelineFailing severity=critical team=data-eng project=orders
data-eng-slack|alertname=PipelineRunFailed severity=warning team=data-eng project=orders
orders-oncall-email,data-eng-slack|alertname=PipelineRunFailed severity=critical failure_severity=critical team=data-eng project=orders
data-eng-slack|alertname=PipelineRunExceededSLA severity=warning team=data-eng project=orders
data-eng-slack|alertname=PipelineFailing severity=critical team=data-eng project=events
finance-email|alertname=PipelineNoRecentSuccess severity=critical team=finance project=ledger
finance-email|alertname=PipelineNotWatched severity=warning team=finance project=ledger
finance-email|alertname=PipelineFailing severity=critical project=billing
analytics-msteams|alertname=PipelineGettingSlower severity=info team=analytics project=clickstream
default|alertname=PipelineFailing severity=critical
default|alertname=PipelineBridgeDown severity=critical job=pipeline-otel-bridge instance=bridge:9464 cloud_account_id=111111111111 cloud_region=eu-west-1
default|alertname=PipelineBridgeAwsErrors severity=warning cicd_system_component=glue error_type=AccessDeniedException
default|alertname=PipelineCollectorDown severity=critical job=otel-collector instance=otel-collector:8888
deadmans-switch|alertname=Watchdog severity=none
EOF
  return $rc
}
if selected routes; then
  run routes routes
fi

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "==> FAILED: ${failed[*]}${passed[*]:+ (passed: ${passed[*]})}"
  exit 1
fi
echo "==> all passed: ${passed[*]}"
