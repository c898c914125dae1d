// Synthetic series for the [values] check (check.mjs, values.yml): promtool's input_series, one
// sample a minute for minutes 0 … 199 (times in values.yml are minutes: 190m). What happens:
//
// * etl (glue-job, account 111, us-east-1, team orders, then data from minute 150 with the old
//   info series until 154: a team change), SLA 4000 s. Runs (minute, result, duration):
//   50 success 600 s, 100 success 7500 s (2 h 05 m, over the SLA), 120 failure (OOM) 300 s,
//   130 timeout 3600 s, 140 cancellation 100 s, 160 failure (OOM) 200 s.
// * etl in account 222 (same name, team orders): one success at 185 (500 s).
// * sync (sfn, account 111) without an info series: 60 success 900 s, 110 failure (OOM) 50 s,
//   173 success 800 s (ends during the collector outage, counted when it is over); two steps.
// * Deadlines (OTLP path): etl "by 01:40 UTC daily" (due at 100; met by its success at 50,
//   then the next day's is pending); sync "by 02:00 UTC daily" with a 30 min window (due at
//   120; its success at 60 is too early: missed from 121, late once its success at 173 is
//   read after the outage).
// * The collector (OTLP path) is down from 170 to 177: no sample of the pipeline series.
// * The bridge's own scrape (job pipeline-otel-bridge, instance bridge:9464): up 1 until 179, then
//   the bridge is dead (up 0, no scraped series). The same gauges through the OTLP path have
//   another instance (5f0c-otlp) and other values: they must not show.
// * Accounts and regions the bridge reads (its scrape): 111/us-east-1 every cycle; 222/us-east-1
//   until 150, when its role starts being refused (last read stays at 150, watermark lag grows);
//   333/eu-west-1 until 99, then removed from the config (its gauges stop). API calls (OTLP
//   path): 111's Glue calls, 2 throttled at 90; 222's role assumed at 0, 60 and 120, refused once
//   a minute from 150 on, its Glue calls stop at 149.
const N = 200;
const GAP = (m) => m >= 170 && m < 178; // collector outage: nothing from the OTLP path
const DOWN = (m) => m >= 180; // bridge dead: scrape up=0, no scraped series
const out = [];
const lab = (o) => '{' + Object.entries(o).map(([k, v]) => `${k}="${v}"`).join(', ') + '}';
function series(name, labels, f, { otlp = true } = {}) {
  const vals = [];
  for (let m = 0; m < N; m++) {
    let v = f(m);
    if (otlp && GAP(m)) v = null;
    vals.push(v === null || v === undefined ? '_' : String(v));
  }
  out.push({ series: name + lab(labels), values: vals.join(' ') });
}
const step = (events) => (m) => events.filter(([at]) => m >= at).reduce((a, [, v]) => a + v, 0);
const prod = { cicd_pipeline_name: 'etl', pipeline_bridge_pipeline_kind: 'glue-job', cloud_account_id: '111', cloud_region: 'us-east-1' };
const dev = { ...prod, cloud_account_id: '222' };
const sync = { cicd_pipeline_name: 'sync', pipeline_bridge_pipeline_kind: 'sfn', cloud_account_id: '111', cloud_region: 'us-east-1' };

