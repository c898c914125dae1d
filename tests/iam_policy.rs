//! `iam-policy` is complete and least-privilege: every AWS operation the code can call (read
//! from the sources' SDK calls in `src/sources/*/aws.rs` and the poller's) is in the policy,
//! and nothing else is; each source's declared actions are exactly the ones it needs, so a
//! config that switches a source off drops its actions.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The IAM service prefix of each source folder's SDK client.
const PREFIX: &[(&str, &str)] = &[
    ("emr_serverless", "emr-serverless"),
    ("emr_steps", "elasticmapreduce"),
    ("glue_crawler", "glue"),
    ("glue_data_quality", "glue"),
    ("glue_job", "glue"),
    ("glue_workflow", "glue"),
    ("sfn", "states"),
];

/// `get_job_runs` → `GetJobRuns`.
fn pascal(op: &str) -> String {
    op.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Every `client.<operation>()` call in a file (whitespace between allowed).
fn sdk_calls(text: &str) -> BTreeSet<String> {
    calls_on(text, "client.")
}

/// Every `<receiver><operation>()` call in a file.
fn calls_on(text: &str, receiver: &str) -> BTreeSet<String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    compact
        .match_indices(receiver)
        .filter_map(|(i, m)| {
            let rest = &compact[i + m.len()..];
            let op: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            (rest[op.len()..].starts_with("()") && !op.is_empty()).then_some(op)
        })
        .collect()
}

