//! Step Functions executions and their histories → [`PipelineRun`] with a task tree.
//!
//! The history is a flat list of events; nesting is recovered from `previousEventId`: every
//! event points at the one that led to it, the first state of a Map iteration points at its
//! `MapIterationStarted` and the first state of a Parallel branch at `ParallelStateStarted`.
//! Each event is thus placed in a *context* (the execution, one iteration, one branch); closing
//! events (`…StateExited`, `MapStateSucceeded`, …) are matched to the innermost open state of
//! their name or type, walking out through the contexts.

use super::records::{HistoryEvent, SfnExecution, Started};
use crate::convert::{console_host, urlencode};
use crate::model::{
    truncate_message, Attr, PipelineRun, RunError, RunLink, RunPhase, RunResult, RunStatus,
    TaskRun, MAX_MESSAGE_BYTES,
};
use crate::records::Millis;
use crate::semconv as sc;
use crate::sources::glue_job::records::GlueJobRun;
use std::collections::HashMap;

/// Maps an execution `status`. Unknown statuses count as in flight (re-read, never guessed).
pub fn status(s: &str) -> RunStatus {
    match s {
        "SUCCEEDED" => RunStatus::Ended(RunResult::Success),
        "FAILED" => RunStatus::Ended(RunResult::Failure),
        "TIMED_OUT" => RunStatus::Ended(RunResult::Timeout),
        "ABORTED" => RunStatus::Ended(RunResult::Cancellation),
        "PENDING_REDRIVE" => RunStatus::InFlight(RunPhase::Pending),
        _ => RunStatus::InFlight(RunPhase::Executing),
    }
}

/// The state machine's name from an execution ARN
/// (`arn:aws:states:{region}:{account}:execution:{state machine}:{execution}`).
pub fn state_machine_name(execution_arn: &str) -> Option<&str> {
    let mut parts = execution_arn.split(':');
    (parts.nth(5)? == "execution").then_some(())?;
    parts.next()
}

/// Converts an execution; `history` is empty while it is in flight (it is fetched only once the
/// execution ended). Returns `None` when the execution has no start date.
pub fn to_run(
    account: &str,
    region: &str,
    state_machine: &str,
    exec: &SfnExecution,
    history: &[HistoryEvent],
) -> Option<PipelineRun> {
    // Attempt n (the redrive count) holds the events after the n-th `ExecutionRedriven` and
    // before the next one: each attempt's trace has what ran in it, even when a redrive
    // happened between the listing and the history read (the history then runs ahead). The
    // earlier attempts were exported as their own traces when they ended.
    let redrives = exec.redrive_count.unwrap_or(0).max(0);
    let mut redrive_ids: Vec<(i64, Millis)> = history
        .iter()
        .filter(|e| e.kind == "ExecutionRedriven")
        .map(|e| (e.id, e.timestamp))
        .collect();
    redrive_ids.sort();
    let n = usize::try_from(redrives).unwrap_or(usize::MAX);
    let after = n.checked_sub(1).and_then(|i| redrive_ids.get(i).copied());
    let before = redrive_ids.get(n).map(|(id, _)| *id);
    let history: Vec<HistoryEvent> = history
        .iter()
        .filter(|e| after.is_none_or(|(a, _)| e.id > a) && before.is_none_or(|b| e.id < b))
        .cloned()
        .collect();
    let history = history.as_slice();
    let start = after
        .map(|(_, t)| t)
        .or(exec.start_date)
        .or_else(|| history.first().map(|e| e.timestamp))?;
    let status = status(&exec.status);
    let end = match status {
        RunStatus::InFlight(_) => None,
        // No stop date, or one before the start: the last history event stands in; an end
        // before the start is clamped (zero-length run).
        RunStatus::Ended(_) => Some(
            exec.stop_date
                .filter(|s| *s >= start)
                .or_else(|| history.iter().map(|e| e.timestamp).max())
                .unwrap_or(start)
                .max(start),
        ),
    };
    let error = match status {
        RunStatus::Ended(r) if r.is_error() => {
            let (error_type, cause) = match exec.error.clone().filter(|e| !e.is_empty()) {
                Some(e) => (e, exec.cause.clone().unwrap_or_default()),
                None => closing_error(history).unwrap_or_else(|| {
                    (exec.status.clone(), exec.cause.clone().unwrap_or_default())
                }),
            };
            Some(RunError {
                error_type,
                message: truncate_message(&cause, MAX_MESSAGE_BYTES),
            })
        }
        _ => None,
    };
    let attributes = vec![
        Attr::str(
            sc::AWS_SFN_STATE_MACHINE_ARN,
            exec.state_machine_arn.clone(),
        ),
        Attr::str(sc::AWS_SFN_EXECUTION_STATUS, exec.status.clone()),
        Attr::int(sc::AWS_SFN_REDRIVE_COUNT, i64::from(redrives)),
    ];
    let tasks = match end {
        Some(end) => build_tasks(account, region, history, end),
        None => Vec::new(),
    };
    Some(PipelineRun {
        queued_until: None,
        parent: None,
        links: Vec::new(),
        measures: Vec::new(),
        pipeline: super::pipeline(account, region, state_machine, &exec.state_machine_arn),
        run_id: exec.execution_arn.clone(),
        attempt: redrives as u32,
        // A redrive links to the attempt it ran again (same execution, attempt - 1).
        previous_run_id: (redrives > 0).then(|| exec.execution_arn.clone()),
        aws_state: exec.status.clone(),
        status,
        start,
        end,
        error,
        // An execution is run again only by a redrive someone starts.
        will_retry: false,
        dpu_seconds: None,
        sla_secs: None,
        url: Some(format!(
            "https://{}/states/home?region={region}#/v2/executions/details/{}",
            console_host(region),
            urlencode(&exec.execution_arn)
        )),
        attributes,
        tasks,
    })
}

