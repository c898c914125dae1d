#!/usr/bin/env bash
# The demo: a local AWS emulator (moto) with sample Glue jobs and Step Functions state
# machines (some failing) in one account and Glue jobs in a second account reached through a
# role with an ExternalId (examples/demo.toml), the bridge polling both, every run shown as a tree.
# Traces and metrics also go over OTLP to whatever collector listens on
# OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4317); with --with-collector the demo starts
# one (rotel) and prints what it received.
set -euo pipefail
cd "$(dirname "$0")/.."

with_collector=0
[ "${1:-}" = "--with-collector" ] && with_collector=1

VENV="$(bash testing/setup-venv.sh)"
echo "== building the bridge"
cargo build --locked --quiet
BRIDGE=./target/debug/pipeline-otel-bridge

tmp="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "== starting moto and seeding sample pipelines (takes a few seconds)"
"$VENV/bin/python" testing/moto_harness.py --port-file "$tmp/moto.port" --seed demo --seed-wait \
  --seed-summary "$tmp/seed.json" >"$tmp/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do [ -s "$tmp/moto.port" ] && break; sleep 0.1; done
[ -s "$tmp/moto.port" ] || { echo "moto did not start:"; cat "$tmp/moto.log"; exit 1; }

export AWS_ENDPOINT_URL="http://127.0.0.1:$(cat "$tmp/moto.port")"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo
export AWS_EC2_METADATA_DISABLED=true

if [ "$with_collector" = 1 ]; then
  rotel="$(ls "$VENV"/lib/python3*/site-packages/rotel/rotel-agent | head -n1)"
  grpc_port="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  "$rotel" start --otlp-grpc-endpoint "127.0.0.1:$grpc_port" --otlp-http-endpoint 127.0.0.1:0 \
    --exporter blackhole --debug-log traces --debug-log metrics --debug-log-verbosity detailed >"$tmp/collector.log" 2>&1 &
  pids+=($!)
  export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$grpc_port"
  sleep 1
fi

echo
echo "== pipeline-otel-bridge check"
"$BRIDGE" check --config examples/demo.toml
echo
echo "== pipeline-otel-bridge run --once --print   (one poll cycle: every finished run, as a tree)"
exported=1
if ! "$BRIDGE" run --once --print --config examples/demo.toml --state "$tmp/state"; then
  exported=0
  echo
  echo "(No OTLP collector acknowledged at ${OTEL_EXPORTER_OTLP_ENDPOINT:-http://localhost:4317}: the runs stay"
  echo " pending in the checkpoint and are sent by the first cycle that reaches one. Start a collector"
  echo " there, or run 'scripts/demo.sh --with-collector'.)"
  echo
  echo "== pipeline-otel-bridge runs --since 24h   (the same runs as trees, read straight from AWS; exports nothing)"
  "$BRIDGE" runs --since 24h --config examples/demo.toml
fi

running="$("$VENV/bin/python" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(next(r["JobRunId"] for j in s["glue"] for r in j["Runs"] if r["JobRunState"]=="RUNNING"))' "$tmp/seed.json")"
echo
if [ "$exported" = 1 ]; then
  echo "== the running Glue run (clickstream-hourly $running) now fails; the next cycle exports only it"
else
  echo "== the running Glue run (clickstream-hourly $running) now fails; the next cycle tries it and the pending runs again"
fi
"$VENV/bin/python" - "$AWS_ENDPOINT_URL" "$running" <<'PY'
import json, sys, time, urllib.request
body = {"JobName": "clickstream-hourly", "RunId": sys.argv[2], "fields": {
    "JobRunState": "FAILED", "CompletedOn": time.time() - 0.25,
    "ErrorMessage": "AnalysisException: Path does not exist: s3://demo-clickstream/raw/2026/11/22/03"}}
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/_inject/glue-job-run",
    data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}))
PY
"$BRIDGE" run --once --print --config examples/demo.toml --state "$tmp/state" || true

if [ "$with_collector" = 1 ]; then
  sleep 1
  echo
  echo "== what the collector received"
  echo "spans: $(grep -c '^Span #' "$tmp/collector.log" || true), metric data points: $(grep -c 'DataPoints #' "$tmp/collector.log" || true)"
  grep -E '^ +Name +: RUN ' "$tmp/collector.log" | sort | uniq -c || true
fi
echo
echo "Trace ids are derived from run ids:  $BRIDGE trace-id --kind glue-job --account 123456789012 --region us-east-1 --pipeline clickstream-hourly --run-id $running"
