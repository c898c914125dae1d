#!/usr/bin/env bash
# Memory and AWS calls during a long collector outage.
#
#   bench/outage.sh [SECONDS] [RUNS_PER_JOB]      (defaults: 120 s, 1000 runs on each of 2 jobs)
#
# Starts the moto harness with the "test" seed plus a backfill of finished Glue runs, runs the
# bridge daemon (poll_interval 2s) against a collector that is not there, samples its resident
# memory every 2 s, and prints the cycles, the pending runs, the AWS calls of the last cycle and
# min/max RSS. Every finished run stays pending the whole time (nothing is lost, nothing is
# acknowledged); memory must stay flat, not grow with the number of failed cycles.
# Uses target/release/pipeline-otel-bridge when it exists, else builds and uses the debug one.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-120}"
PER_JOB="${2:-1000}"
VENV="$(bash testing/setup-venv.sh)"
BIN=target/release/pipeline-otel-bridge
if [ ! -x "$BIN" ]; then cargo build -q; BIN=target/debug/pipeline-otel-bridge; fi
WORK="$(mktemp -d)"
cleanup() { kill "${BRIDGE:-}" "${MOTO:-}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

"$VENV/bin/python" testing/moto_harness.py --port-file "$WORK/port" --seed test --seed-wait \
  --seed-summary "$WORK/seed.json" >/dev/null 2>&1 &
MOTO=$!
for _ in $(seq 1 300); do [ -s "$WORK/port" ] && break; sleep 0.2; done
EP="http://127.0.0.1:$(cat "$WORK/port")"
"$VENV/bin/python" - "$EP" "$PER_JOB" <<'PY'
import json, sys, time, urllib.request
ep, per = sys.argv[1], int(sys.argv[2])
now = time.time()
for job in ["test-etl", "test-batch"]:
    for i in range(per):
        s = now - 3000 + i * 2900.0 / per + 0.123
        body = {"JobName": job, "fields": {"JobRunState": "SUCCEEDED", "StartedOn": s,
                "CompletedOn": s + 3, "LastModifiedOn": s + 3}}
        urllib.request.urlopen(urllib.request.Request(ep + "/_inject/glue-job-run-create",
            data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})).read()
PY
DEAD="http://127.0.0.1:$("$VENV/bin/python" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')"
printf 'poll_interval = "2s"\n' > "$WORK/bridge.toml"
AWS_ENDPOINT_URL="$EP" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_EC2_METADATA_DISABLED=true OTEL_EXPORTER_OTLP_ENDPOINT="$DEAD" OTEL_EXPORTER_OTLP_TIMEOUT=1000 \
  "$BIN" run --config "$WORK/bridge.toml" --state "$WORK/state" 2>"$WORK/bridge.log" &
BRIDGE=$!
MIN=0; MAX=0; FIRST=0; TRACE=""
END=$((SECONDS + SECS))
while [ $SECONDS -lt $END ]; do
  sleep 2
  RSS=$(awk '/VmRSS/ {print $2}' "/proc/$BRIDGE/status" 2>/dev/null || echo 0)
  [ "$RSS" = 0 ] && { echo "bridge exited"; cat "$WORK/bridge.log"; exit 1; }
  [ "$FIRST" = 0 ] && FIRST=$RSS
  [ "$MIN" = 0 ] || [ "$RSS" -lt "$MIN" ] && MIN=$RSS
  [ "$RSS" -gt "$MAX" ] && MAX=$RSS
  TRACE="$TRACE $RSS"
done
LAST=$(awk '/VmRSS/ {print $2}' "/proc/$BRIDGE/status")
CYCLES=$(grep -c "poll cycle done" "$WORK/bridge.log" || true)
echo "binary:            $BIN"
echo "outage:            ${SECS}s, $CYCLES cycles, $((2 * PER_JOB + 10)) finished runs"
echo "last cycle:        $(grep "poll cycle done" "$WORK/bridge.log" | tail -1 | sed 's/.*poll cycle done //')"
echo "RSS (KiB):         first $FIRST  min $MIN  max $MAX  last $LAST"
echo "RSS every 2 s:    $TRACE"
