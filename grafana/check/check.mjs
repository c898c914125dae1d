#!/usr/bin/env node
// Checks the Grafana dashboards in grafana/dashboards against:
//   [types]       @grafana/schema's Dashboard type (each dashboard wrapped as a .ts file, `tsc --strict`)
//   [datasource]  datasource references: only the uids (and types) provisioned in datasources.yml
//   [variables]   every $variable used in a query is defined by the dashboard (or is a Grafana built-in)
//   [filters]     dashboards whose every query must filter by every template variable (S3 arrival
//                 queries: by all but $kind and $pipeline, which they have no label for)
//   [promql]      every PromQL expression (panels, variable queries, Tempo tracesToMetrics) parses:
//                 written as recording rules and checked with `promtool check rules`
//   [metrics]     every metric name in PromQL is listed in docs/prometheus-names.md
//   [labels]      every label name in PromQL (matchers, by/on/group_left, {{legend}}) is listed there too
//   [tempo]       Tempo targets use the TraceQL query model
//   [links]       data links: /d/<uid> points to one of the dashboards, Explore `panes` is valid JSON
//                 naming a provisioned datasource
//   [joins]       team/project come from the de-duplicating owner join of the alert rules
//                 (topk by (P) (1, pipeline_bridge_pipeline_info)), never from `max by (…, team, project)`,
//                 and the $team filter applies after it (not on the info selector)
//   [division]    every divisor is guarded against zero: `/ (… > 0)` or a number
//   [intervals]   no increase()/rate()/delta() over $__interval (bars need exact deltas)
//   [quantiles]   no histogram_quantile() over the run or step duration buckets (few runs: a bucket
//                 estimate; use exact means/longest runs or the recorded quantiles)
//   [traces]      TraceQL queries and Explore links to Tempo filter on the account, region and
//                 pipeline; failed runs are `status = error`, not `cicd.pipeline.result != "success"`
//   [exemplars]   the Prometheus datasource links exemplars (trace_id) to Tempo, and range queries over
//                 the run duration buckets ask for exemplars
//   [values]      the cases of values.yml: dashboard queries evaluated by `promtool test rules` on the
//                 synthetic series of values-series.mjs give the exact values listed there
//
// Usage: node check.mjs [--dashboards DIR] [--datasources FILE] [--names FILE] [--rules DIR] [--keep]
// Exit status: 0 when everything passed, 1 otherwise.

import { readFileSync, readdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import * as schema from '@grafana/schema';

const here = dirname(fileURLToPath(import.meta.url));
const args = parseArgs(process.argv.slice(2));
const dashboardsDir = resolve(args.dashboards ?? join(here, '..', 'dashboards'));
const datasourcesFile = resolve(args.datasources ?? join(here, '..', 'provisioning', 'datasources', 'datasources.yml'));
const namesFile = resolve(args.names ?? join(here, '..', '..', 'docs', 'prometheus-names.md'));
const rulesDir = resolve(args.rules ?? join(here, '..', '..', 'prometheus', 'rules'));

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--keep') out.keep = true;
    else if (a.startsWith('--') && i + 1 < argv.length) out[a.slice(2)] = argv[++i];
    else {
      console.error(`unknown argument: ${a}`);
      process.exit(2);
    }
  }
  return out;
}

// ---------------------------------------------------------------- results
const CHECKS = [
  'types', 'datasource', 'variables', 'filters', 'promql', 'metrics', 'labels', 'tempo', 'links',
  'joins', 'division', 'intervals', 'quantiles', 'traces', 'exemplars', 'values',
];
const failures = [];
const ran = new Set();
function fail(check, where, msg) {
  failures.push({ check, where, msg });
}

// ---------------------------------------------------------------- inputs
function loadDatasources() {
  const doc = YAML.parse(readFileSync(datasourcesFile, 'utf8'));
  const byUid = new Map();
  for (const ds of doc?.datasources ?? []) {
    if (!ds.uid) fail('datasource', basename(datasourcesFile), `datasource "${ds.name}" has no uid`);
    else if (byUid.has(ds.uid)) fail('datasource', basename(datasourcesFile), `uid "${ds.uid}" is provisioned twice`);
    else byUid.set(ds.uid, ds);
  }
  return byUid;
}

// Metric and label names from docs/prometheus-names.md: the first column of its table holds
// the series (`x_bucket` / `_sum` / `_count` expand to x_sum, x_count), the third column and the
// "Pipeline labels" paragraph hold the label names (values in parentheses are not labels).
function loadNames() {
  const text = readFileSync(namesFile, 'utf8');
  const metrics = new Set();
  const labels = new Set(['le']);
  const ticks = (s) => [...s.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
  const noParens = (s) => s.replace(/\([^)]*\)/g, '');
  const para = text.match(/Pipeline labels[^\n]*\n([\s\S]*?)\n\s*\n/);
  if (para) for (const l of ticks(noParens(para[1]))) labels.add(l);
  for (const line of text.split('\n')) {
    if (!line.startsWith('|')) continue;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    if (cells.length < 3 || !cells[0].includes('`')) continue;
    let base = null;
    for (const t of ticks(cells[0])) {
      if (t.startsWith('_') && base) metrics.add(base + t);
      else {
        metrics.add(t);
        base = t.replace(/_bucket$/, '');
      }
    }
    for (const l of ticks(noParens(cells[2]))) if (/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(l)) labels.add(l);
  }
  if (metrics.size === 0) fail('metrics', basename(namesFile), 'no metric names found in the table');
  // Added by Prometheus to every scraped target: `up` and the target labels (the bridge's own
  // /metrics is scraped as job "pipeline-otel-bridge").
  metrics.add('up');
  labels.add('job');
  labels.add('instance');
  return { metrics, labels, records: loadRecords() };
}

