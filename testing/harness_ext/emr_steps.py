"""EMR on EC2 steps at the harness edge: what moto cannot do for steps.

moto's steps are static: the first step of a cluster is RUNNING and the others PENDING for
ever, stamped with the time they were added, never started, ended or failed. This extension
lets a test shape a step as AWS would report it in ListSteps/DescribeStep (state, timeline,
state change reason, failure details) and a cluster's creation time.

    POST /_inject/emr-step
        {"ClusterId": "j-...", "StepId": "s-...", "fields": {...}}
        Fields (PascalCase, as the API names them): State, CreationDateTime, StartDateTime,
        EndDateTime (epoch seconds), StateChangeReason ({"Code", "Message"}), FailureDetails
        ({"Reason", "Message", "LogFile"}). null removes a field.
    POST /_inject/emr-step-cluster
        {"ClusterId": "j-...", "fields": {"CreationDateTime": ...}}
        Sets when the cluster was created (ListClusters' CreatedAfter filter follows).
        Region/account as for the other routes ("Region", "AccountId").
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.emr import models as emr_models

from moto_harness import DEFAULT_REGION, InjectError

STEP_STATES = {
    "PENDING", "CANCEL_PENDING", "RUNNING", "COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED",
}
STEP_TIMES = {
    "CreationDateTime": "creation_date_time",
    "StartDateTime": "start_date_time",
    "EndDateTime": "end_date_time",
}
STEP_FIELDS = set(STEP_TIMES) | {"State", "StateChangeReason", "FailureDetails"}


def install() -> None:
    original = emr_models.Step.status

    def status(self: Any) -> dict[str, Any]:
        out = dict(original.fget(self))  # type: ignore[attr-defined]
        reason = getattr(self, "harness_state_change_reason", None)
        if reason is not None:
            out["StateChangeReason"] = reason
        failure = getattr(self, "harness_failure_details", None)
        if failure is not None:
            out["FailureDetails"] = failure
        return out

    emr_models.Step.status = property(status)  # type: ignore[assignment]

    # ListClusters' CreatedAfter arrives timezone-aware; moto keeps naive UTC datetimes and
    # would fail comparing them (HTTP 500). AWS compares instants: so does this.
    original_list = emr_models.ElasticMapReduceBackend.list_clusters

    def list_clusters(self: Any, cluster_states: Any = None, created_after: Any = None,
                      created_before: Any = None) -> Any:
        def naive(t: Any) -> Any:
            if isinstance(t, datetime) and t.tzinfo is not None:
                return t.astimezone(timezone.utc).replace(tzinfo=None)
            return t
        return original_list(self, cluster_states, naive(created_after), naive(created_before))

    emr_models.ElasticMapReduceBackend.list_clusters = list_clusters  # type: ignore[method-assign]


def _backend(body: dict[str, Any], request: Any) -> Any:
    account = (
        body.get("AccountId")
        or request.headers.get("x-moto-account-id")
        or DEFAULT_ACCOUNT_ID
    )
    region = body.get("Region") or request.args.get("region") or DEFAULT_REGION
    return emr_models.emr_backends[account][region]


def _time(value: Any) -> datetime:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise InjectError(400, "timestamps are epoch seconds")
    # moto keeps naive UTC datetimes.
    return datetime.fromtimestamp(float(value), tz=timezone.utc).replace(tzinfo=None)


def _cluster(backend: Any, cluster_id: Any) -> Any:
    cluster = backend.clusters.get(cluster_id)
    if cluster is None:
        raise InjectError(404, f"cluster {cluster_id!r} not found")
    return cluster


def _fields(body: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    fields = body.get("fields") or {}
    if not isinstance(fields, dict):
        raise InjectError(400, "'fields' must be an object")
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise InjectError(400, f"unsupported field(s): {', '.join(unknown)}")
    return fields


def shape_step(step: Any, fields: dict[str, Any]) -> None:
    """Applies `fields` (validated) to one of moto's steps."""
    for key, value in fields.items():
        if key == "State":
            step.state = value
        elif key in STEP_TIMES:
            setattr(step, STEP_TIMES[key], None if value is None else _time(value))
        elif key == "StateChangeReason":
            step.harness_state_change_reason = value
        elif key == "FailureDetails":
            step.harness_failure_details = value


def _inject_step(body: dict[str, Any], request: Any) -> dict[str, Any]:
    cluster = _cluster(_backend(body, request), body.get("ClusterId"))
    step_id = body.get("StepId")
    step = next((s for s in cluster.steps if s.id == step_id), None)
    if step is None:
        raise InjectError(404, f"step {step_id!r} of cluster {cluster.id!r} not found")
    fields = _fields(body, STEP_FIELDS)
    if "State" in fields and fields["State"] not in STEP_STATES:
        raise InjectError(400, f"unknown state {fields['State']!r}")
    for key in ("StateChangeReason", "FailureDetails"):
        if fields.get(key) is not None and not isinstance(fields[key], dict):
            raise InjectError(400, f"'{key}' must be an object")
    shape_step(step, fields)
    return {"ClusterId": cluster.id, "StepId": step.id}