/// A place events happen in: the execution itself, a Map iteration or a Parallel branch.
struct Ctx {
    parent: Option<usize>,
    /// Node that owns the context (the iteration, or the Parallel state); `None` for the root.
    owner: Option<usize>,
    /// States entered here and not yet closed, innermost last.
    open: Vec<usize>,
}

struct Node {
    task: TaskRun,
    parent: Option<usize>,
    /// Context the node lives in.
    ctx: usize,
    /// State type (`Task`, `Map`, …); `MapIteration` and `TaskAttempt` for the synthetic ones.
    state_type: String,
    /// Whether an event set the result (else it is decided at the end).
    decided: bool,
    /// Time of the latest event seen for it (end of a node that never closed).
    last_seen: Millis,
    /// Task attempts (scheduled events) below a Task state.
    attempts: Vec<usize>,
    /// What a task attempt started (a Glue job run, an execution), as far as its events say.
    started: Option<Started>,
}

struct Builder<'a> {
    nodes: Vec<Node>,
    ctxs: Vec<Ctx>,
    /// Context of each event, by event id.
    event_ctx: HashMap<i64, usize>,
    events_by_id: HashMap<i64, &'a HistoryEvent>,
    /// Iteration context opened by a `MapIterationStarted` event.
    iteration_ctx: HashMap<i64, usize>,
    /// Iteration nodes by (Map node, index).
    iterations: HashMap<(usize, i64), usize>,
    /// Owner Parallel node of a `ParallelStateStarted` event.
    parallel_of: HashMap<i64, usize>,
    /// Where the execution runs: the runs its tasks start are looked for there.
    account: &'a str,
    region: &'a str,
}

const STATE_ENTERED: &str = "StateEntered";
const STATE_EXITED: &str = "StateExited";

/// Builds the task tree of a finished execution. Pure; `end` closes whatever never closed.
pub fn build_tasks(
    account: &str,
    region: &str,
    history: &[HistoryEvent],
    end: Millis,
) -> Vec<TaskRun> {
    let mut sorted: Vec<&HistoryEvent> = history.iter().collect();
    sorted.sort_by_key(|e| e.id);
    let mut b = Builder {
        nodes: Vec::new(),
        ctxs: vec![Ctx {
            parent: None,
            owner: None,
            open: Vec::new(),
        }],
        event_ctx: HashMap::new(),
        events_by_id: sorted.iter().map(|e| (e.id, *e)).collect(),
        iteration_ctx: HashMap::new(),
        iterations: HashMap::new(),
        parallel_of: HashMap::new(),
        account,
        region,
    };
    let mut exec_outcome: Option<RunResult> = None;
    let mut prev_id = 0;
    for e in &sorted {
        // An event without a usable predecessor follows the one before it in id order.
        let p = match b.events_by_id.get(&e.previous_event_id) {
            Some(p) if e.previous_event_id < e.id => Some(*p),
            _ => b.events_by_id.get(&prev_id).copied(),
        };
        prev_id = e.id;
        let ctx = b.context_after(p);
        let ctx = b.apply(e, ctx, &mut exec_outcome);
        b.event_ctx.insert(e.id, ctx);
    }
    b.finish(end, exec_outcome)
}