// Recording rules of prometheus/rules/*.yml: dashboards may use them (their names contain ':').
function loadRecords() {
  const records = new Set();
  let files = [];
  try {
    files = readdirSync(rulesDir).filter((f) => /\.ya?ml$/.test(f));
  } catch (e) {
    fail('metrics', rulesDir, `cannot read the recording rules: ${e.message}`);
  }
  for (const f of files) {
    const doc = YAML.parse(readFileSync(join(rulesDir, f), 'utf8'));
    for (const g of doc?.groups ?? []) for (const r of g.rules ?? []) if (r.record) records.add(r.record);
  }
  return records;
}

// ---------------------------------------------------------------- dashboard walking
function allPanels(d) {
  const out = [];
  const visit = (p, path) => {
    out.push({ panel: p, path });
    (p.panels ?? []).forEach((c, i) => visit(c, `${path}.panels[${i}]`));
  };
  (d.panels ?? []).forEach((p, i) => visit(p, `panels[${i}]`));
  return out;
}

function panelName(p, path) {
  return `${path} "${p.title ?? p.type}"`;
}

// ---------------------------------------------------------------- [types]
// A dashboard becomes `export const d: Dashboard = {...};`. @grafana/schema declares some fields
// as TypeScript string enums (thresholds.mode, color.mode, value mappings) to which a JSON string
// literal is not assignable, so a valid value there is written as the enum member
// (ThresholdsMode.Absolute); any other value stays a string literal and fails the check.
const ENUM_FIELDS = [
  { suffix: ['thresholds', 'mode'], enumName: 'ThresholdsMode' },
  { suffix: ['color', 'mode'], enumName: 'FieldColorModeId' },
  { suffix: ['mappings', '#', 'type'], enumName: 'MappingType' },
  { suffix: ['mappings', '#', 'options', 'match'], enumName: 'SpecialValueMatch' },
];

function enumFor(path, value) {
  // Only fieldConfig.defaults of a panel is typed this way (override values are `unknown`).
  const k = path.lastIndexOf('defaults');
  if (k < 1 || path[k - 1] !== 'fieldConfig') return null;
  const rest = path.slice(k + 1).map((p) => (typeof p === 'number' ? '#' : p));
  for (const f of ENUM_FIELDS) {
    if (rest.length === f.suffix.length && rest.every((p, i) => p === f.suffix[i])) {
      const e = schema[f.enumName];
      const member = Object.keys(e).find((m) => e[m] === value);
      return member ? `${f.enumName}.${member}` : JSON.stringify(value);
    }
  }
  return null;
}

function toTs(value) {
  const lines = []; // { text, path }
  const fmtPath = (path) =>
    path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('') || '(dashboard)';
  const emit = (v, path, ind, head, tail) => {
    const pad = '  '.repeat(ind);
    if (Array.isArray(v)) {
      lines.push({ text: `${pad}${head}[`, path: fmtPath(path) });
      v.forEach((x, i) => emit(x, [...path, i], ind + 1, '', i < v.length - 1 ? ',' : ''));
      lines.push({ text: `${pad}]${tail}`, path: fmtPath(path) });
    } else if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v);
      lines.push({ text: `${pad}${head}{`, path: fmtPath(path) });
      keys.forEach((k, i) => emit(v[k], [...path, k], ind + 1, `${JSON.stringify(k)}: `, i < keys.length - 1 ? ',' : ''));
      lines.push({ text: `${pad}}${tail}`, path: fmtPath(path) });
    } else {
      const lit = (typeof v === 'string' && enumFor(path, v)) || JSON.stringify(v);
      lines.push({ text: `${pad}${head}${lit}${tail}`, path: fmtPath(path) });
    }
  };
  emit(value, [], 0, 'export const d: Dashboard = ', ';');
  const header = [
    "import type { Dashboard } from '@grafana/schema';",
    `import { ${ENUM_FIELDS.map((f) => f.enumName).join(', ')} } from '@grafana/schema';`,
    `void [${ENUM_FIELDS.map((f) => f.enumName).join(', ')}];`,
  ];
  return { source: [...header, ...lines.map((l) => l.text)].join('\n') + '\n', paths: [null, null, null, ...lines.map((l) => l.path)] };
}

function checkTypes(dashboards) {
  ran.add('types');
  const dir = mkdtempSync(join(here, '.gen-'));
  try {
    const files = [];
    const pathsByFile = new Map();
    for (const { file, json } of dashboards) {
      const ts = join(dir, basename(file).replace(/\.json$/, '.ts'));
      const { source, paths } = toTs(json);
      writeFileSync(ts, source);
      files.push(ts);
      pathsByFile.set(basename(ts), { file, paths });
    }
    const r = spawnSync(
      'npx',
      ['--no-install', 'tsc', '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', ...files],
      { cwd: here, encoding: 'utf8' },
    );
    if (r.error) {
      fail('types', 'tsc', `could not run tsc: ${r.error.message}`);
      return;
    }
    const out = `${r.stdout}`.trim();
    if (r.status !== 0) {
      let matched = 0;
      // tsc prints `path(line,col): error TSnnnn: message` (continuation lines are indented).
      for (const m of out.matchAll(/^(.*?)\((\d+),(\d+)\): error (TS\d+): ([^\n]*(?:\n {2,}[^\n]*)*)/gm)) {
        const info = pathsByFile.get(basename(m[1]));
        const path = info?.paths[Number(m[2]) - 1] ?? `line ${m[2]}`;
        fail('types', `${info ? basename(info.file) : m[1]}: ${path}`, `${m[4]}: ${m[5].replace(/\s*\n\s*/g, ' ')}`);
        matched++;
      }
      if (!matched) fail('types', 'tsc', `exit ${r.status}: ${out || r.stderr.trim()}`);
    }
  } finally {
    if (!args.keep) rmSync(dir, { recursive: true, force: true });
    else console.log(`kept generated TypeScript in ${dir}`);
  }
}

