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
# The checker runs below without check.sh: the same promtool (3.5, testing/install-backends.sh) first on PATH.
promtool="$(bash "$here/../testing/install-backends.sh" | sed -n 's/^PROMTOOL=//p')"
PATH="$(dirname "$promtool"):$PATH"
export PATH

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

# The owner join of the overview de-duplicated with max by (…, team, project) instead of topk.
copy owner-join-max
mutate owner-join-max pipelines-overview.json 'const t = promTargets.find((t) => t.expr.includes("group_left (team, project)")); t.expr = t.expr.replace(/topk by \(([^)]*)\) \(1, pipeline_bridge_pipeline_info/, "max by ($1, team, project) (pipeline_bridge_pipeline_info");'
expect owner-join-max joins

# The $team filter on the info series before the join (pipelines would come back through the fallback).
copy team-filter-before-join
mutate team-filter-before-join pipelines-overview.json 'const t = promTargets.find((t) => t.expr.includes("group_left (team, project)")); t.expr = t.expr.replace("(1, pipeline_bridge_pipeline_info{", "(1, pipeline_bridge_pipeline_info{team=~\"$team\", ");'
expect team-filter-before-join joins

# A division by a sum that may be 0.
copy unguarded-division
mutate unguarded-division pipeline-detail.json 'const p = panels.find((p) => p.title === "Success rate"); p.targets[0].expr = p.targets[0].expr.replace(/\n\s*> 0\n\)\s*$/, "\n)");'
expect unguarded-division division

# Bars from increase() over $__interval.
copy increase-interval
mutate increase-interval pipeline-detail.json 'const p = panels.find((p) => p.title === "Runs by result"); p.targets[0].expr = "sum by (cicd_pipeline_result) (increase(pipeline_bridge_pipeline_runs_total{cicd_pipeline_name=\"$pipeline\", pipeline_bridge_pipeline_kind=~\"$kind\", cloud_account_id=~\"$account\", cloud_region=~\"$region\"}[$__interval]))";'
expect increase-interval intervals

# A p95 of the run duration from the histogram buckets (reads the upper part of a bucket).
copy duration-quantile
mutate duration-quantile pipeline-detail.json 'const p = panels.find((p) => p.title === "Run duration vs SLA"); p.targets.push({ ...p.targets[0], refId: "P", expr: "histogram_quantile(0.95, sum by (le) (rate(cicd_pipeline_run_duration_seconds_bucket{cicd_pipeline_name=\"$pipeline\", pipeline_bridge_pipeline_kind=~\"$kind\", cloud_account_id=~\"$account\", cloud_region=~\"$region\"}[$__rate_interval])))" });'
expect duration-quantile quantiles

# A TraceQL query that does not filter on the account (two accounts with one pipeline name mix).
copy traces-any-account
mutate traces-any-account pipeline-detail.json 'const p = panels.find((p) => p.title === "Recent runs"); p.targets[0].query = p.targets[0].query.replace(/resource\.cloud\.account\.id = "\$account" && /, "");'
expect traces-any-account traces

# Failed runs selected as every result but success (cancellations included).
copy traces-not-success
mutate traces-not-success pipeline-detail.json 'const p = panels.find((p) => p.type === "table" && p.title === "Failed runs"); p.targets[0].query = p.targets[0].query.replace("kind = server && status = error", "span.cicd.pipeline.result != \"success\"");'
expect traces-not-success traces

# The run duration graph without exemplars.
copy no-exemplars
mutate no-exemplars pipeline-detail.json 'const p = panels.find((p) => p.title === "Run duration vs SLA"); delete p.targets[0].exemplar;'
expect no-exemplars exemplars

# Exemplars not linked to Tempo.
copy no-exemplar-link
sed -i '/exemplarTraceIdDestinations:/,/datasourceUid: tempo/d' "$tmp/no-exemplar-link/provisioning/datasources/datasources.yml"
expect no-exemplar-link exemplars

# "All" accounts on the detail dashboard (the last success of a fresh dev would hide a stale prod).
copy detail-all-accounts
mutate detail-all-accounts pipeline-detail.json 'const v = d.templating.list.find((v) => v.name === "account"); v.multi = true; v.includeAll = true; v.allValue = ".*";'
expect detail-all-accounts variables

# = with a variable other than a single-valued $pipeline (matches nothing for All / .*).
copy equals-variable
mutate equals-variable pipeline-detail.json 'const t = promTargets.find((t) => t.expr.includes("cloud_account_id=~\"$account\"")); t.expr = t.expr.split("cloud_account_id=~\"$account\"").join("cloud_account_id=\"$account\"");'
expect equals-variable filters

# A recording rule that prometheus/rules does not define.
copy unknown-recording-rule
mutate unknown-recording-rule pipelines-overview.json 'const t = promTargets.find((t) => t.expr.includes(":p95_24h")); t.expr = t.expr.split(":p95_24h").join(":p95_2h");'
expect unknown-recording-rule metrics

# A mean from increase() over the range (extrapolated, and blind to a series' first run).
copy increase-mean
mutate increase-mean pipeline-detail.json 'const p = panels.find((p) => p.title === "Mean duration"); const f = "{cicd_pipeline_name=\"$pipeline\", pipeline_bridge_pipeline_kind=~\"$kind\", cloud_account_id=~\"$account\", cloud_region=~\"$region\"}"; p.targets[0].expr = "sum(increase(cicd_pipeline_run_duration_seconds_sum" + f + "[$__range])) / (sum(increase(cicd_pipeline_run_duration_seconds_count" + f + "[$__range])) > 0)";'
expect increase-mean values

total=17
echo "check-broken: $caught of $total broken copies caught"
[ "$caught" -eq "$total" ]
