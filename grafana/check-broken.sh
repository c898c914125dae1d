#!/usr/bin/env bash
# Proves that grafana/check.sh catches what it claims to: runs the checker on broken copies of the
# dashboards and exits 0 only if every broken copy fails with the expected check, and the
# unbroken copy passes.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Same setup as check.sh (promtool, node_modules), checking the real files once on the way.
"$here/check.sh" >/dev/null || { echo "check-broken: grafana/check.sh fails on the real files; fix that first" >&2; exit 1; }

# copy NAME: a fresh copy of dashboards/ and provisioning/ under $tmp/NAME
copy() {
  rm -rf "${tmp:?}/$1"
  mkdir -p "$tmp/$1"
  cp -r "$here/dashboards" "$here/provisioning" "$tmp/$1/"
}

# mutate NAME FILE JS: runs JS with `d` = the parsed dashboard FILE of copy NAME, then writes it back
mutate() {
  node -e '
    const fs = require("fs");
    const [file, code] = process.argv.slice(1);
    const d = JSON.parse(fs.readFileSync(file, "utf8"));
    const panels = (d.panels || []).flatMap((p) => [p, ...(p.panels || [])]);
    const promTargets = panels.flatMap((p) => (p.targets || []).filter((t) => typeof t.expr === "string"));
    new Function("d", "panels", "promTargets", code)(d, panels, promTargets);
    fs.writeFileSync(file, JSON.stringify(d, null, 2));
  ' "$tmp/$1/dashboards/$2" "$3"
}

# run NAME: the checker on copy NAME; output in $tmp/NAME.out, returns the checker's status
run() {
  node "$here/check/check.mjs" --dashboards "$tmp/$1/dashboards" \
    --datasources "$tmp/$1/provisioning/datasources/datasources.yml" >"$tmp/$1.out" 2>&1
}

caught=0
expect() { # expect NAME TAG: the run of copy NAME must fail with a [TAG] problem
  if run "$1"; then
    echo "NOT CAUGHT  $1: the checker passed"
  elif grep -q "^\[$2\]" "$tmp/$1.out"; then
    echo "caught      $1: $(grep -m1 "^\[$2\]" "$tmp/$1.out" | cut -c1-200)"
    caught=$((caught + 1))
  else
    echo "NOT CAUGHT  $1: the checker failed, but not with [$2]:"
    sed 's/^/    /' "$tmp/$1.out"
  fi
}

copy control
if run control; then
  echo "ok          control: the unbroken copy passes"
else
  echo "FAILED      control: the unbroken copy fails:"; sed 's/^/    /' "$tmp/control.out"; exit 1
fi

copy wrong-type
mutate wrong-type pipelines-overview.json 'panels[0].gridPos.h = "4";'
expect wrong-type types

copy unknown-datasource
mutate unknown-datasource pipeline-detail.json 'const p = panels.find((p) => p.datasource && p.datasource.uid === "prometheus"); p.datasource.uid = "prometheus-old";'
expect unknown-datasource datasource

copy promql-syntax
mutate promql-syntax bridge-health.json 'promTargets[0].expr = "sum(rate(" + promTargets[0].expr;'
expect promql-syntax promql

copy undocumented-metric
mutate undocumented-metric bridge-health.json 'const t = promTargets.find((t) => t.expr.includes("pipeline_bridge_runs_pending")); t.expr = t.expr.replace("pipeline_bridge_runs_pending", "pipeline_bridge_runs_pending_total");'
expect undocumented-metric metrics

echo "check-broken: $caught of 4 broken copies caught"
[ "$caught" -eq 4 ]
