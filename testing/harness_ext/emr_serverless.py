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
    for key, value in fields.items():
        if value is not None and key in TIMESTAMPS:
            value = _time(value)
        setattr(run, FIELDS[key], value)
    return {"ApplicationId": app, "JobRunId": run_id}


ROUTES = {"/_inject/emr_serverless-job-run": ("POST", _inject_job_run)}


def seed(endpoint: str, scenario: str) -> Any:
    if scenario != "demo":
        return None
    return None
