"""Glue workflow runs shaped at the emulator's edge (the `glue_workflows` source).

moto's workflow runs stay RUNNING forever, with no Graph, no Statistics and no
CompletedOn. `install()` wraps `FakeWorkflowRun.as_dict` so that a run answers
GetWorkflowRuns / GetWorkflowRun with what a test injected:

    POST /_inject/glue-workflow-run
        {"Name": "<workflow>", "RunId": "wr_...", "fields": {...}}
        -> {"Name": ..., "WorkflowRunId": ...}
        fields: Status, StartedOn, CompletedOn (epoch seconds), ErrorMessage,
        PreviousRunId, Statistics ({"TotalActions": 3, "FailedActions": 1, ...}),
        Graph ({"Nodes": [...]}). Overrides accumulate; a field set to null is
        removed from the answer. In Graph, a JOB node may give
        "JobRunIds": ["jr_..."] instead of "JobDetails": the job runs of the
        job named by the node are then read from moto at answer time (with the
        /_inject/glue-job-run overrides), so the workflow's graph and the job's
        own GetJobRuns answer always agree. CRAWLER nodes give
        "CrawlerDetails": {"Crawls": [{"State", "StartedOn", "CompletedOn",
        "ErrorMessage", ...}]} with epoch seconds.

Region and account as for the base routes ("Region"/"AccountId" keys).
"""

from __future__ import annotations

import copy
import json
import threading
import urllib.request
from datetime import datetime, timezone
from typing import Any

from moto.glue import models as glue_models

from moto_harness import InjectError, _glue_backend

TIMESTAMPS = {"StartedOn", "CompletedOn", "LastModifiedOn"}
FIELDS = TIMESTAMPS - {"LastModifiedOn"} | {
    "Status",
    "ErrorMessage",
    "PreviousRunId",
    "Statistics",
    "Graph",
}

# run id -> (glue backend, overrides). Run ids are random 64 hex digits.
_overrides: dict[str, tuple[Any, dict[str, Any]]] = {}
_lock = threading.Lock()
_original_as_dict = glue_models.FakeWorkflowRun.as_dict


