//! End to end across accounts and regions: moto (as AWS: three accounts, the two besides the
//! ambient one reached through `sts:AssumeRole`, as moto scopes resources by the assumed role's
//! account; refusals injected by `testing/harness_ext/accounts.py`) → the bridge binary →
//! rotel (a real OTLP collector).

mod common;

use common::{bridge, write_config, Collector, Moto, Received};

const HOME: &str = "123456789012";
const ANALYTICS: &str = "222222222222";
const BROKEN: &str = "333333333333";
const ANALYTICS_ROLE: &str = "arn:aws:iam::222222222222:role/reader";
const BROKEN_ROLE: &str = "arn:aws:iam::333333333333:role/reader";
const EXTERNAL_ID: &str = "ext-7f3a9c";

/// The config: Glue jobs only; the ambient account in its region, `analytics` through a role
/// with an ExternalId in two regions (its `scratch-*` jobs excluded), `broken` through a role
/// that cannot be assumed.
fn config(external_id: &str) -> String {
    let off: String = [
        "glue_workflows",
        "glue_crawlers",
        "step_functions",
        "emr_serverless",
        "glue_data_quality",
        "emr",
    ]
    .iter()
    .map(|s| format!("[{s}]\nenabled = false\n"))
    .collect();
    format!(
        "{off}\
         [[accounts]]\nname = \"home\"\n\
         [[accounts]]\nname = \"analytics\"\nrole_arn = \"{ANALYTICS_ROLE}\"\n\
         external_id = \"{external_id}\"\nregions = [\"us-east-1\", \"eu-west-1\"]\n\
         exclude = [\"scratch-*\"]\n\
         [[accounts]]\nname = \"broken\"\nrole_arn = \"{BROKEN_ROLE}\"\n\
         regions = [\"us-east-1\", \"eu-west-1\"]\n"
    )
}

