#!/usr/bin/env bash
# Validates the Prometheus rules, their unit tests and the Alertmanager configuration:
#
#   rules         promtool check rules --lint-fatal  rules/*.yml examples/*.yml
#   tests         promtool test rules    tests/*.yml
#   alertmanager  amtool check-config    alertmanager.yml
#   routes        amtool config routes test: example alerts reach the intended receivers
#
# Usage: prometheus/check.sh [--only CHECK[,CHECK...]] [DIR]
#   DIR defaults to the directory of this script (prometheus/); check-broken.sh passes a copy.
# Exits 0 when every selected check passed, 1 when one failed, 2 on a usage or setup error.
#
# promtool and amtool come from Debian's prometheus and prometheus-alertmanager packages
# (bookworm: Prometheus 2.42, Alertmanager 0.25); when missing they are installed with apt-get,
# as root or through sudo. The unit tests' expected values were computed for promtool 2.42.
set -uo pipefail

usage() { sed -n '2,15s/^# \{0,1\}//p' "$0"; }

only="rules,tests,alertmanager,routes"
while [ $# -gt 0 ]; do
  case "$1" in
    --only) [ $# -ge 2 ] || { usage >&2; exit 2; }; only="$2"; shift 2 ;;
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
  case "$c" in rules|tests|alertmanager|routes) ;; *) echo "check.sh: unknown check: $c" >&2; exit 2 ;; esac
done

# --- tools -----------------------------------------------------------------------------------
find_amtool() {
  if command -v amtool >/dev/null 2>&1; then command -v amtool
  elif [ -x /usr/bin/amtool ]; then echo /usr/bin/amtool
  else return 1
  fi
}
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "check.sh: need root or sudo to run: $*" >&2; return 1
  fi
}
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
find_amtool >/dev/null || missing+=(prometheus-alertmanager)
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]} (promtool/amtool missing)"
  command -v apt-get >/dev/null 2>&1 || { echo "check.sh: no apt-get; install promtool and amtool yourself" >&2; exit 2; }
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
     ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    echo "check.sh: installing ${missing[*]} failed" >&2
    exit 2
  fi
fi
promtool="$(command -v promtool)" || { echo "check.sh: promtool not found" >&2; exit 2; }
amtool="$(find_amtool)" || { echo "check.sh: amtool not found" >&2; exit 2; }
echo "==> $("$promtool" --version 2>&1 | head -n1)"
echo "==> $("$amtool" --version 2>&1 | head -n1)"
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
orders-oncall-email,data-eng-slack|alertname=PipelineRunFailed severity=critical team=data-eng project=orders
data-eng-slack|alertname=PipelineRunExceededSLA severity=warning team=data-eng project=orders
data-eng-slack|alertname=PipelineRunFailed severity=critical team=data-eng project=events
finance-email|alertname=PipelineNoRecentSuccess severity=critical team=finance project=ledger
finance-email|alertname=PipelineRunFailed severity=critical project=billing
analytics-msteams|alertname=PipelineGettingSlower severity=info team=analytics project=clickstream
default|alertname=PipelineRunFailed severity=critical
default|alertname=PipelineBridgeDown severity=critical
default|alertname=PipelineBridgeAwsErrors severity=warning cicd_system_component=glue error_type=AccessDeniedException
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
