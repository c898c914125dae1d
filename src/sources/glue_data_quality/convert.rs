//! Glue Data Quality results → [`PipelineRun`]: a run per result, a task per rule.

use super::records::{DqResult, DqRuleResult, DqTable};
use super::{
    ATTR_ANALYZERS, ATTR_CATALOG_ID, ATTR_DATABASE_NAME, ATTR_EVALUATION_CONTEXT, ATTR_JOB_NAME,
    ATTR_JOB_RUN_ID, ATTR_OBSERVATIONS, ATTR_RULESET_EVALUATION_RUN_ID, ATTR_RULES_ERRORED,
    ATTR_RULES_FAILED, ATTR_RULES_PASSED, ATTR_RULE_DESCRIPTION, ATTR_RULE_METRICS,
    ATTR_RULE_RESULT, ATTR_SCORE, ATTR_TABLE_NAME, ERROR_RULES_FAILED, ERROR_RULE_ERROR,
    ERROR_RULE_ERRORS, ERROR_RULE_FAILED, LABEL_TABLE, RULES_FAILED, SCORE,
};
use crate::convert::{console_host, urlencode};
use crate::model::{
    truncate_message, Attr, Measure, MeasureKind, PipelineRun, RunError, RunLink, RunResult,
    RunStatus, TaskRun, MAX_MESSAGE_BYTES,
};
use std::collections::HashSet;

/// `link.reason` of a result's parent: the Glue job run that evaluated it.
pub const REASON_EVALUATED_IN: &str = "evaluated_in";

/// Longest `aws.glue.data_quality.rule.evaluated_metrics` value.
const MAX_METRICS_BYTES: usize = 1024;

/// How many failed (or errored) rules the run's error message names.
const NAMED_RULES: usize = 3;

/// A rule's outcome as a task result: `PASS` → success, `FAIL` → failure (the data did not
/// meet the rule), `ERROR` → error (the rule could not be evaluated: a missing column, a bad
/// expression). An outcome the API does not document is not taken as a pass: error.
pub fn rule_result(result: Option<&str>) -> RunResult {
    match result {
        Some("PASS") => RunResult::Success,
        Some("FAIL") => RunResult::Failure,
        _ => RunResult::Error,
    }
}

/// Rules passed, failed and errored (undocumented outcomes count as errored).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleCounts {
    pub passed: usize,
    pub failed: usize,
    pub errored: usize,
}

impl RuleCounts {
    pub fn of(rules: &[DqRuleResult]) -> RuleCounts {
        let mut c = RuleCounts::default();
        for r in rules {
            match rule_result(r.result.as_deref()) {
                RunResult::Success => c.passed += 1,
                RunResult::Failure => c.failed += 1,
                _ => c.errored += 1,
            }
        }
        c
    }
}

/// The result of a whole evaluation: any rule failed → failure (`RulesFailed`); else any rule
/// errored → error (`RuleErrors`); else success (also with no rules at all: nothing failed).
pub fn status(counts: RuleCounts) -> RunResult {
    if counts.failed > 0 {
        RunResult::Failure
    } else if counts.errored > 0 {
        RunResult::Error
    } else {
        RunResult::Success
    }
}

/// `2 of 5 rules failed: Rule_2, Rule_4`: how many rules of `of` ended `want`, naming the
/// first [`NAMED_RULES`].
fn summary(rules: &[DqRuleResult], want: RunResult, verb: &str) -> String {
    let names: Vec<String> = rules
        .iter()
        .enumerate()
        .filter(|(_, r)| rule_result(r.result.as_deref()) == want)
        .map(|(i, r)| rule_name(i, r))
        .collect();
    let n = names.len();
    let mut shown = names
        .iter()
        .take(NAMED_RULES)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if n > NAMED_RULES {
        shown.push_str(&format!(" and {} more", n - NAMED_RULES));
    }
    let noun = if rules.len() == 1 { "rule" } else { "rules" };
    format!("{n} of {} {noun} {verb}: {shown}", rules.len())
}

/// A rule's name, or `Rule_{n}` (its position, as Glue names rules) when AWS gave none.
fn rule_name(index: usize, rule: &DqRuleResult) -> String {
    if rule.name.trim().is_empty() {
        format!("Rule_{}", index + 1)
    } else {
        rule.name.clone()
    }
}

/// `Column.order_id.Completeness=0.98, Dataset.*.RowCount=1200`, cut to
/// [`MAX_METRICS_BYTES`]; non-finite values are left out.
fn metrics_text(rule: &DqRuleResult) -> Option<String> {
    let parts: Vec<String> = rule
        .evaluated_metrics
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    (!parts.is_empty()).then(|| truncate_message(&parts.join(", "), MAX_METRICS_BYTES))
}

