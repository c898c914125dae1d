#!/usr/bin/env bash
# The first-start backfill of tests/backfill.rs with a release build: moto seeded with 5,000
# finished Glue runs (4 jobs, every fourth run failed with a 4 KiB error) and 500 Step
# Functions executions (one a Map over 5,100 items), then one `run --once` over gRPC to rotel,
# which refuses requests over 4 MiB. Prints requests, bytes per request, the cycle's wall time
# and the bridge's max RSS.
#
#   bench/backfill.sh                              # default otlp.max_request_bytes (3 MiB)
#   MAX_REQUEST_BYTES=67108864 bench/backfill.sh   # 64 MiB: one request per pipeline
#   GLUE=20000 SFN=1999 MAP_ITEMS=5100 bench/backfill.sh
set -euo pipefail
cd "$(dirname "$0")/.."

GLUE="${GLUE:-5000}" SFN="${SFN:-499}" MAP_ITEMS="${MAP_ITEMS:-5100}"
VENV="$(bash testing/setup-venv.sh)"
echo "== building the bridge (release)"
cargo build --release --locked --quiet
BRIDGE=./target/release/pipeline-otel-bridge

tmp="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$VENV/bin/python" testing/moto_harness.py --port-file "$tmp/moto.port" >"$tmp/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do [ -s "$tmp/moto.port" ] && break; sleep 0.1; done
[ -s "$tmp/moto.port" ] || { echo "moto did not start:"; cat "$tmp/moto.log"; exit 1; }
endpoint="http://127.0.0.1:$(cat "$tmp/moto.port")"

echo "== seeding $GLUE Glue runs, $SFN + 1 executions (Map over $MAP_ITEMS items)"
start=$(date +%s.%N)
"$VENV/bin/python" testing/seed_backfill.py --endpoint "$endpoint" --glue "$GLUE" --sfn "$SFN" \
  --map-items "$MAP_ITEMS" >"$tmp/seed.json"
echo "   seeded in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s"

rotel="$(ls "$VENV"/lib/python3*/site-packages/rotel/rotel-agent | head -n1)"
grpc_port="$(port)" http_port="$(port)"
"$rotel" start --otlp-grpc-endpoint "127.0.0.1:$grpc_port" --otlp-http-endpoint "127.0.0.1:$http_port" \
  --exporter blackhole >"$tmp/rotel.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 200); do (echo >"/dev/tcp/127.0.0.1/$grpc_port") 2>/dev/null && break; sleep 0.1; done

{
  printf 'lookback = "24h"\n[aws]\nread_timeout = "120s"\noperation_timeout = "180s"\n'
  printf '[otlp]\nendpoint = "http://127.0.0.1:%s"\n' "$grpc_port"
  [ -n "${MAX_REQUEST_BYTES:-}" ] && printf 'max_request_bytes = %s\n' "$MAX_REQUEST_BYTES"
} >"$tmp/bridge.toml"

echo "== one cycle: run --once"
status=0
env -u AWS_PROFILE -u OTEL_EXPORTER_OTLP_ENDPOINT -u OTEL_EXPORTER_OTLP_PROTOCOL \
  AWS_ENDPOINT_URL="$endpoint" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench \
  AWS_SECRET_ACCESS_KEY=bench AWS_EC2_METADATA_DISABLED=true \
  PIPELINE_BRIDGE_LOG="info,pipeline_otel_bridge::poller=debug" NO_COLOR=1 \
  /usr/bin/time -v "$BRIDGE" run --once --config "$tmp/bridge.toml" --state "$tmp/state" \
  2>"$tmp/bridge.log" || status=$?

grep -E 'trace export failed|poll cycle done' "$tmp/bridge.log" | cut -c1-400 || true
grep 'trace batch sent' "$tmp/bridge.log" \
  | sed -E 's/.* runs=([0-9]+) spans=([0-9]+) bytes=([0-9]+) took_ms=([0-9]+) ok=([a-z]+).*/\1 \2 \3 \4 \5/' \
  | awk -v limit=4194304 '
      { n++; runs += $1; spans += $2; b += $3; ms += $4; if ($3 > max) max = $3; if ($3 > limit) over++
        if ($5 != "true") { failed++; lost += $1 } }
      END { printf "requests: %d (refused or failed: %d, %d runs)  runs: %d  spans: %d\n", n, failed, lost, runs, spans
            printf "bytes per request: max %d  avg %d  total %d  over 4 MiB: %d\n", max, (n ? b / n : 0), b, over
            printf "export time (sum of request round trips): %.2fs\n", ms / 1000 }'
wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$tmp/bridge.log")
rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tmp/bridge.log")
echo "cycle wall time: $wall  bridge max RSS: ${rss} KiB"
echo "exit status: $status"
exit "$status"