fn details_error(e: &HistoryEvent) -> RunError {
    RunError {
        error_type: e
            .error
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| e.kind.clone()),
        message: truncate_message(e.cause.as_deref().unwrap_or_default(), MAX_MESSAGE_BYTES),
    }
}

impl Builder<'_> {
    /// The context an event lives in, judged from its predecessor alone.
    fn context_after(&mut self, p: Option<&HistoryEvent>) -> usize {
        let Some(p) = p else { return 0 };
        if let Some(c) = self.iteration_ctx.get(&p.id) {
            return *c;
        }
        if p.kind == "ParallelStateStarted" {
            // Each event that follows ParallelStateStarted directly starts a new branch.
            let owner = self.parallel_of.get(&p.id).copied();
            let parent = self.event_ctx.get(&p.id).copied().unwrap_or(0);
            self.ctxs.push(Ctx {
                parent: Some(parent),
                owner,
                open: Vec::new(),
            });
            return self.ctxs.len() - 1;
        }
        self.event_ctx.get(&p.id).copied().unwrap_or(0)
    }

    /// Innermost open state, from `ctx` outwards, that `pred` accepts.
    fn find_open(&self, ctx: usize, pred: impl Fn(&Node) -> bool) -> Option<usize> {
        let mut c = Some(ctx);
        while let Some(ci) = c {
            if let Some(n) = self.ctxs[ci]
                .open
                .iter()
                .rev()
                .find(|n| pred(&self.nodes[**n]))
            {
                return Some(*n);
            }
            c = self.ctxs[ci].parent;
        }
        None
    }

    fn add_node(
        &mut self,
        ctx: usize,
        parent: Option<usize>,
        task: TaskRun,
        state_type: &str,
    ) -> usize {
        let last_seen = task.start;
        self.nodes.push(Node {
            task,
            parent,
            ctx,
            state_type: state_type.to_string(),
            decided: false,
            last_seen,
            attempts: Vec::new(),
            started: None,
        });
        self.nodes.len() - 1
    }

    fn close(&mut self, node: usize, at: Millis) {
        let n = &mut self.nodes[node];
        n.task.end = at.max(n.task.start);
        n.last_seen = n.task.end;
        let ctx = n.ctx;
        self.ctxs[ctx].open.retain(|x| *x != node);
    }

    fn decide(&mut self, node: usize, result: RunResult, error: Option<RunError>) {
        let n = &mut self.nodes[node];
        n.task.result = result;
        n.task.error = error;
        n.decided = true;
    }

    /// Applies one event; returns the context the next events inherit from it.
    fn apply(
        &mut self,
        e: &HistoryEvent,
        ctx: usize,
        exec_outcome: &mut Option<RunResult>,
    ) -> usize {
        let k = e.kind.as_str();
        let t = e.timestamp;
        if let Some(state_type) = k.strip_suffix(STATE_ENTERED) {
            let parent = self.ctxs[ctx].owner;
            let task = TaskRun {
                links: Vec::new(),
                name: e.name.clone().unwrap_or_else(|| state_type.to_string()),
                run_id: e.id.to_string(),
                kind: state_type.to_string(),
                start: t,
                end: t,
                result: RunResult::Success,
                error: None,
                attributes: vec![Attr::str(sc::AWS_SFN_STATE_TYPE, state_type)],
                children: Vec::new(),
            };
            let node = self.add_node(ctx, parent, task, state_type);
            self.ctxs[ctx].open.push(node);
            if state_type == "Fail" {
                // The Fail state is what fails the execution; its error is the execution's.
                self.decide(node, RunResult::Failure, None);
            }
            return ctx;
        }
        if let Some(state_type) = k.strip_suffix(STATE_EXITED) {
            let name = e.name.clone();
            let found = self.find_open(ctx, |n| {
                n.state_type == state_type && name.as_ref().is_none_or(|x| *x == n.task.name)
            });
            if let Some(node) = found {
                self.close(node, t);
                return self.nodes[node].ctx;
            }
            return ctx;
        }
        match k {
            "MapStateStarted" | "ParallelStateStarted" => {
                let ty = &k[..k.len() - "StateStarted".len()];
                if let Some(node) = self.find_open(ctx, |n| n.state_type == ty) {
                    if ty == "Parallel" {
                        self.parallel_of.insert(e.id, node);
                    }
                    return self.nodes[node].ctx;
                }
                ctx
            }
            "MapIterationStarted" => {
                let name = e.name.clone();
                let Some(map) = self.find_open(ctx, |n| {
                    n.state_type == "Map" && name.as_ref().is_none_or(|x| *x == n.task.name)
                }) else {
                    return ctx;
                };
                let index = e.index.unwrap_or(0);
                let map_ctx = self.nodes[map].ctx;
                let task = TaskRun {
                    links: Vec::new(),
                    name: format!("{}[{index}]", self.nodes[map].task.name),
                    run_id: e.id.to_string(),
                    kind: "MapIteration".to_string(),
                    start: t,
                    end: t,
                    result: RunResult::Success,
                    error: None,
                    attributes: vec![
                        Attr::str(sc::AWS_SFN_STATE_TYPE, "MapIteration"),
                        Attr::int(sc::AWS_SFN_MAP_ITERATION_INDEX, index),
                    ],
                    children: Vec::new(),
                };
                let it = self.add_node(map_ctx, Some(map), task, "MapIteration");
                self.iterations.insert((map, index), it);
                self.ctxs.push(Ctx {
                    parent: Some(map_ctx),
                    owner: Some(it),
                    open: Vec::new(),
                });
                let ictx = self.ctxs.len() - 1;
                self.iteration_ctx.insert(e.id, ictx);
                map_ctx
            }
            "MapIterationSucceeded" | "MapIterationFailed" | "MapIterationAborted" => {
                let name = e.name.clone();
                let Some(map) = self.find_open(ctx, |n| {
                    n.state_type == "Map" && name.as_ref().is_none_or(|x| *x == n.task.name)
                }) else {
                    return ctx;
                };
                if let Some(it) = self.iterations.get(&(map, e.index.unwrap_or(0))).copied() {
                    self.nodes[it].task.end = t.max(self.nodes[it].task.start);
                    self.nodes[it].last_seen = t;
                    match k {
                        "MapIterationFailed" => self.decide(
                            it,
                            RunResult::Failure,
                            e.error.as_ref().map(|_| details_error(e)),
                        ),
                        "MapIterationAborted" => self.decide(it, RunResult::Cancellation, None),
                        _ => self.decide(it, RunResult::Success, None),
                    }
                }
                self.nodes[map].ctx
            }
            // A Distributed Map: its Map Run (the child executions are read when the execution
            // has ended, see `attach_map_runs`); a failed Map Run fails the Map with its error.
            "MapRunStarted" | "MapRunFailed" => {
                let Some(node) = self.find_open(ctx, |n| n.state_type == "Map") else {
                    return ctx;
                };
                if let Some(arn) = &e.map_run_arn {
                    let attrs = &mut self.nodes[node].task.attributes;
                    attrs.push(Attr::str(sc::AWS_SFN_MAP_RUN_ARN, arn.clone()));
                }
                if k == "MapRunFailed" {
                    self.decide(node, RunResult::Failure, Some(details_error(e)));
                }
                self.nodes[node].last_seen = t;
                ctx
            }
            "MapStateSucceeded"
            | "MapStateFailed"
            | "MapStateAborted"
            | "ParallelStateSucceeded"
            | "ParallelStateFailed"
            | "ParallelStateAborted" => {
                let (ty, outcome) = k.split_once("State").unwrap_or((k, ""));
                let Some(node) = self.find_open(ctx, |n| n.state_type == ty && !n.decided) else {
                    return ctx;
                };
                match outcome {
                    "Failed" => {
                        let err = e.error.as_ref().map(|_| details_error(e));
                        self.decide(node, RunResult::Failure, err)
                    }
                    "Aborted" => self.decide(node, RunResult::Cancellation, None),
                    _ => self.decide(node, RunResult::Success, None),
                }
                self.nodes[node].last_seen = t;
                self.nodes[node].ctx
            }
            "ExecutionFailed" | "ExecutionTimedOut" | "ExecutionAborted" => {
                let result = match k {
                    "ExecutionFailed" => RunResult::Failure,
                    "ExecutionTimedOut" => RunResult::Timeout,
                    _ => RunResult::Cancellation,
                };
                *exec_outcome = Some(result);
                // A Fail state carries the execution's error.
                if k == "ExecutionFailed" {
                    for n in &mut self.nodes {
                        if n.state_type == "Fail" && n.task.error.is_none() {
                            n.task.error = Some(details_error(e));
                            n.task.end = t.max(n.task.start);
                        }
                    }
                }
                self.close_all_open(t, Some(result));
                ctx
            }
            "ExecutionRedriven" => {
                // A redrive resumes a failed execution; what ran before was closed at the
                // failure, what follows is judged afresh.
                *exec_outcome = None;
                ctx
            }
            _ if k.ends_with("StateAborted") => {
                // Aborted because a sibling branch failed. The event names no state and points
                // at the failure, so take the innermost open state of the type, else any.
                let ty = &k[..k.len() - "StateAborted".len()];
                let node = self
                    .find_open(ctx, |n| n.state_type == ty && !n.decided)
                    .or_else(|| {
                        (0..self.nodes.len()).find(|i| {
                            let n = &self.nodes[*i];
                            n.state_type == ty && !n.decided && self.ctxs[n.ctx].open.contains(i)
                        })
                    });
                if let Some(node) = node {
                    self.decide(node, RunResult::Cancellation, None);
                    self.close(node, t);
                }
                ctx
            }
            _ if is_task_event(k) => {
                self.apply_task_event(e, ctx);
                ctx
            }
            _ => ctx,
        }
    }

    /// Task/Lambda/Activity events: each `…Scheduled` opens an attempt of the innermost open
    /// Task state; success, failure or time-out closes it.
    fn apply_task_event(&mut self, e: &HistoryEvent, ctx: usize) {
        let Some(task) = self.find_open(ctx, |n| n.state_type == "Task") else {
            return;
        };
        let k = e.kind.as_str();
        let t = e.timestamp;
        self.nodes[task].last_seen = t;
        if k.ends_with("Scheduled") {
            let n = self.nodes[task].attempts.len() + 1;
            let mut attributes = vec![
                Attr::str(sc::AWS_SFN_STATE_TYPE, "TaskAttempt"),
                Attr::int(sc::AWS_SFN_TASK_ATTEMPT, n as i64),
            ];
            if let Some(r) = &e.resource_type {
                attributes.push(Attr::str(sc::AWS_SFN_TASK_RESOURCE_TYPE, r.clone()));
            }
            if let Some(r) = &e.resource {
                attributes.push(Attr::str(sc::AWS_SFN_TASK_RESOURCE, r.clone()));
            }
            let name = format!("{} attempt {n}", self.nodes[task].task.name);
            let ctx_of_task = self.nodes[task].ctx;
            let attempt = self.add_node(
                ctx_of_task,
                Some(task),
                TaskRun {
                    links: Vec::new(),
                    name,
                    run_id: e.id.to_string(),
                    kind: "TaskAttempt".to_string(),
                    start: t,
                    end: t,
                    result: RunResult::Success,
                    error: None,
                    attributes,
                    children: Vec::new(),
                },
                "TaskAttempt",
            );
            self.nodes[task].attempts.push(attempt);
            self.note_started(attempt, e);
            return;
        }
        let outcome = if k.ends_with("Succeeded") {
            Some((RunResult::Success, None))
        } else if k.ends_with("TimedOut") {
            Some((RunResult::Timeout, Some(details_error(e))))
        } else if k.ends_with("Failed") {
            Some((RunResult::Failure, Some(details_error(e))))
        } else {
            None
        };
        let Some(&attempt) = self.nodes[task].attempts.last() else {
            // A failure before anything was scheduled (e.g. LambdaFunctionScheduleFailed).
            if let Some((result, err)) = outcome {
                self.decide(task, result, err);
            }
            return;
        };
        self.nodes[attempt].last_seen = t;
        self.note_started(attempt, e);
        if let Some((result, err)) = outcome {
            self.nodes[attempt].task.end = t.max(self.nodes[attempt].task.start);
            self.decide(attempt, result, err.clone());
            self.decide(task, result, err);
        }
        // Resource details arrive on several events; keep the first seen on the attempt.
        for (key, v) in [
            (sc::AWS_SFN_TASK_RESOURCE_TYPE, &e.resource_type),
            (sc::AWS_SFN_TASK_RESOURCE, &e.resource),
        ] {
            if let Some(v) = v {
                let attrs = &mut self.nodes[attempt].task.attributes;
                if !attrs.iter().any(|a| a.key == key) {
                    attrs.push(Attr::str(key, v.clone()));
                }
            }
        }
    }

    /// Adds what the event says about the run the attempt started.
    fn note_started(&mut self, attempt: usize, e: &HistoryEvent) {
        let Some(st) = e.started.clone() else { return };
        match &mut self.nodes[attempt].started {
            Some(known) => known.merge(st),
            none => *none = Some(st),
        }
    }

    /// The runs the task attempts started: a Glue job run whose record is known (a `.sync`
    /// task) becomes a child span of the attempt, linked to the run's own trace; any other
    /// started run (a Glue job run only started, a child execution) is linked from the
    /// attempt.
    fn add_started_runs(&mut self) {
        for i in 0..self.nodes.len() {
            let Some(st) = self.nodes[i].started.take() else {
                continue;
            };
            match st {
                Started::Glue(rec) => {
                    if rec.job_name.is_empty() || rec.id.is_empty() {
                        continue;
                    }
                    match glue_child(self.account, self.region, &rec) {
                        Some(child) => {
                            let ctx = self.nodes[i].ctx;
                            let n = self.add_node(ctx, Some(i), child, "GlueJobRun");
                            self.nodes[n].decided = true;
                        }
                        // Only started (or no record): the link leads to its own trace.
                        None => {
                            let l = glue_link(self.account, self.region, &rec);
                            self.nodes[i].task.links.push(l);
                        }
                    }
                }
                Started::Execution(arn) => {
                    if let Some(l) = execution_link(&arn) {
                        self.nodes[i].task.links.push(l);
                    }
                }
            }
        }
    }

    /// Closes every state still open at `at` (the execution ended or failed). A state whose
    /// own failure is known ends at that failure; the others ran until `at` and take the
    /// execution's outcome (cancelled by a failure elsewhere, or timed out).
    fn close_all_open(&mut self, at: Millis, outcome: Option<RunResult>) {
        let open: Vec<usize> = self
            .ctxs
            .iter()
            .flat_map(|c| c.open.iter().copied())
            .collect();
        let iterations: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].state_type == "MapIteration" && !self.nodes[*i].decided)
            .collect();
        for i in open.into_iter().chain(iterations) {
            let n = &mut self.nodes[i];
            if n.decided && n.task.result.is_error() {
                n.task.end = n.task.end.max(n.last_seen).max(n.task.start);
            } else {
                n.task.end = at.max(n.task.start);
                if !n.decided {
                    n.task.result = match outcome {
                        Some(RunResult::Timeout) => RunResult::Timeout,
                        Some(_) => RunResult::Cancellation,
                        None => RunResult::Success,
                    };
                    n.decided = true;
                }
            }
            let ctx = n.ctx;
            self.ctxs[ctx].open.retain(|x| *x != i);
        }
    }

    /// Closes what never closed, decides open results and assembles the tree.
    fn finish(mut self, end: Millis, exec_outcome: Option<RunResult>) -> Vec<TaskRun> {
        self.close_all_open(end, exec_outcome);
        self.add_started_runs();
        // Single attempts add nothing: fold their details, links and children (a Glue job
        // run) into the Task span.
        // Folded attempt → its Task, for re-parenting what hangs below the attempt (one pass).
        let folded: HashMap<usize, usize> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].attempts.len() == 1)
            .map(|i| (self.nodes[i].attempts[0], i))
            .collect();
        for n in &mut self.nodes {
            if let Some(task) = n.parent.and_then(|p| folded.get(&p)) {
                n.parent = Some(*task);
            }
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].attempts.len() == 1 {
                let a = self.nodes[i].attempts[0];
                let links = std::mem::take(&mut self.nodes[a].task.links);
                self.nodes[i].task.links.extend(links);
                let extra: Vec<Attr> = self.nodes[a]
                    .task
                    .attributes
                    .iter()
                    .filter(|x| {
                        x.key != sc::AWS_SFN_STATE_TYPE && x.key != sc::AWS_SFN_TASK_ATTEMPT
                    })
                    .cloned()
                    .collect();
                self.nodes[i].task.attributes.extend(extra);
                self.nodes[a].parent = None;
                self.nodes[a].state_type = "dropped".to_string();
            }
        }
        // Children in event order (node order is event order).
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        let mut roots = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if n.state_type == "dropped" {
                continue;
            }
            match n.parent {
                Some(p) => children[p].push(i),
                None => roots.push(i),
            }
        }
        // The parent links come from AWS's `previousEventId`s: a node already taken (a link
        // back to itself or an ancestor) is left out rather than trusted.
        fn assemble(
            i: usize,
            nodes: &mut [Option<TaskRun>],
            children: &[Vec<usize>],
        ) -> Option<TaskRun> {
            let mut t = nodes.get_mut(i)?.take()?;
            t.children = children[i]
                .iter()
                .filter_map(|c| assemble(*c, nodes, children))
                .collect();
            Some(t)
        }
        let mut tasks: Vec<Option<TaskRun>> =
            self.nodes.into_iter().map(|n| Some(n.task)).collect();
        let mut out: Vec<TaskRun> = roots
            .iter()
            .filter_map(|r| assemble(*r, &mut tasks, &children))
            .collect();
        out.iter_mut().for_each(inherit_errors);
        out.iter_mut().for_each(readable_task_errors);
        out
    }
}