/// The attempt of a Glue job run from its id: a retry's id ends in `_attempt_{n}`
/// (`jr_…_attempt_1`), a first run's does not (attempt 0).
pub fn job_run_attempt(job_run_id: &str) -> u32 {
    job_run_id
        .rsplit_once("_attempt_")
        .and_then(|(_, n)| n.parse::<u32>().ok())
        .unwrap_or(0)
}

/// The Glue job run whose trace a result belongs in (`evaluated_in`), when a job run
/// evaluated it (`EvaluateDataQuality` in its script).
pub fn evaluated_in(account: &str, region: &str, result: &DqResult) -> Option<RunLink> {
    let job = result.job_name.as_deref().filter(|s| !s.is_empty())?;
    let run_id = result.job_run_id.as_deref().filter(|s| !s.is_empty())?;
    Some(RunLink {
        pipeline: crate::sources::glue_job::pipeline(account, region, job),
        run_id: run_id.to_string(),
        attempt: job_run_attempt(run_id),
        reason: REASON_EVALUATED_IN,
    })
}

/// `db.table`: the table as a metric label.
pub fn table_label(t: &DqTable) -> String {
    format!("{}.{}", t.database_name, t.table_name)
}

/// The console page of a result:
/// - evaluated by a ruleset evaluation run on a table: the table's evaluation run page in the
///   Glue console (`#/v2/data-catalog/tables/evaluation-run-details/{table}?database=…&catalogId=…&runid=…`);
/// - evaluated in a job run: the job's Data quality tab in Glue Studio;
/// - else the table's page in the Data Catalog (its Data quality tab lists the results).
pub fn result_url(account: &str, region: &str, result: &DqResult) -> Option<String> {
    let host = console_host(region);
    let table = result
        .table()
        .filter(|t| !t.table_name.is_empty() && !t.database_name.is_empty());
    let run_id = result
        .ruleset_evaluation_run_id
        .as_deref()
        .filter(|s| !s.is_empty());
    let catalog = |t: &DqTable| {
        t.catalog_id
            .as_deref()
            .filter(|c| !c.is_empty())
            .unwrap_or(account)
            .to_string()
    };
    if let (Some(t), Some(run)) = (table, run_id) {
        return Some(format!(
            "https://{host}/glue/home?region={region}#/v2/data-catalog/tables/evaluation-run-details/{}?database={}&catalogId={}&runid={}",
            urlencode(&t.table_name),
            urlencode(&t.database_name),
            urlencode(&catalog(t)),
            urlencode(run)
        ));
    }
    if let Some(job) = result.job_name.as_deref().filter(|s| !s.is_empty()) {
        return Some(format!(
            "https://{host}/gluestudio/home?region={region}#/editor/job/{}/dataquality",
            urlencode(job)
        ));
    }
    table.map(|t| {
        format!(
            "https://{host}/glue/home?region={region}#/v2/data-catalog/tables/view/{}?database={}&catalogId={}",
            urlencode(&t.table_name),
            urlencode(&t.database_name),
            urlencode(&catalog(t))
        )
    })
}