// ---------------------------------------------------------------- [datasource]
function checkDatasources(file, d, provisioned) {
  ran.add('datasource');
  const name = basename(file);
  const check = (ref, where) => {
    if (ref === null || ref === undefined) return;
    if (typeof ref === 'string') {
      if (!provisioned.has(ref)) fail('datasource', `${name}: ${where}`, `datasource "${ref}" is not a provisioned uid (${[...provisioned.keys()].join(', ')})`);
      return;
    }
    if (typeof ref !== 'object') return fail('datasource', `${name}: ${where}`, `datasource is a ${typeof ref}`);
    if (!ref.uid) return fail('datasource', `${name}: ${where}`, `datasource ${JSON.stringify(ref)} has no uid`);
    const ds = provisioned.get(ref.uid);
    if (!ds) fail('datasource', `${name}: ${where}`, `unknown datasource uid "${ref.uid}" (provisioned: ${[...provisioned.keys()].join(', ')})`);
    else if (ref.type && ref.type !== ds.type) fail('datasource', `${name}: ${where}`, `datasource "${ref.uid}" has type "${ds.type}", not "${ref.type}"`);
  };
  const walk = (v, path) => {
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${path}[${i}]`));
    if (v === null || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v)) {
      const p = path ? `${path}.${k}` : k;
      // Panel options are plugin-specific (the alert list's `datasource` option is a name filter).
      if (k === 'options' && path.match(/panels\[\d+\]$/)) continue;
      if (k === 'datasource') check(x, p);
      else if (k === 'datasourceUid') check(x, p);
      else walk(x, p);
    }
  };
  walk(d, '');
  // Every panel that queries must say which datasource (no implicit default).
  for (const { panel, path } of allPanels(d)) {
    for (const [i, t] of (panel.targets ?? []).entries()) {
      if (!t.datasource && !panel.datasource) fail('datasource', `${name}: ${path}.targets[${i}]`, 'query without a datasource reference (panel or target)');
    }
  }
}

// ---------------------------------------------------------------- collecting queries
function collectQueries(file, d, provisioned) {
  const name = basename(file);
  const promql = []; // { where, expr, legend }
  const traceql = []; // { where, target }
  const typeOf = (ref) => (ref && typeof ref === 'object' ? provisioned.get(ref.uid)?.type ?? ref.type : typeof ref === 'string' ? provisioned.get(ref)?.type : undefined);
  for (const { panel, path } of allPanels(d)) {
    for (const [i, t] of (panel.targets ?? []).entries()) {
      const type = typeOf(t.datasource ?? panel.datasource);
      const where = `${name}: ${panelName(panel, path)} target ${t.refId ?? i}`;
      if (type === 'prometheus') promql.push({ where, expr: t.expr, legend: t.legendFormat, target: t, panel: true });
      else if (type === 'tempo') traceql.push({ where, target: t });
    }
  }
  for (const [i, v] of (d.templating?.list ?? []).entries()) {
    if (v.type !== 'query' || typeOf(v.datasource) !== 'prometheus') continue;
    const where = `${name}: templating.list[${i}] "$${v.name}"`;
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    if (typeof q !== 'string' || !q.trim()) {
      fail('promql', where, 'variable query is empty');
      continue;
    }
    let m;
    if ((m = q.match(/^\s*label_values\(\s*(.*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/s))) {
      promql.push({ where, expr: m[1], labelsUsed: [m[2]] });
    } else if ((m = q.match(/^\s*label_values\(\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/))) {
      promql.push({ where, expr: null, labelsUsed: [m[1]] });
    } else if ((m = q.match(/^\s*query_result\((.*)\)\s*$/s))) {
      promql.push({ where, expr: m[1] });
    } else {
      fail('promql', where, `unsupported variable query (use label_values(...) or query_result(...)): ${q}`);
    }
  }
  return { promql, traceql };
}

// Tempo's tracesToMetrics queries in datasources.yml ($$ is a literal $ in provisioning files).
function collectProvisioningQueries(provisioned) {
  const out = [];
  for (const ds of provisioned.values()) {
    const t2m = ds.jsonData?.tracesToMetrics;
    if (!t2m) continue;
    const where = `${basename(datasourcesFile)}: ${ds.name} tracesToMetrics`;
    ran.add('datasource');
    if (t2m.datasourceUid && !provisioned.has(t2m.datasourceUid)) fail('datasource', where, `unknown datasourceUid "${t2m.datasourceUid}"`);
    const tagLabels = (t2m.tags ?? []).map((t) => t.value || t.key);
    for (const [i, q] of (t2m.queries ?? []).entries()) {
      const expr = String(q.query ?? '').replace(/\$\$/g, '$');
      if (!expr.includes('$__tags')) fail('promql', `${where} queries[${i}] "${q.name}"`, 'query does not use $__tags');
      out.push({
        where: `${where} queries[${i}] "${q.name}"`,
        expr: expr.replace(/\$\{__tags\}|\$__tags(?!\w)/g, tagLabels.map((l) => `${l}=".*"`).join(', ')),
        labelsUsed: tagLabels,
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------- [variables] and substitution
const BUILTIN_VARS = new Set(['__rate_interval', '__interval', '__interval_ms', '__range', '__range_s', '__range_ms', '__from', '__to', '__dashboard', '__org', '__user', '__name', '__timezone']);
const VAR_RE = /\$\{(\w+)(?:[:.][^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]/g;

function variablesIn(s) {
  return [...(s ?? '').matchAll(VAR_RE)].map((m) => m[1] ?? m[2] ?? m[3]);
}

function substitute(expr) {
  return expr
    .replace(/\$\{__(rate_interval|interval|range)\}|\$__(rate_interval|interval|range)(?!\w)/g, '5m')
    .replace(/\$\{__range_s\}|\$__range_s(?!\w)/g, '300')
    .replace(/\$\{__(interval_ms|range_ms)\}|\$__(interval_ms|range_ms)(?!\w)/g, '300000')
    .replace(VAR_RE, '.*');
}

function checkVariables(d, queries, name) {
  ran.add('variables');
  const defined = new Set((d.templating?.list ?? []).map((v) => v.name));
  const check = (s, where) => {
    for (const v of variablesIn(s)) {
      if (!defined.has(v) && !BUILTIN_VARS.has(v)) fail('variables', where, `$${v} is not a variable of this dashboard (${[...defined].join(', ') || 'none'})`);
    }
  };
  for (const q of queries.promql) check(q.expr, q.where);
  for (const q of queries.traceql) check(q.target.query, q.where);
  // Every variable's own query may only use variables too.
  for (const v of d.templating?.list ?? []) check(typeof v.query === 'string' ? v.query : v.query?.query, `${name}: variable $${v.name}`);
}

// Variables of these dashboards that must hold exactly one value (no multi-value, no "All"):
// per-pipeline values such as the last success must not be mixed across accounts or regions.
const REQUIRED_SINGLE = {
  'pipeline-detail': ['account', 'region', 'kind', 'pipeline'],
};

function checkSingleValued(d, name) {
  for (const v of REQUIRED_SINGLE[d.uid] ?? []) {
    const def = (d.templating?.list ?? []).find((x) => x.name === v);
    if (!def) fail('variables', `${name}: variable $${v}`, 'is missing');
    else if (def.multi || def.includeAll) fail('variables', `${name}: variable $${v}`, 'must be single-valued (multi: false, includeAll: false): a value there must be one');
  }
}

// Dashboards whose every Prometheus panel query must filter by every one of these variables.
const REQUIRED_FILTERS = {
  'pipelines-overview': ['account', 'region', 'team', 'kind', 'pipeline'],
  'pipeline-detail': ['account', 'region', 'kind', 'pipeline'],
};

function checkFilters(d, queries) {
  const required = REQUIRED_FILTERS[d.uid];
  if (!required) return;
  ran.add('filters');
  for (const q of queries.promql) {
    if (q.where.includes('templating.list')) continue;
    const used = new Set(variablesIn(q.expr));
    // S3 arrival series (pipeline_bridge_arrival_*) belong to no pipeline: no kind, no name.
    const arrivalsOnly = /\bpipeline_bridge_arrival_/.test(q.expr) && !/\b(cicd_|pipeline_bridge_(pipeline|deadline|glue|task)_)/.test(q.expr);
    const missing = required.filter((v) => !used.has(v) && !(arrivalsOnly && (v === 'kind' || v === 'pipeline')));
    if (missing.length) fail('filters', q.where, `does not filter by $${missing.join(', $')}`);
  }
  for (const q of queries.traceql) {
    if (!variablesIn(q.target.query).includes('pipeline')) fail('filters', q.where, 'TraceQL query does not filter by $pipeline');
  }
}

// `label = "$var"` (or !=) matches nothing when $var is a regex ("All" is .*; tests/ops.rs runs
// every panel query with the variables replaced by .*): only a single-valued $pipeline may be
// used with =; every other variable needs =~ / !~.
function checkEqualsMatchers(d, queries) {
  ran.add('filters');
  const vars = Object.fromEntries((d.templating?.list ?? []).map((v) => [v.name, v]));
  for (const q of queries.promql) {
    if (!q.panel || typeof q.expr !== 'string') continue;
    for (const m of q.expr.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(!=|=)(?![=~])\s*"([^"]*)"/g)) {
      for (const v of variablesIn(m[3])) {
        const def = vars[v];
        if (v === 'pipeline' && def && !def.multi && !def.includeAll) continue;
        fail('filters', q.where, `${m[1]}${m[2]}"${m[3]}": use =~ (or !~) with $${v}: it may be a regex (All is .*) and matches nothing with ${m[2]}`);
      }
    }
  }
}

// ---------------------------------------------------------------- [promql] via promtool
function checkPromtool(all) {
  ran.add('promql');
  const withExpr = all.filter((q) => typeof q.expr === 'string');
  for (const q of all) if (q.expr !== null && typeof q.expr !== 'string') fail('promql', q.where, 'Prometheus target has no expr');
  if (!withExpr.length) return;
  const rules = withExpr.map((q, i) => ({ record: `dash:q${i}`, expr: substitute(q.expr) }));
  const dir = mkdtempSync(join(tmpdir(), 'grafana-promql-'));
  const file = join(dir, 'dashboards.rules.yml');
  try {
    writeFileSync(file, YAML.stringify({ groups: [{ name: 'dash', rules }] }, { lineWidth: 0 }));
    const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    if (r.error) {
      fail('promql', 'promtool', `could not run promtool (${r.error.message}); install Debian's prometheus package`);
      return;
    }
    if (r.status !== 0) {
      const out = `${r.stdout}\n${r.stderr}`;
      let matched = 0;
      for (const m of out.matchAll(/"dash:q(\d+)": ([^\n]*)/g)) {
        const q = withExpr[Number(m[1])];
        fail('promql', q.where, `${m[2]}\n      expr: ${rules[Number(m[1])].expr.replace(/\n/g, ' ')}`);
        matched++;
      }
      if (!matched) fail('promql', 'promtool', out.trim());
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- [metrics] and [labels]
const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan', 'atan2', 'start', 'end']);
const FUNCTIONS = new Set(
  `sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk limit_ratio
   abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp clamp_max clamp_min
   cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month deg delta deriv exp floor
   histogram_avg histogram_count histogram_fraction histogram_quantile histogram_stddev histogram_stdvar histogram_sum
   double_exponential_smoothing holt_winters hour idelta increase info irate label_join label_replace last_over_time ln log10 log2
   mad_over_time max_over_time min_over_time minute month pi predict_linear present_over_time quantile_over_time rad rate
   resets round scalar sgn sin sinh sort sort_desc sort_by_label sort_by_label_desc sqrt stddev_over_time stdvar_over_time
   sum_over_time tan tanh time timestamp vector year`.split(/\s+/),
);

function stripStrings(s) {
  return s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
}

// Returns { metrics: [...], labels: [...] } used by one PromQL expression (after substitution).
export function namesIn(expr) {
  const labels = [];
  let s = stripStrings(expr);
  // label matchers: {name op "value", ...}
  s = s.replace(/\{([^}]*)\}/g, (_, body) => {
    for (const m of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)) labels.push(m[1]);
    return '{}';
  });
  // grouping and matching clauses
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, _kw, list) => {
    for (const l of list.split(',').map((x) => x.trim()).filter(Boolean)) labels.push(l);
    return ' ';
  });
  // range and subquery selectors, offsets
  s = s.replace(/\[[^\]]*\]/g, '[]').replace(/\boffset\s+-?[0-9a-z]+/g, ' ');
  const metrics = [];
  for (const m of s.matchAll(/(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?=(\s*)([^\s]?))/g)) {
    const [, id, , next] = m;
    if (next === '(') continue; // a function call
    if (KEYWORDS.has(id.toLowerCase()) || FUNCTIONS.has(id)) continue;
    if (/^[0-9]/.test(id)) continue;
    metrics.push(id);
  }
  return { metrics, labels };
}