fn called_actions() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = BTreeSet::new();
    let dirs: BTreeSet<String> = std::fs::read_dir(root.join("src/sources"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            p.is_dir()
                .then(|| p.file_name().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    let known: BTreeSet<String> = PREFIX.iter().map(|(d, _)| d.to_string()).collect();
    assert_eq!(dirs, known, "a source folder without its IAM prefix here");
    for (dir, prefix) in PREFIX {
        let text = std::fs::read_to_string(root.join("src/sources").join(dir).join("aws.rs"))
            .unwrap_or_else(|e| panic!("{dir}/aws.rs: {e}"));
        let calls = sdk_calls(&text);
        assert!(!calls.is_empty(), "{dir}: no SDK call found");
        out.extend(calls.iter().map(|op| format!("{prefix}:{}", pascal(op))));
    }
    // The S3 arrivals (src/arrivals.rs): ListObjectsV2 is authorised by s3:ListBucket.
    let arrivals = std::fs::read_to_string(root.join("src/arrivals.rs")).unwrap();
    for op in sdk_calls(&arrivals) {
        let action = match pascal(&op).as_str() {
            "ListObjectsV2" => "s3:ListBucket".to_string(),
            other => format!("s3:{other}"),
        };
        out.insert(action);
    }
    for file in ["src/poller.rs", "src/app.rs"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        for op in calls_on(&text, "sts.") {
            out.insert(format!("sts:{}", pascal(&op)));
        }
    }
    // The SDK's AssumeRoleProvider calls sts:AssumeRole for each role account.
    let creds = std::fs::read_to_string(root.join("src/aws/credentials.rs")).unwrap();
    if creds.contains("AssumeRoleProvider::builder") {
        out.insert("sts:AssumeRole".to_string());
    }
    out
}

/// Every action of every statement, with its resource.
fn statements(policy: &serde_json::Value) -> Vec<(BTreeSet<String>, serde_json::Value)> {
    assert_eq!(policy["Version"], "2012-10-17");
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| {
            assert_eq!(st["Effect"], "Allow");
            let acts = match &st["Action"] {
                serde_json::Value::String(a) => [a.clone()].into_iter().collect(),
                v => v
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
                    .collect(),
            };
            (acts, st["Resource"].clone())
        })
        .collect()
}

fn policy_args(config: &str, args: &[&str]) -> Result<serde_json::Value, String> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bridge.toml");
    std::fs::write(&p, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pipeline-otel-bridge"))
        .arg("iam-policy")
        .args(["--config", p.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("the policy is JSON"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

const ROLES: &str = "[ownership]\nteam_tags = [\"team\"]\n[[accounts]]\nname = \"analytics\"\n\
     role_arn = \"arn:aws:iam::222222222222:role/pipeline-otel-bridge-read\"\n\
     external_id = \"ext-7f3a\"\nregions = [\"eu-west-1\", \"us-east-1\"]\n\
     [[accounts]]\nrole_arn = \"arn:aws:iam::333333333333:role/reader\"\nsources = [\"step_functions\"]\n";

#[test]
fn with_roles_the_watched_and_bridge_policies_together_name_every_call_and_nothing_else() {
    let called = called_actions();
    assert!(called.contains("sts:AssumeRole"));
    // An S3 arrival, listed with the first account's role.
    let with_arrival = format!(
        "{ROLES}[[arrivals]]\nname = \"a\"\nurl = \"s3://landing/{{date}}/\"\nby = \"07:00\"\n"
    );
    let watched = policy_args(&with_arrival, &[]).unwrap();
    let bridge = policy_args(&with_arrival, &["--bridge"]).unwrap();
    let mut all = BTreeSet::new();
    for (acts, _) in statements(&watched) {
        all.extend(acts);
    }
    let b = statements(&bridge);
    // Every account is reached through a role: the bridge's identity only assumes them, on
    // exactly those roles.
    assert_eq!(b.len(), 1, "{bridge}");
    assert_eq!(b[0].0, ["sts:AssumeRole".to_string()].into_iter().collect());
    assert_eq!(
        b[0].1,
        serde_json::json!([
            "arn:aws:iam::222222222222:role/pipeline-otel-bridge-read",
            "arn:aws:iam::333333333333:role/reader"
        ])
    );
    all.extend(b[0].0.iter().cloned());
    assert_eq!(all, called);
    // An account's own policy holds only its sources' actions.
    let ops = statements(&policy_args(ROLES, &["--account", "333333333333"]).unwrap());
    assert!(ops[0].0.iter().all(|a| a.starts_with("states:")
        || a == "glue:GetJobRun"
        || a == "sts:GetCallerIdentity"));
    assert!(ops[0].0.contains("states:ListExecutions"));
    // [ownership] reads tags: that account's source's tag action, and no other's.
    assert!(ops[0].0.contains("states:ListTagsForResource"));
    assert!(!ops[0].0.contains("glue:GetTags"));
    // With the ambient account watched as well, the bridge's identity also reads.
    let mixed = format!("[[accounts]]\nname = \"home\"\n{ROLES}");
    let b = statements(&policy_args(&mixed, &["--bridge"]).unwrap());
    assert_eq!(b.len(), 2);
    assert!(b[0].0.contains("glue:GetJobRuns") && b[0].1 == "*");
    let err = policy_args(&mixed, &["--account", "nope"]).unwrap_err();
    assert!(err.contains("nope") && err.contains("analytics"), "{err}");
}

#[test]
fn the_trust_policy_trusts_the_principal_with_the_external_id() {
    let principal = "arn:aws:iam::111111111111:role/pipeline-otel-bridge";
    let t = policy_args(ROLES, &["--trust", "analytics", "--principal", principal]).unwrap();
    let st = &t["Statement"][0];
    assert_eq!(st["Effect"], "Allow");
    assert_eq!(st["Action"], "sts:AssumeRole");
    assert_eq!(st["Principal"]["AWS"], principal);
    assert_eq!(
        st["Condition"]["StringEquals"]["sts:ExternalId"],
        "ext-7f3a"
    );
    // No ExternalId configured: no condition.
    let t = policy_args(
        ROLES,
        &["--trust", "333333333333", "--principal", principal],
    )
    .unwrap();
    assert!(t["Statement"][0].get("Condition").is_none(), "{t}");
    // An assumed-role session ARN cannot be a principal.
    let err = policy_args(
        ROLES,
        &[
            "--trust",
            "analytics",
            "--principal",
            "arn:aws:sts::111111111111:assumed-role/x/y",
        ],
    )
    .unwrap_err();
    assert!(err.contains("--principal"), "{err}");
    // --trust needs --principal.
    assert!(policy_args(ROLES, &["--trust", "analytics"]).is_err());
}

fn policy(config: Option<&str>) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipeline-otel-bridge"));
    cmd.arg("iam-policy");
    if let Some(text) = config {
        let p = dir.path().join("bridge.toml");
        std::fs::write(&p, text).unwrap();
        cmd.args(["--config", p.to_str().unwrap()]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the policy is JSON")
}

fn actions(policy: &serde_json::Value) -> BTreeSet<String> {
    assert_eq!(policy["Version"], "2012-10-17");
    let st = policy["Statement"].as_array().unwrap();
    assert_eq!(st.len(), 1);
    assert_eq!(st[0]["Effect"], "Allow");
    assert_eq!(st[0]["Resource"], "*");
    st[0]["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_policy_names_every_call_the_code_makes_and_nothing_else() {
    let called = called_actions();
    assert!(called.contains("glue:GetJobRuns") && called.contains("sts:GetCallerIdentity"));
    let printed = actions(&policy(None));
    // Without roles nothing is assumed and without [ownership] no tag is read; the policies
    // with roles and tags cover those (below).
    let tag_actions: BTreeSet<String> = pipeline_otel_bridge::sources::ALL
        .iter()
        .flat_map(|s| s.tag_actions.iter().map(|a| a.to_string()))
        .collect();
    assert!(
        tag_actions.contains("glue:GetTags") && tag_actions.contains("states:ListTagsForResource")
    );
    let plain: BTreeSet<String> = called
        .iter()
        .filter(|a| *a != "sts:AssumeRole" && *a != "s3:ListBucket" && !tag_actions.contains(*a))
        .cloned()
        .collect();
    assert_eq!(printed, plain);
    // Read-only: no action that changes anything.
    for a in &printed {
        let op = a.split_once(':').unwrap().1;
        assert!(
            ["Get", "List", "Describe", "BatchGet"]
                .iter()
                .any(|p| op.starts_with(p)),
            "{a}"
        );
    }
    // The declarations, source by source, hold exactly those calls.
    let declared: BTreeSet<String> = pipeline_otel_bridge::sources::ALL
        .iter()
        .flat_map(|s| {
            s.iam_actions
                .iter()
                .chain(s.tag_actions)
                .map(|a| a.to_string())
        })
        .chain(["sts:GetCallerIdentity".to_string()])
        .chain([pipeline_otel_bridge::aws::credentials::IAM_ACTION.to_string()])
        .chain([pipeline_otel_bridge::arrivals::IAM_ACTION.to_string()])
        .collect();
    assert_eq!(declared, called);
}

/// With `[[arrivals]]` the policy has one more statement: s3:ListBucket (all ListObjectsV2
/// needs) on exactly the configured buckets, per account.
#[test]
fn arrivals_add_list_bucket_on_their_buckets_only() {
    let called = called_actions();
    assert!(called.contains("s3:ListBucket"), "{called:?}");
    // [ownership] reads tags, so the tag actions are in as well.
    let arrivals = "[ownership]\nteam_tags = [\"team\"]\n[[arrivals]]\nname = \"a\"\nurl = \"s3://landing/x/{date}/\"\nby = \"07:00\"\n\
         [[arrivals]]\nname = \"b\"\nurl = \"s3://partner-drop/y/\"\nby = \"08:00\"\n\
         [[arrivals]]\nname = \"c\"\nurl = \"s3://landing/z/{yyyy}/\"\nby = \"09:00\"\n";
    let p = policy(Some(arrivals));
    let st = statements(&p);
    assert_eq!(st.len(), 2, "{p}");
    let mut all: BTreeSet<String> = st.iter().flat_map(|(a, _)| a.clone()).collect();
    all.insert("sts:AssumeRole".to_string());
    assert_eq!(all, called, "with arrivals: every call the code makes");
    assert_eq!(st[1].0, ["s3:ListBucket".to_string()].into_iter().collect());
    assert_eq!(
        st[1].1,
        serde_json::json!(["arn:aws:s3:::landing", "arn:aws:s3:::partner-drop"])
    );
    // Per account: an arrival read with another account's credentials is in that account's
    // policy only.
    let two = format!(
        "{ROLES}[[arrivals]]\nname = \"d\"\naccount = \"333333333333\"\nregion = \"cn-north-1\"\nurl = \"s3://cn-bucket/\"\nby = \"07:00\"\n{}",
        arrivals.trim_start_matches("[ownership]\nteam_tags = [\"team\"]\n")
    );
    let analytics = policy_args(&two, &["--account", "analytics"]).unwrap();
    let st = statements(&analytics);
    assert_eq!(
        st[1].1,
        serde_json::json!(["arn:aws:s3:::landing", "arn:aws:s3:::partner-drop"])
    );
    let other = policy_args(&two, &["--account", "333333333333"]).unwrap();
    assert_eq!(
        statements(&other)[1].1,
        serde_json::json!(["arn:aws-cn:s3:::cn-bucket"])
    );
    // No arrivals, no S3.
    assert!(!actions(&policy(None)).contains("s3:ListBucket"));
}

#[test]
fn a_source_switched_off_takes_its_actions_with_it() {
    let all = actions(&policy(None));
    let some = actions(&policy(Some(
        "[emr]\nenabled = false\n[emr_serverless]\nenabled = false\n",
    )));
    assert!(some.iter().all(|a| all.contains(a)));
    assert!(!some
        .iter()
        .any(|a| a.starts_with("elasticmapreduce:") || a.starts_with("emr-serverless:")));
    assert!(some.contains("glue:GetJobRuns") && some.contains("states:ListExecutions"));
    // Glue jobs off, Step Functions on: the execution source still reads the Glue job runs
    // its tasks start.
    let sfn_only = actions(&policy(Some(
        "[glue]\nenabled = false\n[glue_workflows]\nenabled = false\n[glue_crawlers]\nenabled = false\n\
         [glue_data_quality]\nenabled = false\n[emr]\nenabled = false\n[emr_serverless]\nenabled = false\n",
    )));
    let want: BTreeSet<String> = [
        "glue:GetJobRun",
        "states:DescribeExecution",
        "states:GetExecutionHistory",
        "states:ListExecutions",
        "states:ListStateMachines",
        "sts:GetCallerIdentity",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(sfn_only, want);
}

#[test]
fn the_call_scan_reads_sdk_calls_and_nothing_else() {
    let text = "let page = client\n    .get_job_runs()\n    .job_name(n)\n    .send()\n    .await;\nclient.list_jobs().max_results(1);\nother.get_jobs();";
    let got: Vec<String> = sdk_calls(text).into_iter().collect();
    assert_eq!(got, ["get_job_runs", "list_jobs"]);
    assert_eq!(
        pascal("batch_get_data_quality_result"),
        "BatchGetDataQualityResult"
    );
}