// prod etl: runs (minute, result, duration)
const runs = [
  [50, 'success', 600], [100, 'success', 7500], [120, 'failure', 300], [130, 'timeout', 3600], [140, 'cancellation', 100], [160, 'failure', 200],
];
const errType = { failure: 'OOM', timeout: 'Timeout' };
const LE = ['1800', '3600', '7200', '10800', '+Inf'];
const SLA = 4000;
function pipelineSeries(P, runs, { info = [], sla = true } = {}) {
  for (const r of ['success', 'failure', 'timeout', 'error', 'cancellation']) {
    series('pipeline_bridge_pipeline_runs_total', { ...P, cicd_pipeline_result: r }, step(runs.filter((x) => x[1] === r).map(([m]) => [m, 1])));
  }
  for (const et of new Set(runs.filter((x) => errType[x[1]]).map((x) => errType[x[1]]))) {
    const ev = runs.filter((x) => errType[x[1]] === et);
    series('cicd_pipeline_run_errors_total', { ...P, error_type: et }, (m) => (m >= ev[0][0] ? step(ev.map(([t]) => [t, 1]))(m) : null));
  }
  for (const r of new Set(runs.map((x) => x[1]))) {
    const ev = runs.filter((x) => x[1] === r);
    const first = ev[0][0];
    const L = { ...P, cicd_pipeline_result: r, cicd_pipeline_run_state: 'finalized' };
    series('cicd_pipeline_run_duration_seconds_count', L, (m) => (m >= first ? step(ev.map(([t]) => [t, 1]))(m) : null));
    series('cicd_pipeline_run_duration_seconds_sum', L, (m) => (m >= first ? step(ev.map(([t, , d]) => [t, d]))(m) : null));
    for (const le of LE) {
      series('cicd_pipeline_run_duration_seconds_bucket', { ...L, le }, (m) => (m >= first ? step(ev.filter(([, , d]) => le === '+Inf' || d <= Number(le)).map(([t]) => [t, 1]))(m) : null));
    }
  }
  if (sla) {
    series('pipeline_bridge_pipeline_sla_seconds', P, () => SLA);
    series('pipeline_bridge_pipeline_sla_breaches_total', P, step(runs.filter(([, r, d]) => r !== 'cancellation' && d > SLA).map(([m]) => [m, 1])));
  }
  series('pipeline_bridge_pipeline_max_success_interval_seconds', P, () => 86400);
  const succ = runs.filter((x) => x[1] === 'success');
  series('pipeline_bridge_pipeline_last_success_timestamp_seconds', P, (m) => { const s = succ.filter(([t]) => m >= t).pop(); return s ? s[0] * 60 : null; });
  // last failure: one series at a time (the error type of the latest failure)
  const fails = runs.filter((x) => errType[x[1]]);
  for (const et of new Set(fails.map((x) => errType[x[1]]))) {
    series('pipeline_bridge_pipeline_last_failure_timestamp_seconds', { ...P, error_type: et }, (m) => { const f = fails.filter(([t]) => m >= t).pop(); return f && errType[f[1]] === et ? f[0] * 60 : null; });
  }
  series('cicd_pipeline_run_active', { ...P, cicd_pipeline_run_state: 'executing' }, (m) => (m % 50 < 10 ? 1 : 0));
  if (P.pipeline_bridge_pipeline_kind === 'glue-job') series('pipeline_bridge_glue_dpu_usage_total', P, step(runs.map(([m, , d]) => [m, d / 10])));
  for (const [from, to, team] of info) series('pipeline_bridge_pipeline_info', { ...P, team, project: 'lake' }, (m) => (m >= from && m < to ? 1 : null));
}
pipelineSeries(prod, runs, { info: [[0, 155, 'orders'], [150, N, 'data']] });
pipelineSeries(dev, [[185, 'success', 500]], { info: [[0, N, 'orders']] });
pipelineSeries(sync, [[60, 'success', 900], [110, 'failure', 50], [173, 'success', 800]], { info: [] });
// steps of sync
for (const [task, d] of [['Extract', 300], ['Load', 600]]) {
  const L = { ...sync, cicd_pipeline_task_name: task, pipeline_bridge_task_type: 'Task', cicd_pipeline_task_run_result: 'success' };
  series('pipeline_bridge_task_duration_seconds_count', L, step([[60, 1], [110, 1]]));
  series('pipeline_bridge_task_duration_seconds_sum', L, step([[60, d], [110, d / 2]]));
  for (const le of ['60', '600', '+Inf']) series('pipeline_bridge_task_duration_seconds_bucket', { ...L, le }, step([[60, le === '+Inf' || d <= Number(le) ? 1 : 0], [110, le === '+Inf' || d / 2 <= Number(le) ? 1 : 0]]));
}