function checkNames(all, names) {
  ran.add('metrics');
  ran.add('labels');
  for (const q of all) {
    const { metrics, labels } = typeof q.expr === 'string' ? namesIn(substitute(q.expr)) : { metrics: [], labels: [] };
    const madeUp = new Set(labelsMadeUp(q.expr ?? '')); // labels a query creates with label_replace / label_join
    for (const m of new Set(metrics)) {
      if (m.includes(':')) {
        if (!names.records.has(m)) fail('metrics', q.where, `recording rule "${m}" is not defined in ${rulesDir}`);
      } else if (!names.metrics.has(m)) fail('metrics', q.where, `metric "${m}" is not listed in ${basename(namesFile)}`);
    }
    const legendLabels = [...(q.legend ?? '').matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)].map((m) => m[1]);
    for (const l of new Set([...labels, ...legendLabels, ...(q.labelsUsed ?? [])])) {
      if (!names.labels.has(l) && !madeUp.has(l) && l !== '__name__') fail('labels', q.where, `label "${l}" is not listed in ${basename(namesFile)}`);
    }
  }
}


// ---------------------------------------------------------------- expression structure helpers
// The arguments of the call whose "(" is at s[open] (strings and nested brackets skipped).
function callArgs(s, open) {
  const out = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open; i < s.length; i++) {
    const ch = s[i];
    if (ch === '"' || ch === "'" || ch === '`') {
      const quote = ch;
      for (i++; i < s.length && s[i] !== quote; i++) if (s[i] === '\\' && quote !== '`') i++;
      continue;
    }
    if (ch === '(' || ch === '[' || ch === '{') depth++;
    else if (ch === ')' || ch === ']' || ch === '}') {
      depth--;
      if (depth === 0) {
        out.push(s.slice(start, i));
        return { args: out, end: i };
      }
    } else if (ch === ',' && depth === 1) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  return { args: out, end: s.length };
}