/// Converts one result of ruleset `ruleset`. Returns `None` for a result without an id or
/// any timestamp, which cannot be identified or placed in time. A result is always a
/// finished run: Glue writes it when the evaluation completes.
pub fn to_run(account: &str, region: &str, ruleset: &str, r: &DqResult) -> Option<PipelineRun> {
    if r.result_id.is_empty() {
        return None;
    }
    let start = r.started_on.or(r.completed_on)?;
    // No CompletedOn: it ended at its start; an end before the start is clamped.
    let end = r.completed_on.unwrap_or(start).max(start);
    let counts = RuleCounts::of(&r.rule_results);
    let result = status(counts);
    let error = match result {
        RunResult::Failure => Some(RunError {
            error_type: ERROR_RULES_FAILED.to_string(),
            message: truncate_message(
                &summary(&r.rule_results, RunResult::Failure, "failed"),
                MAX_MESSAGE_BYTES,
            ),
        }),
        RunResult::Error => Some(RunError {
            error_type: ERROR_RULE_ERRORS.to_string(),
            message: truncate_message(
                &summary(&r.rule_results, RunResult::Error, "could not be evaluated"),
                MAX_MESSAGE_BYTES,
            ),
        }),
        _ => None,
    };
    let aws_state = match result {
        RunResult::Failure => "FAIL",
        RunResult::Error => "ERROR",
        _ => "PASS",
    };
    let score = r.score.filter(|s| s.is_finite() && *s >= 0.0);
    let table = r
        .table()
        .filter(|t| !t.table_name.is_empty() || !t.database_name.is_empty());

    let int = |key, n: usize| Attr::int(key, i64::try_from(n).unwrap_or(i64::MAX));
    let opt_str = |key, v: Option<&String>| {
        v.filter(|v| !v.is_empty())
            .map(|v| Attr::str(key, v.clone()))
    };
    let mut attributes = Vec::new();
    attributes.extend(score.map(|s| Attr::f64(ATTR_SCORE, s)));
    attributes.extend([
        int(ATTR_RULES_PASSED, counts.passed),
        int(ATTR_RULES_FAILED, counts.failed),
        int(ATTR_RULES_ERRORED, counts.errored),
    ]);
    if let Some(t) = table {
        attributes.extend(opt_str(ATTR_DATABASE_NAME, Some(&t.database_name)));
        attributes.extend(opt_str(ATTR_TABLE_NAME, Some(&t.table_name)));
        attributes.extend(opt_str(ATTR_CATALOG_ID, t.catalog_id.as_ref()));
    }
    attributes.extend(opt_str(
        ATTR_EVALUATION_CONTEXT,
        r.evaluation_context.as_ref(),
    ));
    attributes.extend(opt_str(
        ATTR_RULESET_EVALUATION_RUN_ID,
        r.ruleset_evaluation_run_id.as_ref(),
    ));
    attributes.extend(opt_str(ATTR_JOB_NAME, r.job_name.as_ref()));
    attributes.extend(opt_str(ATTR_JOB_RUN_ID, r.job_run_id.as_ref()));
    if !r.analyzer_results.is_empty() {
        attributes.push(int(ATTR_ANALYZERS, r.analyzer_results.len()));
    }
    if !r.observations.is_empty() {
        attributes.push(int(ATTR_OBSERVATIONS, r.observations.len()));
    }

    // Labels: the table, low cardinality (a ruleset is written for one table, mostly).
    let labels: Vec<(&'static str, String)> = table
        .map(|t| vec![(LABEL_TABLE, table_label(t))])
        .unwrap_or_default();
    let mut measures = vec![Measure {
        metric: &RULES_FAILED,
        kind: MeasureKind::Sum,
        value: counts.failed as f64,
        labels: labels.clone(),
    }];
    measures.extend(score.map(|s| Measure {
        metric: &SCORE,
        kind: MeasureKind::Last,
        value: s,
        labels,
    }));

    // A task per rule. Glue gives no time per rule: each covers the evaluation.
    let mut ids = HashSet::new();
    let tasks = r
        .rule_results
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let name = rule_name(i, rule);
            let mut run_id = name.clone();
            if !ids.insert(run_id.clone()) {
                // Two rules of one name: the later ones are told apart by position.
                run_id = format!("{name}#{}", i + 1);
                ids.insert(run_id.clone());
            }
            rule_task(name, run_id, start, end, rule)
        })
        .collect();

    Some(PipelineRun {
        pipeline: super::pipeline(account, region, ruleset),
        run_id: r.result_id.clone(),
        attempt: 0,
        previous_run_id: None,
        aws_state: aws_state.to_string(),
        status: RunStatus::Ended(result),
        start,
        end: Some(end),
        error,
        will_retry: false,
        dpu_seconds: None,
        url: result_url(account, region, r),
        sla_secs: None,
        queued_until: None,
        links: Vec::new(),
        parent: evaluated_in(account, region, r),
        measures,
        attributes,
        tasks,
    })
}