// the bridge's own scrape (up 1 until 180, then 0; scraped series stop at 180)
const S = { job: 'pipeline-otel-bridge', instance: 'bridge:9464' };
const scr = (name, labels, f) => series(name, { ...S, ...labels }, (m) => (DOWN(m) ? null : f(m)), { otlp: false });
series('up', S, (m) => (DOWN(m) ? 0 : 1), { otlp: false });
scr('pipeline_bridge_poll_last_success_timestamp_seconds', {}, (m) => m * 60);
scr('pipeline_bridge_poll_interval_seconds', {}, () => 60);
scr('pipeline_bridge_start_time_seconds', {}, () => 0);
scr('pipeline_bridge_checkpoint_last_commit_timestamp_seconds', {}, (m) => m * 60);
scr('pipeline_bridge_runs_pending', {}, (m) => (GAP(m) ? 3 : 0));
for (const s of ['traces', 'metrics']) scr('pipeline_bridge_export_failures_total', { signal: s }, step(s === 'traces' ? [[171, 2], [175, 2]] : []));
scr('pipeline_bridge_poll_cycle_duration_seconds_count', { outcome: 'success' }, (m) => m);
scr('pipeline_bridge_poll_cycle_duration_seconds_count', { outcome: 'error' }, step([[120, 1], [121, 1]]));
for (const P of [prod, dev]) scr('pipeline_bridge_pipeline_info', { ...P, team: 'orders', project: 'lake' }, () => 1);
// per account and region
const acct = (a, r) => ({ cloud_account_id: a, cloud_region: r });
scr('pipeline_bridge_account_poll_last_success_timestamp_seconds', acct('111', 'us-east-1'), (m) => m * 60);
scr('pipeline_bridge_account_watermark_lag_seconds', acct('111', 'us-east-1'), () => 0);
scr('pipeline_bridge_account_poll_last_success_timestamp_seconds', acct('222', 'us-east-1'), (m) => Math.min(m, 150) * 60);
scr('pipeline_bridge_account_watermark_lag_seconds', acct('222', 'us-east-1'), (m) => Math.max(0, m - 150) * 60);
scr('pipeline_bridge_account_poll_last_success_timestamp_seconds', acct('333', 'eu-west-1'), (m) => (m < 100 ? m * 60 : null));
scr('pipeline_bridge_account_watermark_lag_seconds', acct('333', 'eu-west-1'), (m) => (m < 100 ? 0 : null));
// the same gauges through the OTLP path (another instance label): must not be mixed in
const O = { job: 'pipeline-otel-bridge', instance: '5f0c-otlp' };
series('pipeline_bridge_runs_pending', O, () => 99);
series('pipeline_bridge_export_failures_total', { ...O, signal: 'traces' }, () => 50);
// OTLP-path bridge metrics
series('cicd_system_errors_total', { ...O, cicd_system_component: 'glue', error_type: 'AccessDeniedException' }, step([[120, 1]]));
for (const [op, outcome, f] of [['GetJobRuns', 'success', (m) => m * 3], ['GetJobRuns', 'throttled', step([[90, 2]])]]) {
  series('pipeline_bridge_aws_api_calls_total', { ...O, aws_service: 'glue', aws_operation: op, outcome, ...acct('111', 'us-east-1') }, f);
}
series('pipeline_bridge_aws_api_calls_total', { ...O, aws_service: 'sts', aws_operation: 'AssumeRole', outcome: 'success', ...acct('222', 'us-east-1') }, step([[0, 1], [60, 1], [120, 1]]));
series('pipeline_bridge_aws_api_calls_total', { ...O, aws_service: 'sts', aws_operation: 'AssumeRole', outcome: 'error', ...acct('222', 'us-east-1') }, (m) => (m >= 150 ? m - 149 : null));
series('pipeline_bridge_aws_api_calls_total', { ...O, aws_service: 'glue', aws_operation: 'GetJobRuns', outcome: 'success', ...acct('222', 'us-east-1') }, (m) => Math.min(m, 149) * 2);
for (const le of ['1', '5', '+Inf']) series('pipeline_bridge_poll_cycle_duration_seconds_bucket', { ...O, outcome: 'success', le }, (m) => (le === '1' ? Math.floor(m / 2) : m));
series('pipeline_bridge_export_lag_seconds_sum', O, (m) => m * 30);
series('pipeline_bridge_export_lag_seconds_count', O, (m) => m);
for (const le of ['60', '+Inf']) series('pipeline_bridge_export_lag_seconds_bucket', { ...O, le }, (m) => m);
// deadlines
{
  const dl = (P, name, due, state) => {
    const L = { ...P, pipeline_bridge_deadline: name };
    series('pipeline_bridge_deadline_next_timestamp_seconds', L, (m) => (m <= due ? due * 60 : due * 60 + 86400));
    for (const [period, states] of [['previous', ['met', 'missed', 'late']], ['next', ['met', 'pending']]]) {
      for (const st of states) series('pipeline_bridge_deadline_state', { ...L, period, state: st }, (m) => (state(m)[period] === st ? 1 : 0));
    }
  };
  dl(prod, 'by 01:40 UTC daily', 100, (m) => ({ previous: 'met', next: m >= 50 && m <= 100 ? 'met' : 'pending' }));
  dl(sync, 'by 02:00 UTC daily', 120, (m) => ({ previous: m <= 120 ? 'met' : m >= 178 ? 'late' : 'missed', next: 'pending' }));
}
// S3 arrivals (OTLP path; no pipeline labels): "partner" (team orders) due at 100, its object
// arrived at 80; "feed" (no team) due at 120, missed, its object arrives late at 150.
{
  const ar = (L, due, state, last) => {
    series('pipeline_bridge_arrival_next_timestamp_seconds', L, (m) => (m <= due ? due * 60 : due * 60 + 86400));
    series('pipeline_bridge_arrival_last_timestamp_seconds', L, (m) => last(m));
    for (const [period, states] of [['previous', ['met', 'missed', 'late']], ['next', ['met', 'pending']]]) {
      for (const st of states) series('pipeline_bridge_arrival_state', { ...L, period, state: st }, (m) => (state(m)[period] === st ? 1 : 0));
    }
  };
  const A = { aws_s3_bucket: 'landing', cloud_account_id: '111', cloud_region: 'us-east-1' };
  ar({ ...A, pipeline_bridge_arrival: 'partner', team: 'orders' }, 100, (m) => ({ previous: m <= 100 ? 'missed' : 'met', next: m >= 80 && m <= 100 ? 'met' : 'pending' }), (m) => (m >= 80 ? 4800 : null));
  ar({ ...A, pipeline_bridge_arrival: 'feed' }, 120, (m) => ({ previous: m <= 120 ? 'met' : m >= 150 ? 'late' : 'missed', next: 'pending' }), (m) => (m >= 150 ? 9000 : null));
}

export const inputSeries = out;