function calls(expr, fnRe) {
  const out = [];
  for (const m of expr.matchAll(new RegExp(`\\b(${fnRe})\\s*\\(`, 'g'))) {
    out.push({ fn: m[1], ...callArgs(expr, m.index + m[0].length - 1) });
  }
  return out;
}

// Labels an expression creates with label_replace(v, "dst", …) / label_join(v, "dst", …).
function labelsMadeUp(expr) {
  const out = [];
  for (const c of calls(expr, 'label_replace|label_join')) {
    const dst = c.args[1]?.trim().match(/^"([^"]+)"$/);
    if (dst) out.push(dst[1]);
  }
  return out;
}

// ---------------------------------------------------------------- [joins]
const P_LABELS = 'cicd_pipeline_name,\\s*pipeline_bridge_pipeline_kind,\\s*cloud_account_id,\\s*cloud_region';
const TOPK_INFO = new RegExp(`topk\\s+by\\s*\\(\\s*${P_LABELS}\\s*\\)\\s*\\(\\s*1\\s*,\\s*pipeline_bridge_pipeline_info\\b`);
function checkJoins(all) {
  ran.add('joins');
  for (const q of all) {
    if (typeof q.expr !== 'string') continue;
    const e = stripStrings(q.expr);
    for (const m of e.matchAll(/\b(max|min|sum|avg|group|count)\s+by\s*\(([^)]*)\)\s*\(\s*pipeline_bridge_pipeline_info\b/g)) {
      if (/\b(team|project)\b/.test(m[2])) {
        fail('joins', q.where, `${m[1]} by (${m[2].trim()}) (pipeline_bridge_pipeline_info): fails with "many-to-many matching" while an old info series (team change) is not stale yet; join with topk by (P) (1, pipeline_bridge_pipeline_info) as the alert rules do`);
      }
    }
    const ownerJoin = [...e.matchAll(/group_left\s*\(([^)]*)\)/g)].some((m) => /\b(team|project)\b/.test(m[1]));
    if (!ownerJoin) continue;
    if (!TOPK_INFO.test(e)) fail('joins', q.where, 'group_left (team, project) without the de-duplicating topk by (P) (1, pipeline_bridge_pipeline_info) of the alert rules');
    if (/pipeline_bridge_pipeline_info\s*\{[^}]*\bteam\s*(=~|=|!=|!~)/.test(q.expr)) {
      fail('joins', q.where, 'filters pipeline_bridge_pipeline_info by team before the owner join: pipelines whose info does not match would come back through the fallback without a team; filter after the join (label_replace(…, "team", "$team") unless …)');
    }
  }
}