/// Whether a history event (read without data) is a task that starts a Glue job run or an
/// execution: then the history is worth reading with its data.
pub fn starts_runs(e: &HistoryEvent) -> bool {
    let r = e.resource.as_deref().unwrap_or("");
    match e.resource_type.as_deref() {
        Some("glue") => r.starts_with("startJobRun"),
        Some("states") => r.starts_with("startExecution"),
        _ => false,
    }
}

/// The Glue job runs (job name, run id) that tasks of `run` started and that have no child
/// span yet (not `.sync`): each is read once more to show it if it has ended.
pub fn started_glue_runs(run: &PipelineRun) -> Vec<(String, String)> {
    let kind = crate::sources::glue_job::KIND;
    run.tasks
        .iter()
        .flat_map(|t| t.walk())
        .filter(|t| t.kind != "GlueJobRun")
        .flat_map(|t| t.links.iter())
        .filter(|l| l.pipeline.kind == kind && l.reason == "started")
        .map(|l| (l.pipeline.name.clone(), l.run_id.clone()))
        .collect()
}

/// Shows the Glue job runs read by id (those [`started_glue_runs`] named) as child spans of
/// the tasks that started them, when they have ended; the task's link moves to the child.
pub fn attach_glue_runs(run: &mut PipelineRun, account: &str, region: &str, recs: &[GlueJobRun]) {
    fn visit(t: &mut TaskRun, account: &str, region: &str, recs: &[GlueJobRun]) {
        for c in &mut t.children {
            visit(c, account, region, recs);
        }
        if t.kind == "GlueJobRun" {
            return;
        }
        let mut kept = Vec::new();
        for l in std::mem::take(&mut t.links) {
            let child = recs
                .iter()
                .find(|r| r.id == l.run_id && r.job_name == l.pipeline.name)
                .filter(|_| l.reason == "started")
                .and_then(|r| glue_child(account, region, r));
            match child {
                Some(c) if !t.children.iter().any(|x| x.run_id == c.run_id) => t.children.push(c),
                Some(_) => {}
                None => kept.push(l),
            }
        }
        t.links = kept;
    }
    for t in &mut run.tasks {
        visit(t, account, region, recs);
    }
}