def _inject_cluster(body: dict[str, Any], request: Any) -> dict[str, Any]:
    cluster = _cluster(_backend(body, request), body.get("ClusterId"))
    fields = _fields(body, {"CreationDateTime"})
    if "CreationDateTime" in fields:
        cluster.creation_datetime = _time(fields["CreationDateTime"])
    return {"ClusterId": cluster.id}


ROUTES = {
    "/_inject/emr-step": ("POST", _inject_step),
    "/_inject/emr-step-cluster": ("POST", _inject_cluster),
}


def reset() -> None:
    # Every shaped value lives on moto's own objects, which the reset drops.
    return None


# Demo clusters: (cluster name, [(step name, state, seconds ago submitted, queued s, ran s,
# failure message)]); a cluster whose steps all ended is terminated.
DEMO = [
    ("nightly-sessionize", [
        ("sessionize", "COMPLETED", 20 * 3600, 35.0, 610.0, ""),
        ("aggregate", "COMPLETED", 20 * 3600 - 1, 640.0, 120.0, ""),
    ]),
    ("nightly-sessionize", [
        ("sessionize", "COMPLETED", 2 * 3600, 41.5, 642.0, ""),
        ("aggregate", "FAILED", 2 * 3600 - 1, 680.0, 75.5,
         "Exception in thread \"main\" org.apache.spark.SparkException: Application "
         "application_1717286390250_0002 finished with failed status"),
        ("publish", "CANCELLED", 2 * 3600 - 2, 0.0, 754.5, ""),
    ]),
    ("adhoc-analytics", [
        ("top-sellers", "COMPLETED", 5400, 3.0, 125.0, ""),
        ("cohort-report", "INTERRUPTED", 3600, 5.0, 900.0, ""),
        ("long-backfill", "RUNNING", 600, 12.0, 0.0, ""),
        ("after-backfill", "PENDING", 300, 0.0, 0.0, ""),
    ]),
]


def seed(endpoint: str, scenario: str) -> Any:
    """Two cluster names with a few steps ("demo" only; "test" gets nothing)."""
    if scenario != "demo":
        return None
    import time

    import boto3

    emr = boto3.client(
        "emr", endpoint_url=endpoint, region_name=DEFAULT_REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    backend = emr_models.emr_backends[DEFAULT_ACCOUNT_ID][DEFAULT_REGION]
    now = float(int(time.time()))
    out = []
    for name, steps in DEMO:
        cluster_id = emr.run_job_flow(
            Name=name, ReleaseLabel="emr-7.1.0",
            Instances={"MasterInstanceType": "m5.xlarge", "SlaveInstanceType": "m5.xlarge",
                       "InstanceCount": 3, "KeepJobFlowAliveWhenNoSteps": True},
            JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
        )["JobFlowId"]
        step_ids = emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[
            {"Name": step, "ActionOnFailure": "CONTINUE",
             "HadoopJarStep": {"Jar": "command-runner.jar",
                               "Args": ["spark-submit", f"s3://demo-code/{step}.py"]}}
            for step, *_ in steps
        ])["StepIds"]
        cluster = backend.clusters[cluster_id]
        oldest = max(ago for _, _, ago, *_ in steps)
        cluster.creation_datetime = _time(now - oldest - 300)
        for step_id, (step, state, ago, queued, ran, failure) in zip(step_ids, steps):
            fields: dict[str, Any] = {"State": state, "CreationDateTime": now - ago}
            if state not in ("PENDING", "CANCELLED"):
                fields["StartDateTime"] = now - ago + queued
            if state not in ("PENDING", "RUNNING"):
                fields["EndDateTime"] = now - ago + queued + ran
            if state == "CANCELLED":
                fields["StateChangeReason"] = {"Message": "Cancelled: a previous step failed"}
            if state == "INTERRUPTED":
                fields["StateChangeReason"] = {"Message": "Cluster terminated"}
            if failure:
                fields["FailureDetails"] = {
                    "Reason": "Unknown Error.", "Message": failure,
                    "LogFile": f"s3://demo-logs/elasticmapreduce/{cluster_id}/steps/{step_id}/stderr.gz",
                }
            shape_step(next(s for s in cluster.steps if s.id == step_id), fields)
        if all(state not in ("PENDING", "RUNNING") for _, state, *_ in steps):
            emr.terminate_job_flows(JobFlowIds=[cluster_id])
        out.append({"cluster": name, "id": cluster_id, "steps": step_ids})
    return {"clusters": out}