// ---------------------------------------------------------------- [division]
// Every "/" divides by a number or by a parenthesised expression that ends in "> 0".
function checkDivision(all) {
  ran.add('division');
  for (const q of all) {
    if (typeof q.expr !== 'string') continue;
    const e = stripStrings(substitute(q.expr));
    for (let i = e.indexOf('/'); i >= 0; i = e.indexOf('/', i + 1)) {
      let rest = e.slice(i + 1);
      let skipped;
      do {
        skipped = false;
        const m = rest.match(/^\s*(on|ignoring|group_left|group_right)\s*/);
        if (m) {
          rest = rest.slice(m[0].length);
          if (rest.startsWith('(')) rest = rest.slice(callArgs(rest, 0).end + 1);
          skipped = true;
        }
      } while (skipped);
      rest = rest.trimStart();
      if (/^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?\b/.test(rest)) continue;
      if (rest.startsWith('(')) {
        const { args } = callArgs(rest, 0);
        if (/>\s*0\s*$/.test(args.join(',').trim())) continue;
      }
      const around = e.slice(Math.max(0, i - 40), i + 60).replace(/\s+/g, ' ');
      fail('division', q.where, `divisor not guarded against zero (write / (… > 0)): …${around}…`);
    }
  }
}

// ---------------------------------------------------------------- [intervals]
function checkIntervals(all) {
  ran.add('intervals');
  for (const q of all) {
    if (typeof q.expr !== 'string') continue;
    for (const c of calls(q.expr, 'increase|rate|irate|delta|idelta')) {
      if (/\[\s*\$\{?__interval\}?\s*\]\s*$/.test(c.args[0] ?? '')) {
        fail('intervals', q.where, `${c.fn}(…[$__interval]) loses the increments between two intervals and extrapolates the rest: use the exact delta (last value in the interval minus the last value before it)`);
      }
    }
  }
}

// ---------------------------------------------------------------- [quantiles]
function checkQuantiles(all) {
  ran.add('quantiles');
  for (const q of all) {
    if (typeof q.expr !== 'string' || !q.panel) continue;
    for (const c of calls(q.expr, 'histogram_quantile')) {
      if (/\b(cicd_pipeline_run_duration_seconds_bucket|pipeline_bridge_task_duration_seconds_bucket)\b/.test(c.args[1] ?? '')) {
        fail('quantiles', q.where, 'histogram_quantile over run/step duration buckets: with a few runs it reads the upper part of a bucket (a 2h05m run shows as 2h57m); show the exact mean / longest run, or the recorded quantiles made exact for a single run');
      }
    }
  }
}