/// The Map Runs (ARNs) of the run's Distributed Map states.
pub fn map_runs(run: &PipelineRun) -> Vec<String> {
    run.tasks
        .iter()
        .flat_map(|t| t.walk())
        .filter(|t| t.kind == "Map")
        .flat_map(|t| t.attributes.iter())
        .filter(|a| a.key == sc::AWS_SFN_MAP_RUN_ARN)
        .filter_map(|a| match &a.value {
            crate::model::AttrValue::Str(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// Shows a Map Run's child workflow executions (read with `ListExecutions` by Map Run) as
/// child spans of the Distributed Map state that ran them (`aws.step_functions.state.type`
/// `MapRunExecution`: name, ARN as `cicd.pipeline.task.run.id`, start, stop, result); their
/// own states are not read. `left_out`: more executions than were read (counted on the Map).
pub fn attach_map_run(
    run: &mut PipelineRun,
    map_run_arn: &str,
    executions: &[SfnExecution],
    left_out: bool,
) {
    fn visit(t: &mut TaskRun, arn: &str, execs: &[SfnExecution], left_out: bool) {
        for c in &mut t.children {
            visit(c, arn, execs, left_out);
        }
        let is_it = t.kind == "Map"
            && t.attributes.iter().any(|a| {
                a.key == sc::AWS_SFN_MAP_RUN_ARN
                    && matches!(&a.value, crate::model::AttrValue::Str(s) if s == arn)
            });
        if !is_it || t.children.iter().any(|c| c.kind == "MapRunExecution") {
            return;
        }
        let (map_start, map_end) = (t.start, t.end);
        for e in execs {
            let start = e.start_date.unwrap_or(map_start).max(map_start);
            let result = match status(&e.status) {
                RunStatus::Ended(r) => r,
                // Still going when the parent ended: it was stopped with it.
                RunStatus::InFlight(_) => RunResult::Cancellation,
            };
            let end = e.stop_date.unwrap_or(map_end).max(start);
            t.children.push(TaskRun {
                name: e.name.clone(),
                run_id: e.execution_arn.clone(),
                kind: "MapRunExecution".to_string(),
                start,
                end,
                result,
                error: None,
                attributes: vec![
                    Attr::str(sc::AWS_SFN_STATE_TYPE, "MapRunExecution"),
                    Attr::str(sc::AWS_SFN_EXECUTION_STATUS, e.status.clone()),
                ],
                links: Vec::new(),
                children: Vec::new(),
            });
        }
        if left_out {
            t.attributes
                .push(Attr::int(sc::AWS_SFN_MAP_RUN_TRUNCATED, 1));
        }
    }
    for t in &mut run.tasks {
        visit(t, map_run_arn, executions, left_out);
    }
}

/// A link to the trace of the Glue job run a task started (the Glue job source exports it).
fn glue_link(account: &str, region: &str, rec: &GlueJobRun) -> RunLink {
    RunLink {
        pipeline: crate::sources::glue_job::pipeline(account, region, &rec.job_name),
        run_id: rec.id.clone(),
        attempt: u32::try_from(rec.attempt).unwrap_or(0),
        reason: "started",
    }
}

/// The Glue job run a `.sync` task ran, as a child span (`aws.step_functions.state.type`
/// `GlueJobRun`): its own id, times, result, error, DPU-seconds and Glue attributes. `None`
/// when its record is not known (a task that only started it, or history without data).
pub fn glue_child(account: &str, region: &str, rec: &GlueJobRun) -> Option<TaskRun> {
    if rec.job_run_state.is_empty() {
        return None;
    }
    let run = crate::sources::glue_job::convert::to_run(account, region, None, rec)?;
    let (RunStatus::Ended(result), Some(end)) = (run.status, run.end) else {
        return None;
    };
    let mut attributes = vec![Attr::str(sc::AWS_SFN_STATE_TYPE, "GlueJobRun")];
    attributes.extend(run.attributes);
    Some(TaskRun {
        name: rec.job_name.clone(),
        run_id: rec.id.clone(),
        kind: "GlueJobRun".to_string(),
        start: run.start,
        end,
        result,
        error: run.error,
        attributes,
        links: vec![glue_link(account, region, rec)],
        children: Vec::new(),
    })
}

/// A link to a child execution's trace (polled on its own, as its state machine is).
fn execution_link(arn: &str) -> Option<RunLink> {
    // arn:{partition}:states:{region}:{account}:execution:{state machine}:{name}
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() < 8 || parts[2] != "states" || parts[5] != "execution" {
        return None;
    }
    let (partition, region, account, sm) = (parts[1], parts[3], parts[4], parts[6]);
    let sm_arn = format!("arn:{partition}:states:{region}:{account}:stateMachine:{sm}");
    Some(RunLink {
        pipeline: super::pipeline(account, region, sm, &sm_arn),
        run_id: arn.to_string(),
        attempt: 0,
        reason: "started",
    })
}

/// A failed Map, Parallel or iteration has no error of its own in the history: it takes the
/// first error found below it.
fn inherit_errors(t: &mut TaskRun) {
    t.children.iter_mut().for_each(inherit_errors);
    if t.result.is_error() && t.error.is_none() {
        t.error = t
            .children
            .iter()
            .find_map(|c| c.error.clone().filter(|_| c.result.is_error()));
    }
}

/// A failed `.sync` Glue task's cause is the whole JobRun as JSON: the task shows the Glue
/// run's own message instead (its type stays, e.g. `States.TaskFailed`).
fn readable_task_errors(t: &mut TaskRun) {
    t.children.iter_mut().for_each(readable_task_errors);
    let from_child = t
        .children
        .iter()
        .filter(|c| c.kind == "GlueJobRun")
        .find_map(|c| c.error.as_ref().map(|e| e.message.clone()));
    if let (Some(e), Some(msg)) = (t.error.as_mut(), from_child) {
        if e.message.trim_start().starts_with('{') && !msg.is_empty() {
            e.message = msg;
        }
    }
}

/// The execution's error and cause from its closing event, for when DescribeExecution has
/// none (timed-out executions).
fn closing_error(history: &[HistoryEvent]) -> Option<(String, String)> {
    history
        .iter()
        .rev()
        .find(|e| {
            matches!(
                e.kind.as_str(),
                "ExecutionFailed" | "ExecutionTimedOut" | "ExecutionAborted"
            )
        })
        .and_then(|e| {
            let error = e.error.clone().filter(|s| !s.is_empty())?;
            Some((error, e.cause.clone().unwrap_or_default()))
        })
}

fn is_task_event(k: &str) -> bool {
    k.starts_with("Task") || k.starts_with("LambdaFunction") || k.starts_with("Activity")
}