def _datetimes(value: Any) -> Any:
    """Epoch seconds under timestamp keys → datetimes, as moto's serializer wants."""
    if isinstance(value, dict):
        return {
            k: (
                datetime.fromtimestamp(float(v), tz=timezone.utc)
                if k in TIMESTAMPS and isinstance(v, (int, float))
                else _datetimes(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_datetimes(v) for v in value]
    return value


def _graph(backend: Any, graph: dict[str, Any]) -> dict[str, Any]:
    graph = copy.deepcopy(graph)
    for node in graph.get("Nodes", []):
        ids = node.pop("JobRunIds", None)
        if ids is None:
            continue
        job = backend.jobs.get(node.get("Name"))
        runs = {r.job_run_id: r for r in (job.job_runs if job else [])}
        node["JobDetails"] = {"JobRuns": [runs[i].as_dict() for i in ids if i in runs]}
    return _datetimes(graph)


def _patched_as_dict(self: Any) -> dict[str, Any]:
    result = _original_as_dict(self)
    with _lock:
        backend, override = _overrides.get(self.run_id, (None, {}))
        override = dict(override)
    for key, value in override.items():
        if value is None:
            result.pop(key, None)
        elif key == "Graph":
            result[key] = _graph(backend, value)
        else:
            result[key] = _datetimes({key: value})[key]
    return result


def install() -> None:
    glue_models.FakeWorkflowRun.as_dict = _patched_as_dict  # type: ignore[method-assign]


def reset() -> None:
    with _lock:
        _overrides.clear()


def _inject_run(body: dict[str, Any], request: Any) -> dict[str, Any]:
    backend = _glue_backend(body, request)
    name = body.get("Name")
    workflow = backend.workflows.get(name) if name else None
    if workflow is None:
        raise InjectError(404, f"workflow {name!r} not found")
    run_id = body.get("RunId")
    if run_id not in workflow.runs:
        raise InjectError(404, f"run {run_id!r} of workflow {name!r} not found")
    fields = body.get("fields") or {}
    if not isinstance(fields, dict):
        raise InjectError(400, "'fields' must be an object")
    unknown = sorted(set(fields) - FIELDS)
    if unknown:
        raise InjectError(400, f"unsupported field(s): {', '.join(unknown)}")
    graph = fields.get("Graph")
    if graph is not None and not (
        isinstance(graph, dict) and isinstance(graph.get("Nodes", []), list)
    ):
        raise InjectError(400, "'Graph' must be an object with a list of Nodes")
    with _lock:
        _overrides.setdefault(run_id, (backend, {}))[1].update(fields)
    return {"Name": name, "WorkflowRunId": run_id}


ROUTES = {"/_inject/glue-workflow-run": ("POST", _inject_run)}


# --- demo seed -------------------------------------------------------------------------------


def _post(endpoint: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        endpoint + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


DEMO_WORKFLOW = "nightly-orders-workflow"
DEMO_JOBS = ("orders-extract", "orders-transform")
DEMO_CRAWLER = "orders-curated-crawler"


def seed(endpoint: str, scenario: str) -> dict[str, Any] | None:
    """Scenario "demo": one workflow (extract job → crawler → transform job) with a
    successful run 5 h ago, a run 2 h ago whose transform job failed (a COMPLETED run,
    failure for the bridge), and a run in flight. Scenario "test": nothing."""
    if scenario != "demo":
        return None
    import boto3
    import time

    glue = boto3.client(
        "glue",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    role = "arn:aws:iam::123456789012:role/pipeline-glue-role"
    for job in DEMO_JOBS:
        glue.create_job(
            Name=job,
            Role=role,
            Command={"Name": "glueetl", "ScriptLocation": f"s3://pipeline-scripts/glue/{job}.py"},
            GlueVersion="4.0",
            WorkerType="G.1X",
            NumberOfWorkers=4,
            Timeout=60,
        )
    glue.create_crawler(
        Name=DEMO_CRAWLER,
        Role=role,
        DatabaseName="orders_curated",
        Targets={"S3Targets": [{"Path": "s3://orders-curated/"}]},
    )
    glue.create_workflow(Name=DEMO_WORKFLOW, Description="Nightly orders: extract, crawl, transform")
    now = int(time.time())
    runs = []
    for ago, outcome in ((18000, "success"), (7200, "failure"), (300, "running")):
        t = now - ago + 0.123
        run_id = glue.start_workflow_run(Name=DEMO_WORKFLOW)["RunId"]
        args = {"--WORKFLOW_NAME": DEMO_WORKFLOW, "--WORKFLOW_RUN_ID": run_id}
        common = {"WorkerType": "G.1X", "NumberOfWorkers": 4, "Timeout": 60, "Arguments": args}
        extract = _post(endpoint, "/_inject/glue-job-run-create", {
            "JobName": "orders-extract",
            "fields": {**common, "JobRunState": "SUCCEEDED", "StartedOn": t + 2, "CompletedOn": t + 302,
                       "ExecutionTime": 300, "DPUSeconds": 1200.0},
        })["JobRunId"]
        nodes: list[dict[str, Any]] = [
            {"Type": "TRIGGER", "Name": f"{DEMO_WORKFLOW}-start", "UniqueId": "wnode_start"},
            {"Type": "JOB", "Name": "orders-extract", "UniqueId": "wnode_extract", "JobRunIds": [extract]},
        ]
        fields: dict[str, Any] = {"StartedOn": t, "Graph": {"Nodes": nodes}}
        if outcome == "running":
            fields["Statistics"] = {"TotalActions": 3, "SucceededActions": 1, "RunningActions": 1, "WaitingActions": 1}
        else:
            nodes.append({"Type": "CRAWLER", "Name": DEMO_CRAWLER, "UniqueId": "wnode_crawler",
                          "CrawlerDetails": {"Crawls": [{"State": "SUCCEEDED", "StartedOn": t + 305, "CompletedOn": t + 371,
                                                         "LogGroup": "/aws-glue/crawlers", "LogStream": DEMO_CRAWLER}]}})
            failed = outcome == "failure"
            transform_fields = {**common, "StartedOn": t + 375, "CompletedOn": t + (615 if failed else 1275),
                                "ExecutionTime": 240 if failed else 900,
                                "JobRunState": "FAILED" if failed else "SUCCEEDED"}
            if failed:
                transform_fields["ErrorMessage"] = (
                    "An error occurred while calling o181.pyWriteDynamicFrame. "
                    "java.lang.OutOfMemoryError: Java heap space")
            transform = _post(endpoint, "/_inject/glue-job-run-create",
                              {"JobName": "orders-transform", "fields": transform_fields})["JobRunId"]
            nodes.append({"Type": "JOB", "Name": "orders-transform", "UniqueId": "wnode_transform",
                          "JobRunIds": [transform]})
            fields.update({
                "Status": "COMPLETED",
                "CompletedOn": t + (620 if failed else 1280),
                "Statistics": {"TotalActions": 3, "SucceededActions": 2 if failed else 3,
                               "FailedActions": 1 if failed else 0},
            })
        _post(endpoint, "/_inject/glue-workflow-run", {"Name": DEMO_WORKFLOW, "RunId": run_id, "fields": fields})
        runs.append({"WorkflowRunId": run_id, "Outcome": outcome})
    return {"Workflow": DEMO_WORKFLOW, "Runs": runs}