// ---------------------------------------------------------------- [traces]
// TraceQL of Tempo targets and of Explore links to Tempo, in dashboards with $account and $region.
function checkTraces(file, d, queries, provisioned) {
  const name = basename(file);
  const defined = new Set((d.templating?.list ?? []).map((v) => v.name));
  if (!defined.has('account') || !defined.has('region')) return;
  ran.add('traces');
  const check = (query, where) => {
    if (typeof query !== 'string' || !/^\s*\{/.test(query)) return; // a trace ID, not a search
    const need = [
      ['resource.cloud.account.id', 'account'],
      ['resource.cloud.region', 'region'],
      ['span.cicd.pipeline.name', 'pipeline'],
    ];
    for (const [attr, v] of need) {
      const re = new RegExp(`${attr.replace(/\./g, '\\.')}\\s*=~?\\s*"\\$\\{?${v}\\b`);
      if (!re.test(query)) fail('traces', where, `TraceQL does not filter ${attr} by $${v}: ${query}`);
    }
    if (/cicd\.pipeline\.result\s*!=/.test(query)) fail('traces', where, `select failed runs with "kind = server && status = error" (the root span of a failed run), not by result != …: ${query}`);
  };
  for (const q of queries.traceql) check(q.target.query, q.where);
  const walk = (v, path) => {
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${path}[${i}]`));
    if (v === null || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v)) {
      const p = path ? `${path}.${k}` : k;
      if (k === 'url' && typeof x === 'string' && x.startsWith('/explore?')) {
        const plain = x.replace(/\$\{(\w+)(?::[^}]*)?\}/g, '@@$1@@');
        let panes;
        try {
          panes = JSON.parse(new URLSearchParams(plain.slice('/explore?'.length)).get('panes'));
        } catch {
          continue; // [links] reports it
        }
        for (const pane of Object.values(panes ?? {})) {
          if (provisioned.get(pane.datasource)?.type !== 'tempo') continue;
          for (const pq of pane.queries ?? []) check(String(pq.query ?? '').replace(/@@(\w+)@@/g, '$${$1}'), `${name}: ${p}`);
        }
      } else walk(x, p);
    }
  };
  walk(d, '');
}

// ---------------------------------------------------------------- [exemplars]
function checkExemplarDatasource(provisioned) {
  ran.add('exemplars');
  for (const ds of provisioned.values()) {
    if (ds.type !== 'prometheus') continue;
    const where = `${basename(datasourcesFile)}: ${ds.name}`;
    const dest = (ds.jsonData?.exemplarTraceIdDestinations ?? []).find((x) => x.name === 'trace_id');
    if (!dest) fail('exemplars', where, 'no exemplarTraceIdDestinations entry for the exemplar label trace_id');
    else if (provisioned.get(dest.datasourceUid)?.type !== 'tempo') fail('exemplars', where, `exemplarTraceIdDestinations trace_id → "${dest.datasourceUid}", which is not a provisioned Tempo datasource`);
  }
}
function checkExemplarTargets(all) {
  ran.add('exemplars');
  let n = 0;
  for (const q of all) {
    if (!q.panel || typeof q.expr !== 'string' || !q.target?.range) continue;
    if (!/\bcicd_pipeline_run_duration_seconds_bucket\b/.test(q.expr)) continue;
    n++;
    if (q.target.exemplar !== true) fail('exemplars', q.where, 'a run duration graph without "exemplar": true (the dots that open each run\'s trace)');
  }
  if (!n) fail('exemplars', 'dashboards', 'no run duration graph (range query over cicd_pipeline_run_duration_seconds_bucket) shows exemplars');
}

// ---------------------------------------------------------------- [values]
// Each case of values.yml: one dashboard query with its variables substituted, evaluated at one
// time by `promtool test rules` (input: values-series.mjs; rule_files: the recording rules of
// prometheus/rules), must give exactly the expected samples.
async function checkValues(dashboards) {
  ran.add('values');
  const spec = YAML.parse(readFileSync(join(here, 'values.yml'), 'utf8'));
  const { inputSeries } = await import('./values-series.mjs');
  const dir = mkdtempSync(join(tmpdir(), 'grafana-values-'));
  try {
    // Recording rules only: the alerts are not needed and their groups may be long.
    const groups = [];
    for (const f of readdirSync(rulesDir).filter((x) => /\.ya?ml$/.test(x)).sort()) {
      for (const g of YAML.parse(readFileSync(join(rulesDir, f), 'utf8'))?.groups ?? []) {
        const rules = (g.rules ?? []).filter((r) => r.record);
        if (rules.length) groups.push({ ...g, name: `${f}:${g.name}`, rules });
      }
    }
    writeFileSync(join(dir, 'rules.yml'), YAML.stringify({ groups }, { lineWidth: 0 }));
    for (const [i, c] of (spec?.cases ?? []).entries()) {
      const where = `values.yml cases[${i}] ${c.dashboard} "${c.panel}" ${c.refId} at ${c.at}`;
      const dash = dashboards.find((x) => basename(x.file, '.json') === c.dashboard)?.json;
      const panel = dash && allPanels(dash).map((x) => x.panel).find((p) => p.title === c.panel && (!c.type || p.type === c.type));
      const t = panel?.targets?.find((x) => x.refId === c.refId);
      if (typeof t?.expr !== 'string') {
        fail('values', where, 'no such Prometheus target');
        continue;
      }
      const vars = c.vars ?? {};
      let expr = t.expr;
      for (const [k, v] of Object.entries(vars)) expr = expr.split('${' + k + '}').join(String(v)).split('$' + k).join(String(v));
      expr = expr.replace(VAR_RE, '.*');
      const test = {
        rule_files: ['rules.yml'],
        evaluation_interval: '1m',
        tests: [{ interval: '1m', input_series: inputSeries, promql_expr_test: [{ expr, eval_time: c.at, exp_samples: c.expect ?? [] }] }],
      };
      writeFileSync(join(dir, 'test.yml'), YAML.stringify(test, { lineWidth: 0 }));
      const r = spawnSync('promtool', ['test', 'rules', 'test.yml'], { cwd: dir, encoding: 'utf8' });
      if (r.error) {
        fail('values', where, `could not run promtool: ${r.error.message}`);
        return;
      }
      if (r.status !== 0) {
        const out = `${r.stdout}\n${r.stderr}`;
        const got = out.match(/^\s*got: (.*)$/m)?.[1] ?? out.match(/err: (.*)/)?.[0] ?? out.trim().split('\n').slice(-3).join(' ');
        fail('values', where, `expected ${(c.expect ?? []).map((x) => `${x.labels} ${x.value}`).join(', ') || 'nothing'}, got ${got}${c.why ? ` (${c.why})` : ''}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- [tempo]
function checkTempo(queries) {
  for (const { where, target: t } of queries) {
    ran.add('tempo');
    if (t.queryType !== 'traceql') fail('tempo', where, `queryType is "${t.queryType}", expected "traceql"`);
    if (typeof t.query !== 'string' || !t.query.trim()) fail('tempo', where, 'empty TraceQL query');
    else {
      const q = stripStrings(t.query);
      const depth = [...q].reduce((n, c) => (n < 0 ? n : n + (c === '{' || c === '(' ? 1 : c === '}' || c === ')' ? -1 : 0)), 0);
      if (depth !== 0) fail('tempo', where, `unbalanced braces in TraceQL: ${t.query}`);
      if (!/^\s*\{/.test(q)) fail('tempo', where, `TraceQL should start with a spanset filter {...}: ${t.query}`);
    }
    if (!['traces', 'spans', 'raw'].includes(t.tableType)) fail('tempo', where, `tableType "${t.tableType}" is not traces, spans or raw`);
    if (t.limit !== undefined && !(Number.isInteger(t.limit) && t.limit > 0)) fail('tempo', where, `limit ${t.limit} is not a positive integer`);
  }
}

// ---------------------------------------------------------------- [links]
function checkLinks(file, d, dashboardUids, provisioned) {
  ran.add('links');
  const name = basename(file);
  const walk = (v, path) => {
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${path}[${i}]`));
    if (v === null || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v)) {
      const p = path ? `${path}.${k}` : k;
      if (k === 'url' && typeof x === 'string') checkUrl(x, p);
      else walk(x, p);
    }
  };
  const checkUrl = (url, where) => {
    // Grafana interpolates ${...} when the link is clicked; stand-ins keep the URL parseable.
    const plain = url.replace(/\$\{[^}]*\}/g, 'X');
    let m;
    if ((m = plain.match(/^\/d\/([^/?]+)/)) && !dashboardUids.has(m[1])) {
      fail('links', `${name}: ${where}`, `links to dashboard uid "${m[1]}", which is none of ${[...dashboardUids].join(', ')}`);
    }
    if (plain.startsWith('/explore?')) {
      const panes = new URLSearchParams(plain.slice('/explore?'.length)).get('panes');
      if (panes === null) return fail('links', `${name}: ${where}`, 'Explore link without a panes parameter');
      try {
        for (const pane of Object.values(JSON.parse(panes))) {
          if (!provisioned.has(pane.datasource)) fail('links', `${name}: ${where}`, `Explore pane datasource "${pane.datasource}" is not a provisioned uid`);
          if (!Array.isArray(pane.queries) || !pane.queries.length) fail('links', `${name}: ${where}`, 'Explore pane without queries');
        }
      } catch (e) {
        fail('links', `${name}: ${where}`, `Explore panes is not valid JSON (${e.message}): ${panes}`);
      }
    }
  };
  walk(d, '');
}

// ---------------------------------------------------------------- main
const provisioned = loadDatasources();
const names = loadNames();
const files = readdirSync(dashboardsDir).filter((f) => f.endsWith('.json')).sort().map((f) => join(dashboardsDir, f));
if (!files.length) fail('types', dashboardsDir, 'no dashboards found');
const dashboards = [];
const uids = new Map();
for (const file of files) {
  let json;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    fail('types', basename(file), `not valid JSON: ${e.message}`);
    continue;
  }
  if (!json.uid) fail('types', basename(file), 'dashboard has no uid');
  else if (uids.has(json.uid)) fail('types', basename(file), `uid "${json.uid}" is also used by ${uids.get(json.uid)}`);
  else uids.set(json.uid, basename(file));
  if (json.schemaVersion !== 39) fail('types', basename(file), `schemaVersion is ${json.schemaVersion}, expected 39`);
  if (json.id !== undefined && json.id !== null) fail('types', basename(file), 'provisioned dashboards must not carry a numeric id');
  dashboards.push({ file, json });
}

checkTypes(dashboards);
const dashboardUids = new Set(dashboards.map((x) => x.json.uid));
const allPromql = collectProvisioningQueries(provisioned);
for (const { file, json } of dashboards) {
  checkDatasources(file, json, provisioned);
  const queries = collectQueries(file, json, provisioned);
  checkVariables(json, queries, basename(file));
  checkFilters(json, queries);
  checkEqualsMatchers(json, queries);
  checkSingleValued(json, basename(file));
  checkTraces(file, json, queries, provisioned);
  checkTempo(queries.traceql);
  checkLinks(file, json, dashboardUids, provisioned);
  allPromql.push(...queries.promql);
}
checkPromtool(allPromql);
checkNames(allPromql, names);
checkJoins(allPromql);
checkDivision(allPromql);
checkIntervals(allPromql);
checkQuantiles(allPromql);
checkExemplarDatasource(provisioned);
checkExemplarTargets(allPromql);
await checkValues(dashboards);

const byCheck = Object.fromEntries(CHECKS.map((c) => [c, failures.filter((f) => f.check === c)]));
for (const f of failures) console.log(`[${f.check}] ${f.where}: ${f.msg}`);
const ranList = CHECKS.filter((c) => ran.has(c) || byCheck[c].length);
for (const c of ranList) console.log(`${byCheck[c].length ? 'FAIL' : 'ok  '} ${c.padEnd(10)} ${byCheck[c].length ? byCheck[c].length + ' problem(s)' : ''}`.trimEnd());
console.log(`checked ${dashboards.length} dashboards, ${allPromql.filter((q) => q.expr).length} PromQL expressions, ${names.metrics.size} documented metrics`);
const failed = ranList.filter((c) => byCheck[c].length).length;
// a closing line CI runners understand
console.log(`grafana-check: ${ranList.length - failed} passed, ${failed} failed`);
process.exit(failures.length ? 1 : 0);
