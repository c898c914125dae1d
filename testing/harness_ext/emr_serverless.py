"""EMR Serverless at the harness edge: what moto cannot do for job runs.

moto's job runs are SUCCESS at once, with createdAt/updatedAt truncated to midnight and no
start, end, queue time or utilization. This extension lets a test shape a run as AWS would
report it, and makes ListJobRuns answer an empty list for an application without runs (moto
answers ResourceNotFoundException).

    POST /_inject/emr_serverless-job-run
        {"ApplicationId": "...", "JobRunId": "...", "fields": {...}}
        Sets what GetJobRun/ListJobRuns return for that run. Fields (camelCase, as the API
        names them): state, stateDetails, name, mode, attempt, createdAt, updatedAt,
        startedAt, endedAt (epoch seconds), queuedDurationMilliseconds,
        totalExecutionDurationSeconds, totalResourceUtilization, billedResourceUtilization
        ({"vCPUHour", "memoryGBHour", "storageGBHour"}). null removes a field.
        Region/account as for the other routes ("Region", "AccountId").
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.emrserverless import models as es_models
from moto.emrserverless.exceptions import ResourceNotFoundException

from moto_harness import DEFAULT_REGION, InjectError

# API field -> attribute of moto's JobRun (its serializer reads snake_case attributes).
FIELDS = {
    "state": "state",
    "stateDetails": "state_details",
    "name": "name",
    "mode": "mode",
    "attempt": "attempt",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "startedAt": "started_at",
    "endedAt": "ended_at",
    "queuedDurationMilliseconds": "queued_duration_milliseconds",
    "totalExecutionDurationSeconds": "total_execution_duration_seconds",
    "totalResourceUtilization": "total_resource_utilization",
    "billedResourceUtilization": "billed_resource_utilization",
}
TIMESTAMPS = {"createdAt", "updatedAt", "startedAt", "endedAt"}
STATES = {
    "SUBMITTED", "PENDING", "SCHEDULED", "QUEUED", "RUNNING",
    "SUCCESS", "FAILED", "CANCELLING", "CANCELLED",
}


def install() -> None:
    # Fields moto's JobRun lacks: absent (not serialized) until a test sets them.
    for attr in ("started_at", "ended_at", "total_resource_utilization",
                 "queued_duration_milliseconds", "mode", "attempt"):
        if not hasattr(es_models.JobRun, attr):
            setattr(es_models.JobRun, attr, None)

    original = es_models.EMRServerlessBackend.list_job_runs

    def list_job_runs(self: Any, application_id: str, *args: Any, **kwargs: Any) -> Any:
        # AWS lists no runs for an application without any; moto raises NotFound.
        if application_id in self.applications and application_id not in self.job_runs:
            return []
        return original(self, application_id, *args, **kwargs)

    es_models.EMRServerlessBackend.list_job_runs = list_job_runs  # type: ignore[method-assign]


def _backend(body: dict[str, Any], request: Any) -> Any:
    account = (
        body.get("AccountId")
        or request.headers.get("x-moto-account-id")
        or DEFAULT_ACCOUNT_ID
    )
    region = body.get("Region") or request.args.get("region") or DEFAULT_REGION
    return es_models.emrserverless_backends[account][region]


def _time(value: Any) -> datetime:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise InjectError(400, "timestamps are epoch seconds")
    # moto keeps naive UTC datetimes (it compares them with createdAtAfter).
    return datetime.fromtimestamp(float(value), tz=timezone.utc).replace(tzinfo=None)


def _inject_job_run(body: dict[str, Any], request: Any) -> dict[str, Any]:
    backend = _backend(body, request)
    app, run_id = body.get("ApplicationId"), body.get("JobRunId")
    runs = backend.job_runs.get(app) or []
    run = next((r for r in runs if r.id == run_id), None)
    if run is None:
        raise InjectError(404, f"job run {run_id!r} of application {app!r} not found")
    fields = body.get("fields") or {}
    if not isinstance(fields, dict):
        raise InjectError(400, "'fields' must be an object")
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise InjectError(400, f"unsupported field(s): {', '.join(unknown)}")
    if "state" in fields and fields["state"] not in STATES:
        raise InjectError(400, f"unknown state {fields['state']!r}")
    _shape(run, fields)
    return {"ApplicationId": app, "JobRunId": run_id}


def _shape(run: Any, fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        if value is not None and key in TIMESTAMPS:
            value = _time(value)
        setattr(run, FIELDS[key], value)


ROUTES = {"/_inject/emr_serverless-job-run": ("POST", _inject_job_run)}


# Demo job runs: (application, run name, state, seconds ago submitted, queued s, ran s,
# vCPU-hours, stateDetails).
DEMO_RUNS = [
    ("nightly-sessionize", "sessionize-d-3", "SUCCESS", 3 * 3600, 42.5, 610.0, 2.7, ""),
    ("nightly-sessionize", "sessionize-d-2", "FAILED", 2 * 3600, 38.0, 95.5, 0.21,
     "Job failed, please check complete logs in configured logging destination. ExitCode: 1. "
     "Last few exceptions: org.apache.spark.sql.AnalysisException: [PATH_NOT_FOUND] Path does "
     "not exist: s3://demo-raw/events/dt=yesterday."),
    ("nightly-sessionize", "sessionize-d-1", "SUCCESS", 3600, 51.25, 642.0, 2.85, ""),
    ("adhoc-analytics", "cohort-report", "CANCELLED", 5400, 12.0, 1800.0, 8.0,
     "Job run exceeded the execution timeout of 30 minutes and was cancelled."),
    ("adhoc-analytics", "top-sellers", "SUCCESS", 1800, 5.0, 125.0, 0.35, ""),
    ("adhoc-analytics", "long-backfill", "RUNNING", 600, 20.0, 0.0, 0.0, ""),
]


def seed(endpoint: str, scenario: str) -> Any:
    """Two applications with a few job runs ("demo" only; "test" gets nothing)."""
    if scenario != "demo":
        return None
    import time

    import boto3

    es = boto3.client(
        "emr-serverless", endpoint_url=endpoint, region_name=DEFAULT_REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    backend = es_models.emrserverless_backends[DEFAULT_ACCOUNT_ID][DEFAULT_REGION]
    role = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/emr-serverless-job-role"
    apps: dict[str, str] = {}
    runs = []
    now = float(int(time.time()))
    for app_name, run_name, state, ago, queued, ran, vcpu, details in DEMO_RUNS:
        if app_name not in apps:
            apps[app_name] = es.create_application(
                name=app_name, releaseLabel="emr-7.1.0", type="SPARK"
            )["applicationId"]
            es.start_application(applicationId=apps[app_name])
        run_id = es.start_job_run(
            applicationId=apps[app_name], executionRoleArn=role, name=run_name,
            jobDriver={"sparkSubmit": {"entryPoint": f"s3://demo-code/{run_name}.py"}},
        )["jobRunId"]
        created, started = now - ago, now - ago + queued
        fields: dict[str, Any] = {
            "state": state, "stateDetails": details, "mode": "BATCH", "attempt": 1,
            "createdAt": created, "startedAt": started, "updatedAt": started + ran,
        }
        if state != "RUNNING":
            fields.update({
                "endedAt": started + ran,
                "totalExecutionDurationSeconds": int(ran),
                "totalResourceUtilization": {
                    "vCPUHour": vcpu, "memoryGBHour": vcpu * 4, "storageGBHour": vcpu * 20,
                },
                "billedResourceUtilization": {
                    "vCPUHour": max(vcpu, 0.067), "memoryGBHour": max(vcpu, 0.067) * 4,
                    "storageGBHour": 0.0,
                },
            })
        run = next(r for r in backend.job_runs[apps[app_name]] if r.id == run_id)
        _shape(run, fields)
        runs.append({"application": app_name, "jobRunId": run_id, "state": state})
    return {"applications": apps, "runs": runs}