fn rule_task(
    name: String,
    run_id: String,
    start: crate::records::Millis,
    end: crate::records::Millis,
    rule: &DqRuleResult,
) -> TaskRun {
    let result = rule_result(rule.result.as_deref());
    let error = result.is_error().then(|| RunError {
        error_type: match (result, rule.result.as_deref()) {
            (RunResult::Failure, _) => ERROR_RULE_FAILED.to_string(),
            (_, Some("ERROR")) => ERROR_RULE_ERROR.to_string(),
            (_, Some(other)) if !other.is_empty() => other.to_string(),
            _ => "_OTHER".to_string(),
        },
        message: truncate_message(
            rule.evaluation_message.as_deref().unwrap_or_default(),
            MAX_MESSAGE_BYTES,
        ),
    });
    let mut attributes = Vec::new();
    attributes.extend(
        rule.result
            .as_ref()
            .filter(|s| !s.is_empty())
            .map(|s| Attr::str(ATTR_RULE_RESULT, s.clone())),
    );
    attributes.extend(
        rule.description
            .as_ref()
            .filter(|s| !s.is_empty())
            .map(|s| {
                Attr::str(
                    ATTR_RULE_DESCRIPTION,
                    truncate_message(s, MAX_MESSAGE_BYTES),
                )
            }),
    );
    attributes.extend(metrics_text(rule).map(|m| Attr::str(ATTR_RULE_METRICS, m)));
    TaskRun {
        name,
        run_id,
        kind: "Rule".to_string(),
        start,
        end,
        result,
        error,
        attributes,
        links: Vec::new(),
        children: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, result: &str) -> DqRuleResult {
        DqRuleResult {
            name: name.to_string(),
            result: Some(result.to_string()),
            ..DqRuleResult::default()
        }
    }

    #[test]
    fn outcomes() {
        assert_eq!(rule_result(Some("PASS")), RunResult::Success);
        assert_eq!(rule_result(Some("FAIL")), RunResult::Failure);
        assert_eq!(rule_result(Some("ERROR")), RunResult::Error);
        for odd in [None, Some(""), Some("pass"), Some("WARN")] {
            assert_eq!(rule_result(odd), RunResult::Error, "{odd:?}");
        }
        let c = |rs: &[(&str, &str)]| {
            status(RuleCounts::of(
                &rs.iter().map(|(n, r)| rule(n, r)).collect::<Vec<_>>(),
            ))
        };
        assert_eq!(c(&[]), RunResult::Success);
        assert_eq!(c(&[("a", "PASS")]), RunResult::Success);
        assert_eq!(c(&[("a", "PASS"), ("b", "ERROR")]), RunResult::Error);
        assert_eq!(
            c(&[("a", "ERROR"), ("b", "FAIL"), ("c", "PASS")]),
            RunResult::Failure
        );
    }

    #[test]
    fn messages_name_the_first_rules() {
        let rules: Vec<_> = ["PASS", "FAIL", "FAIL", "ERROR", "FAIL", "FAIL", "FAIL"]
            .iter()
            .enumerate()
            .map(|(i, r)| rule(&format!("Rule_{}", i + 1), r))
            .collect();
        assert_eq!(
            summary(&rules, RunResult::Failure, "failed"),
            "5 of 7 rules failed: Rule_2, Rule_3, Rule_5 and 2 more"
        );
        assert_eq!(
            summary(&rules[..4], RunResult::Error, "could not be evaluated"),
            "1 of 4 rules could not be evaluated: Rule_4"
        );
        assert_eq!(
            summary(&[rule("", "FAIL")], RunResult::Failure, "failed"),
            "1 of 1 rule failed: Rule_1"
        );
    }

    #[test]
    fn attempts_from_job_run_ids() {
        assert_eq!(job_run_attempt("jr_0123abcd"), 0);
        assert_eq!(job_run_attempt("jr_0123abcd_attempt_2"), 2);
        assert_eq!(job_run_attempt("jr_x_attempt_"), 0);
        assert_eq!(job_run_attempt("jr_x_attempt_-1"), 0);
        assert_eq!(job_run_attempt("jr_x_attempt_99999999999"), 0);
    }

    #[test]
    fn console_links() {
        let table = |catalog: Option<&str>| super::super::records::DqDataSource {
            glue_table: Some(DqTable {
                database_name: "sales db".into(),
                table_name: "orders".into(),
                catalog_id: catalog.map(str::to_string),
            }),
            data_quality_glue_table: None,
        };
        let mut r = DqResult {
            result_id: "dqresult-1".into(),
            data_source: Some(table(None)),
            ruleset_evaluation_run_id: Some("dqrun-9".into()),
            ..DqResult::default()
        };
        assert_eq!(
            result_url("123456789012", "eu-west-1", &r).unwrap(),
            "https://eu-west-1.console.aws.amazon.com/glue/home?region=eu-west-1\
             #/v2/data-catalog/tables/evaluation-run-details/orders?database=sales%20db\
             &catalogId=123456789012&runid=dqrun-9"
        );
        r.ruleset_evaluation_run_id = None;
        r.job_name = Some("orders etl".into());
        assert_eq!(
            result_url("1", "cn-north-1", &r).unwrap(),
            "https://cn-north-1.console.amazonaws.cn/gluestudio/home?region=cn-north-1\
             #/editor/job/orders%20etl/dataquality"
        );
        r.job_name = None;
        r.data_source = Some(table(Some("999")));
        assert_eq!(
            result_url("1", "us-east-1", &r).unwrap(),
            "https://us-east-1.console.aws.amazon.com/glue/home?region=us-east-1\
             #/v2/data-catalog/tables/view/orders?database=sales%20db&catalogId=999"
        );
        r.data_source = None;
        assert_eq!(result_url("1", "us-east-1", &r), None);
    }
}