fn assume_role_calls(moto: &Moto, role: &str) -> (u64, Vec<serde_json::Value>) {
    let r = moto.python(
        "print(json.dumps(json.loads(urllib.request.urlopen(ENDPOINT + '/_inject/sts-calls').read())))",
    );
    let v: serde_json::Value = serde_json::from_str(r.trim()).unwrap();
    let calls = &v["AssumeRole"][role];
    (
        calls["calls"].as_u64().unwrap_or(0),
        calls["external_ids"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    )
}

fn account_of(r: &Received, run_id: &str) -> (String, String) {
    let root = r.root_of_run(run_id);
    (
        root.resource
            .get("cloud.account.id")
            .cloned()
            .unwrap_or_default(),
        root.resource
            .get("cloud.region")
            .cloned()
            .unwrap_or_default(),
    )
}

#[test]
fn one_bridge_watches_accounts_through_roles_and_a_broken_one_stops_no_other() {
    let moto = Moto::start_empty();
    let col = Collector::start();
    // A job with one finished run in each (account, region); the same job name in two
    // accounts; a scratch job the analytics account excludes.
    moto.python(&format!(
        "sts = client('sts')\n\
         def glue(account, region):\n\
         \x20   if account == '{HOME}':\n\
         \x20       return boto3.client('glue', endpoint_url=ENDPOINT, region_name=region, aws_access_key_id='testing', aws_secret_access_key='testing')\n\
         \x20   c = sts.assume_role(RoleArn='arn:aws:iam::' + account + ':role/seed', RoleSessionName='seed')['Credentials']\n\
         \x20   return boto3.client('glue', endpoint_url=ENDPOINT, region_name=region, aws_access_key_id=c['AccessKeyId'], \
                 aws_secret_access_key=c['SecretAccessKey'], aws_session_token=c['SessionToken'])\n\
         now = float(int(time.time()))\n\
         def job(account, region, name, run_id, ago):\n\
         \x20   glue(account, region).create_job(Name=name, Role='arn:aws:iam::' + account + ':role/glue', \
                 Command={{'Name': 'glueetl', 'ScriptLocation': 's3://b/s.py'}}, GlueVersion='4.0')\n\
         \x20   inject('/_inject/glue-job-run-create', {{'AccountId': account, 'Region': region, 'JobName': name, 'RunId': run_id, \
                 'fields': {{'JobRunState': 'SUCCEEDED', 'StartedOn': now - ago, 'CompletedOn': now - ago + 60, 'ExecutionTime': 58}}}})\n\
         job('{HOME}', 'us-east-1', 'orders-etl', 'jr_home_1', 3600)\n\
         job('{ANALYTICS}', 'us-east-1', 'orders-etl', 'jr_analytics_us_1', 1800)\n\
         job('{ANALYTICS}', 'eu-west-1', 'clicks-eu', 'jr_analytics_eu_1', 900)\n\
         job('{ANALYTICS}', 'us-east-1', 'scratch-try', 'jr_scratch_1', 600)\n\
         job('{BROKEN}', 'us-east-1', 'billing', 'jr_broken_1', 300)\n\
         for i in range(40):\n\
         \x20   glue('{ANALYTICS}', 'eu-west-1').create_job(Name='idle-%02d' % i, Role='r', Command={{'Name': 'glueetl', 'ScriptLocation': 's3://b/s.py'}})\n\
         inject('/_inject/accounts-clear', {{}})\n\
         inject('/_inject/sts-external-id', {{'RoleArn': '{ANALYTICS_ROLE}', 'ExternalId': '{EXTERNAL_ID}'}})\n\
         inject('/_inject/sts-deny-role', {{'RoleArn': '{BROKEN_ROLE}'}})\n"
    ));
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &config(EXTERNAL_ID));
    let (cfg, state) = (
        cfg.to_str().unwrap().to_string(),
        dir.path().join("state").to_str().unwrap().to_string(),
    );
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", col.grpc.as_str()),
    ];

    // One cycle: the home and analytics runs are exported, each under its own account and
    // region; the broken account's role is refused and nothing of it is read.
    let m0 = col.mark();
    let out = bridge(
        &["run", "--once", "--config", &cfg, "--state", &state],
        &env,
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(3),
        "an AWS error is exit 3: {stderr}"
    );
    let r1 = col.received_since(m0);
    let mut runs: Vec<&str> = r1
        .roots()
        .iter()
        .filter_map(|s| s.attr("cicd.pipeline.run.id"))
        .collect();
    runs.sort_unstable();
    assert_eq!(
        runs,
        ["jr_analytics_eu_1", "jr_analytics_us_1", "jr_home_1"],
        "the excluded scratch job and the broken account's run are not exported"
    );
    assert_eq!(
        account_of(&r1, "jr_home_1"),
        (HOME.into(), "us-east-1".into())
    );
    assert_eq!(
        account_of(&r1, "jr_analytics_us_1"),
        (ANALYTICS.into(), "us-east-1".into())
    );
    assert_eq!(
        account_of(&r1, "jr_analytics_eu_1"),
        (ANALYTICS.into(), "eu-west-1".into())
    );
    // The same job name in two accounts: two pipelines, two traces.
    assert_ne!(
        r1.root_of_run("jr_home_1").trace_id,
        r1.root_of_run("jr_analytics_us_1").trace_id
    );
    assert!(
        stderr.contains("cannot assume role arn:aws:iam::333333333333:role/reader")
            && stderr.contains("AccessDenied")
            && stderr.contains("trust policy"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(EXTERNAL_ID),
        "the ExternalId is never logged"
    );
    assert!(
        !stderr.contains("aws_config::sts"),
        "STS's refusal is logged once, by the bridge, escaped: {stderr}"
    );

    // One role session per account, whatever the regions, pipelines (43 in analytics, two
    // regions) and calls: the analytics role once
    // (with its ExternalId), the broken one once (its failure is held, not retried per call).
    assert_eq!(
        assume_role_calls(&moto, ANALYTICS_ROLE),
        (1, vec![serde_json::json!(EXTERNAL_ID)])
    );
    assert_eq!(assume_role_calls(&moto, BROKEN_ROLE).0, 1);

    // Metrics per account and region.
    let calls = |account: &str, region: &str, svc: &str, op: &str, outcome: &str| {
        r1.sum(
            "pipeline_bridge.aws.api.calls",
            &[
                ("cloud.account.id", account),
                ("cloud.region", region),
                ("aws.service", svc),
                ("aws.operation", op),
                ("outcome", outcome),
            ],
        )
    };
    assert_eq!(
        calls(ANALYTICS, "us-east-1", "glue", "GetJobs", "success"),
        1.0
    );
    assert_eq!(
        calls(ANALYTICS, "eu-west-1", "glue", "GetJobs", "success"),
        1.0
    );
    assert_eq!(calls(HOME, "us-east-1", "glue", "GetJobs", "success"), 1.0);
    assert_eq!(
        calls(HOME, "us-east-1", "sts", "GetCallerIdentity", "success"),
        1.0
    );
    assert_eq!(
        calls(ANALYTICS, "us-east-1", "sts", "AssumeRole", "success"),
        1.0
    );
    assert_eq!(
        calls(BROKEN, "us-east-1", "sts", "AssumeRole", "error"),
        1.0
    );
    assert_eq!(
        calls(BROKEN, "us-east-1", "glue", "GetJobs", "success"),
        0.0
    );
    assert_eq!(
        calls(ANALYTICS, "eu-west-1", "glue", "GetJobRuns", "success"),
        41.0,
        "every analytics pipeline in eu-west-1 was read, within the one role session"
    );
    assert!(
        r1.sum(
            "cicd.system.errors",
            &[
                ("cloud.account.id", BROKEN),
                ("cloud.region", "us-east-1"),
                ("error.type", "AssumeRoleFailed"),
            ],
        ) >= 1.0
    );
    let run_counts = |account: &str| {
        r1.sum(
            "pipeline_bridge.pipeline.runs",
            &[
                ("cloud.account.id", account),
                ("cicd.pipeline.result", "success"),
            ],
        )
    };
    assert_eq!((run_counts(HOME), run_counts(ANALYTICS)), (1.0, 2.0));
    // Health: every (account, region) has a last read; the broken one's is still the start.
    let health = |metric: &str, account: &str, region: &str| {
        let p = r1.points(
            metric,
            &[("cloud.account.id", account), ("cloud.region", region)],
        );
        assert_eq!(p.len(), 1, "{metric} {account} {region}");
        p[0].value
    };
    let start = r1.sum("pipeline_bridge.start_time", &[]);
    let read_ok = health(
        "pipeline_bridge.account.poll.last_success.timestamp",
        ANALYTICS,
        "eu-west-1",
    );
    let read_broken = health(
        "pipeline_bridge.account.poll.last_success.timestamp",
        BROKEN,
        "us-east-1",
    );
    assert!(read_ok > read_broken, "{read_ok} {read_broken}");
    assert!(
        read_broken <= start + 1.0 && read_broken > start - 60.0,
        "{read_broken} {start}"
    );
    assert!(
        health(
            "pipeline_bridge.account.watermark.lag",
            ANALYTICS,
            "us-east-1"
        ) < 30.0
    );
    // The broken account's lists cannot be read: it lags since the start, in both regions.
    for region in ["us-east-1", "eu-west-1"] {
        assert!(health("pipeline_bridge.account.watermark.lag", BROKEN, region) > 0.0);
    }

    // The analytics account's calls are now denied and the home account has a new run: it is
    // exported; nothing is exported twice.
    moto.python(&format!(
        "inject('/_inject/deny-account', {{'AccountId': '{ANALYTICS}'}})\n\
         now = float(int(time.time()))\n\
         inject('/_inject/glue-job-run-create', {{'JobName': 'orders-etl', 'RunId': 'jr_home_2', \
                 'fields': {{'JobRunState': 'SUCCEEDED', 'StartedOn': now - 120, 'CompletedOn': now - 60, 'ExecutionTime': 58}}}})\n"
    ));
    let m1 = col.mark();
    let out = bridge(
        &["run", "--once", "--config", &cfg, "--state", &state],
        &env,
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let r2 = col.received_since(m1);
    let runs: Vec<&str> = r2
        .roots()
        .iter()
        .filter_map(|s| s.attr("cicd.pipeline.run.id"))
        .collect();
    assert_eq!(runs, ["jr_home_2"]);
    assert!(stderr.contains("AccessDeniedException"), "{stderr}");
    assert!(
        r2.sum(
            "cicd.system.errors",
            &[
                ("cloud.account.id", ANALYTICS),
                ("error.type", "AccessDeniedException")
            ],
        ) >= 1.0
    );

    // `check`: a line per account and region, with the fix for the broken role.
    let out = bridge(&["check", "--config", &cfg], &env);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success());
    let line = |start: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line starting {start:?} in\n{stdout}"))
            .to_string()
    };
    assert!(
        line("ok    account           home (123456789012) region us-east-1").contains("ambient")
    );
    assert!(
        line("ok    account           analytics (222222222222) region eu-west-1")
            .contains("with ExternalId")
    );
    assert!(line("ok    glue              account 123456789012 region us-east-1").len() > 10);
    assert!(
        line("FAIL  glue              account 222222222222 region us-east-1")
            .contains("AccessDeniedException")
    );
    let broken = line("FAIL  account           broken (333333333333) region us-east-1");
    assert!(
        broken.contains("AssumeRoleFailed")
            && broken.contains("AccessDenied")
            && broken.contains("trust policy"),
        "{broken}"
    );
    assert!(!stdout.contains(EXTERNAL_ID));

    // A wrong ExternalId is refused by the role, and `check` says so.
    let wrong = write_config(dir.path(), &config("not-the-right-one"));
    let out = bridge(&["check", "--config", wrong.to_str().unwrap()], &env);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let l = stdout
        .lines()
        .find(|l| {
            l.starts_with("FAIL  account           analytics (222222222222) region us-east-1")
        })
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        l.contains("AssumeRoleFailed")
            && l.contains("AccessDenied")
            && l.contains("sts:ExternalId"),
        "{l}"
    );
    assert!(!stdout.contains("not-the-right-one"));
}
