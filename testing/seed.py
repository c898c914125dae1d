#!/usr/bin/env python3
"""Seed a moto harness (testing/moto_harness.py) with realistic pipelines.

    python testing/seed.py --endpoint http://127.0.0.1:PORT [--scenario demo|test]
                           [--wait] [--anchor EPOCH_SECONDS]

Needs the harness, not plain moto_server: Glue runs are created through its
/_inject routes (moto alone cannot fail a run or choose timestamps), and Step
Functions must be in parser mode (the harness enables it) to really execute.
Prints a JSON summary of everything created on stdout.

Account 123456789012, region us-east-1, credentials testing/testing.

Glue timestamps are relative to the anchor (default: now, whole seconds);
"T-3600+300" below means StartedOn = anchor-3600.xxx, CompletedOn 300 s later.
Every timestamp carries a non-zero millisecond part so that moto sends it as a
JSON float, like real Glue does. DPUSeconds = NumberOfWorkers x duration (G.1X
is 1 DPU per worker); ExecutionTime = duration in whole seconds.

Scenario "test" (deterministic; the Rust integration tests assert on it)
------------------------------------------------------------------------
Run ids are fixed: "jr_" + sha256("test/<job>/<n>").hexdigest(), n from 1.
Execution names are fixed, so execution ARNs are
arn:aws:states:us-east-1:123456789012:execution:<state machine>:<name>.

Glue job "test-etl" (G.1X x 2 workers, Timeout 60, GlueVersion 4.0):
  n=1  SUCCEEDED  Attempt 0  T-3600+300
  n=2  FAILED     Attempt 0  T-1800+120  ErrorMessage "...OutOfMemoryError..."
  n=3  SUCCEEDED  Attempt 1  T-1650+200  PreviousRunId = run n=2
  n=4  RUNNING    Attempt 0  T-120, no CompletedOn, no DPUSeconds
Glue job "test-batch" (G.1X x 2 workers, Timeout 5, GlueVersion 4.0):
  n=1  TIMEOUT    Attempt 0  T-2400+300  ErrorMessage "Job run timed out"
  n=2  STOPPED    Attempt 0  T-1200+45
  n=3  ERROR      Attempt 0  T-600+2     ErrorMessage "Resource Unavailable..."

Step Functions (one execution each):
  nightly-orders-pipeline / test-nightly-1          -> SUCCEEDED (~4 s; the
      Lambda task fails, is retried once, then caught into RecordNotifyFailure)
  customer-sync           / test-customer-sync-fail -> FAILED
      error "CustomerSync.ValidationError", cause "3 rows failed validation"
  inventory-snapshot      / test-inventory-1        -> SUCCEEDED (~1 s)
  inventory-snapshot      / test-inventory-aborted  -> ABORTED (stopped by
      the seeder while in its Wait state)

Scenario "demo" (run ids random; same state machines)
------------------------------------------------------
Glue "orders-etl" (G.1X x 10, Timeout 120):
  SUCCEEDED T-21600+1260, SUCCEEDED T-14400+1140,
  FAILED T-7200+540 (OutOfMemoryError), SUCCEEDED Attempt 1 T-6600+1320
  (PreviousRunId = the FAILED run). Trigger "orders-etl-every-4h".
Glue "customers-daily" (G.1X x 5, Timeout 30):
  SUCCEEDED T-18000+780, TIMEOUT T-5400+1800. Trigger "customers-daily-0200".
Glue "clickstream-hourly" (G.1X x 4, Timeout 50):
  STOPPED T-10800+310, ERROR T-7200+3, SUCCEEDED T-3600+1500,
  RUNNING T-900 (no CompletedOn). Trigger "clickstream-hourly".
Step Functions (names <state machine>-<anchor>-<n>):
  nightly-orders-pipeline x2 -> SUCCEEDED, SUCCEEDED
  customer-sync          x2 -> FAILED (Fail state), SUCCEEDED
  inventory-snapshot     x2 -> SUCCEEDED, ABORTED
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
GLUE_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/pipeline-glue-role"
SFN_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/pipeline-sfn-role"
# Deliberately never created: invoking it fails, which exercises Retry + Catch.
MISSING_LAMBDA = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:notify-downstream"

OOM_ERROR = (
    "An error occurred while calling o123.pyWriteDynamicFrame. "
    "java.lang.OutOfMemoryError: Java heap space"
)
TIMEOUT_ERROR = "Job run timed out"
RESOURCE_ERROR = (
    "Resource Unavailable: Glue could not provision the requested G.1X workers "
    "in us-east-1; retry later"
)

SFN_WAIT_BOUND_S = 60.0


# --------------------------------------------------------------------------
# Glue
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class GlueJobSpec:
    name: str
    workers: int
    timeout_min: int
    description: str


@dataclass(frozen=True)
class GlueRunSpec:
    state: str
    start_offset_s: int  # seconds before the anchor
    duration_s: int | None  # None while RUNNING
    attempt: int = 0
    retry_of: int | None = None  # index (in this job's run list) of the failed run
    error: str | None = None
    trigger: str | None = None


def _glue_job(spec: GlueJobSpec) -> dict[str, Any]:
    return {
        "Name": spec.name,
        "Description": spec.description,
        "Role": GLUE_ROLE,
        "Command": {
            "Name": "glueetl",
            "ScriptLocation": f"s3://pipeline-scripts/glue/{spec.name}.py",
            "PythonVersion": "3",
        },
        "DefaultArguments": {
            "--job-language": "python",
            "--enable-metrics": "true",
        },
        # moto refuses a second concurrent start without this.
        "ExecutionProperty": {"MaxConcurrentRuns": 10},
        "GlueVersion": "4.0",
        "WorkerType": "G.1X",
        "NumberOfWorkers": spec.workers,
        "Timeout": spec.timeout_min,
        "MaxRetries": 1,
    }


# Fixed, distinct millisecond parts: keeps timestamps floats on the wire and
# makes start/end pairs easy to tell apart when debugging.
def _ts(anchor: int, offset_s: float, ms: int) -> float:
    return round(anchor + offset_s + ms / 1000.0, 3)


def _run_fields(
    job: GlueJobSpec, run: GlueRunSpec, anchor: int, ms: int
) -> dict[str, Any]:
    started = _ts(anchor, -run.start_offset_s, ms)
    fields: dict[str, Any] = {
        "JobRunState": run.state,
        "StartedOn": started,
        "Attempt": run.attempt,
        "WorkerType": "G.1X",
        "NumberOfWorkers": job.workers,
        "MaxCapacity": float(job.workers),
        "Timeout": job.timeout_min,
        "GlueVersion": "4.0",
        "LogGroupName": "/aws-glue/jobs",
        "ErrorMessage": run.error,
        "TriggerName": run.trigger,
    }
    if run.duration_s is None:
        # Real Glue: no CompletedOn/DPUSeconds until the run ends.
        fields.update(
            CompletedOn=None,
            DPUSeconds=None,
            ExecutionTime=0,
            LastModifiedOn=_ts(anchor, -run.start_offset_s + 30, ms + 11),
        )
    else:
        completed = round(started + run.duration_s + 0.211, 3)
        fields.update(
            CompletedOn=completed,
            LastModifiedOn=completed,
            ExecutionTime=run.duration_s,
            DPUSeconds=float(job.workers * run.duration_s),
        )
    return fields


def _post_json(endpoint: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        endpoint.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as err:
        raise RuntimeError(
            f"POST {path} failed: {err.code} {err.read().decode(errors='replace')}"
        ) from err


def seed_glue(
    endpoint: str,
    glue: Any,
    jobs: list[tuple[GlueJobSpec, list[GlueRunSpec]]],
    anchor: int,
    id_prefix: str | None,
) -> list[dict[str, Any]]:
    created = []
    for job, runs in jobs:
        # moto's CreateJob silently replaces an existing job (dropping its
        # runs), so re-seeding the same server must not call it twice.
        try:
            glue.get_job(JobName=job.name)
        except glue.exceptions.EntityNotFoundException:
            glue.create_job(**_glue_job(job))
        run_ids: list[str] = []
        summary_runs = []
        for n, run in enumerate(runs, start=1):
            fields = _run_fields(job, run, anchor, ms=100 + 37 * n)
            if run.retry_of is not None:
                fields["PreviousRunId"] = run_ids[run.retry_of]
            body: dict[str, Any] = {"JobName": job.name, "fields": fields}
            if id_prefix is not None:
                digest = hashlib.sha256(f"{id_prefix}/{job.name}/{n}".encode())
                body["RunId"] = "jr_" + digest.hexdigest()
            run_id = _post_json(endpoint, "/_inject/glue-job-run-create", body)["JobRunId"]
            run_ids.append(run_id)
            summary_runs.append(
                {
                    "JobRunId": run_id,
                    "JobRunState": run.state,
                    "Attempt": run.attempt,
                    "PreviousRunId": fields.get("PreviousRunId"),
                    "StartedOn": fields["StartedOn"],
                    "CompletedOn": fields["CompletedOn"],
                    "ErrorMessage": run.error,
                }
            )
        created.append({"JobName": job.name, "Runs": summary_runs})
    return created


def glue_scenario(scenario: str) -> list[tuple[GlueJobSpec, list[GlueRunSpec]]]:
    if scenario == "test":
        etl = GlueJobSpec("test-etl", 2, 60, "Deterministic ETL job for integration tests")
        batch = GlueJobSpec("test-batch", 2, 5, "Deterministic batch job for integration tests")
        return [
            (
                etl,
                [
                    GlueRunSpec("SUCCEEDED", 3600, 300),
                    GlueRunSpec("FAILED", 1800, 120, error=OOM_ERROR),
                    GlueRunSpec("SUCCEEDED", 1650, 200, attempt=1, retry_of=1),
                    GlueRunSpec("RUNNING", 120, None),
                ],
            ),
            (
                batch,
                [
                    GlueRunSpec("TIMEOUT", 2400, 300, error=TIMEOUT_ERROR),
                    GlueRunSpec("STOPPED", 1200, 45),
                    GlueRunSpec("ERROR", 600, 2, error=RESOURCE_ERROR),
                ],
            ),
        ]

    orders = GlueJobSpec("orders-etl", 10, 120, "Loads the day's orders into the lake")
    customers = GlueJobSpec("customers-daily", 5, 30, "Daily customer dimension rebuild")
    clicks = GlueJobSpec("clickstream-hourly", 4, 50, "Hourly clickstream sessionisation")
    t_orders, t_customers, t_clicks = "orders-etl-every-4h", "customers-daily-0200", "clickstream-hourly"
    return [
        (
            orders,
            [
                GlueRunSpec("SUCCEEDED", 21600, 1260, trigger=t_orders),
                GlueRunSpec("SUCCEEDED", 14400, 1140, trigger=t_orders),
                GlueRunSpec("FAILED", 7200, 540, error=OOM_ERROR, trigger=t_orders),
                # Glue's own retry (MaxRetries) carries no trigger name.
                GlueRunSpec("SUCCEEDED", 6600, 1320, attempt=1, retry_of=2),
            ],
        ),
        (
            customers,
            [
                GlueRunSpec("SUCCEEDED", 18000, 780, trigger=t_customers),
                GlueRunSpec("TIMEOUT", 5400, 1800, error=TIMEOUT_ERROR, trigger=t_customers),
            ],
        ),
        (
            clicks,
            [
                GlueRunSpec("STOPPED", 10800, 310, trigger=t_clicks),
                GlueRunSpec("ERROR", 7200, 3, error=RESOURCE_ERROR, trigger=t_clicks),
                GlueRunSpec("SUCCEEDED", 3600, 1500, trigger=t_clicks),
                GlueRunSpec("RUNNING", 900, None, trigger=t_clicks),
            ],
        ),
    ]


# --------------------------------------------------------------------------
# Step Functions
# --------------------------------------------------------------------------

NIGHTLY_ORDERS = {
    "Comment": "Nightly orders: fan out extracts, transform per region, notify",
    "StartAt": "LoadConfig",
    "States": {
        "LoadConfig": {
            "Type": "Pass",
            "Result": {"mode": "full", "regions": ["eu", "us", "apac"]},
            "ResultPath": "$.config",
            "Next": "CheckMode",
        },
        "CheckMode": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.config.mode", "StringEquals": "full", "Next": "Extract"}
            ],
            "Default": "Done",
        },
        "Extract": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "ExtractOrders",
                    "States": {
                        "ExtractOrders": {
                            "Type": "Pass",
                            "Result": {"rows": 1200},
                            "Next": "ValidateOrders",
                        },
                        "ValidateOrders": {"Type": "Pass", "End": True},
                    },
                },
                {
                    "StartAt": "ExtractRefunds",
                    "States": {
                        "ExtractRefunds": {
                            "Type": "Pass",
                            "Result": {"rows": 37},
                            "End": True,
                        }
                    },
                },
            ],
            "ResultPath": "$.extracts",
            "Next": "TransformRegions",
        },
        "TransformRegions": {
            "Type": "Map",
            "ItemsPath": "$.config.regions",
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "TransformRegion",
                "States": {
                    "TransformRegion": {"Type": "Pass", "Next": "Throttle"},
                    "Throttle": {"Type": "Wait", "Seconds": 1, "End": True},
                },
            },
            "ResultPath": "$.transformed",
            "Next": "NotifyDownstream",
        },
        "NotifyDownstream": {
            "Type": "Task",
            "Resource": MISSING_LAMBDA,
            "Retry": [
                {
                    "ErrorEquals": ["States.ALL"],
                    "IntervalSeconds": 1,
                    "MaxAttempts": 1,
                    "BackoffRate": 1.0,
                }
            ],
            "Catch": [
                {
                    "ErrorEquals": ["States.ALL"],
                    "ResultPath": "$.notifyError",
                    "Next": "RecordNotifyFailure",
                }
            ],
            "Next": "Done",
        },
        "RecordNotifyFailure": {
            "Type": "Pass",
            "Result": "notification skipped",
            "ResultPath": "$.notifyStatus",
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}

CUSTOMER_SYNC = {
    "Comment": "Customer sync: reject the batch when rows fail validation",
    "StartAt": "LoadCustomers",
    "States": {
        "LoadCustomers": {
            "Type": "Pass",
            "Parameters": {"source": "crm", "failedRows.$": "$.failedRows"},
            "Next": "ValidateRows",
        },
        "ValidateRows": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.failedRows", "NumericGreaterThan": 0, "Next": "RejectBatch"}
            ],
            "Default": "PublishCustomers",
        },
        "RejectBatch": {
            "Type": "Fail",
            "Error": "CustomerSync.ValidationError",
            "Cause": "3 rows failed validation",
        },
        "PublishCustomers": {"Type": "Pass", "End": True},
    },
}

INVENTORY_SNAPSHOT = {
    "Comment": "Inventory snapshot: wait for the warehouse export, then record it",
    "StartAt": "WaitForExport",
    "States": {
        "WaitForExport": {"Type": "Wait", "SecondsPath": "$.waitSeconds", "Next": "Snapshot"},
        "Snapshot": {"Type": "Pass", "Result": {"skus": 4211}, "End": True},
    },
}

STATE_MACHINES = {
    "nightly-orders-pipeline": NIGHTLY_ORDERS,
    "customer-sync": CUSTOMER_SYNC,
    "inventory-snapshot": INVENTORY_SNAPSHOT,
}


# Demo only: a state machine whose Task starts a Glue job run (moto's executor starts a real
# moto run of orders-etl), so the demo shows a Glue job run inside an execution's trace.
ORDERS_KICKOFF = {
    "Comment": "Starts the orders ETL Glue job and returns",
    "StartAt": "StartOrdersEtl",
    "States": {
        "StartOrdersEtl": {
            "Type": "Task",
            "Resource": "arn:aws:states:::glue:startJobRun",
            "Parameters": {"JobName": "orders-etl", "Arguments": {"--source": "kickoff"}},
            "End": True,
        }
    },
}


@dataclass(frozen=True)
class ExecutionSpec:
    state_machine: str
    name: str
    input: dict[str, Any]
    expected: str  # final status
    stop: bool = False  # stop it right after starting -> ABORTED


def sfn_scenario(scenario: str, anchor: int) -> list[ExecutionSpec]:
    if scenario == "test":
        return [
            ExecutionSpec("nightly-orders-pipeline", "test-nightly-1", {"date": "2024-01-01"}, "SUCCEEDED"),
            ExecutionSpec("customer-sync", "test-customer-sync-fail", {"failedRows": 3}, "FAILED"),
            ExecutionSpec("inventory-snapshot", "test-inventory-1", {"waitSeconds": 1}, "SUCCEEDED"),
            ExecutionSpec("inventory-snapshot", "test-inventory-aborted", {"waitSeconds": 3600}, "ABORTED", stop=True),
        ]
    return [
        ExecutionSpec("nightly-orders-pipeline", f"nightly-orders-pipeline-{anchor}-1", {"date": "2024-06-01"}, "SUCCEEDED"),
        ExecutionSpec("nightly-orders-pipeline", f"nightly-orders-pipeline-{anchor}-2", {"date": "2024-06-02"}, "SUCCEEDED"),
        ExecutionSpec("customer-sync", f"customer-sync-{anchor}-1", {"failedRows": 3}, "FAILED"),
        ExecutionSpec("customer-sync", f"customer-sync-{anchor}-2", {"failedRows": 0}, "SUCCEEDED"),
        ExecutionSpec("inventory-snapshot", f"inventory-snapshot-{anchor}-1", {"waitSeconds": 1}, "SUCCEEDED"),
        ExecutionSpec("inventory-snapshot", f"inventory-snapshot-{anchor}-2", {"waitSeconds": 3600}, "ABORTED", stop=True),
    ]


def seed_sfn(sfn: Any, executions: list[ExecutionSpec]) -> dict[str, Any]:
    arns = {}
    for name, definition in STATE_MACHINES.items():
        arns[name] = sfn.create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=SFN_ROLE
        )["stateMachineArn"]
    started = []
    for spec in executions:
        arn = sfn.start_execution(
            stateMachineArn=arns[spec.state_machine],
            name=spec.name,
            input=json.dumps(spec.input),
        )["executionArn"]
        if spec.stop:
            sfn.stop_execution(
                executionArn=arn,
                error="Operator.Cancelled",
                cause="Stopped by the seeder to produce an ABORTED execution",
            )
        started.append(
            {
                "stateMachine": spec.state_machine,
                "executionArn": arn,
                "name": spec.name,
                "expectedStatus": spec.expected,
            }
        )
    return {"stateMachines": arns, "executions": started}


def wait_for_executions(sfn: Any, executions: list[dict[str, Any]]) -> None:
    """Block until no execution is RUNNING (bounded), then record final states."""
    deadline = time.monotonic() + SFN_WAIT_BOUND_S
    pending = {e["executionArn"]: e for e in executions}
    while True:
        for arn in list(pending):
            status = sfn.describe_execution(executionArn=arn)["status"]
            pending[arn]["status"] = status
            if status != "RUNNING":
                del pending[arn]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"executions still RUNNING after {SFN_WAIT_BOUND_S:.0f}s: {sorted(pending)}"
            )
        time.sleep(0.25)


# --------------------------------------------------------------------------


def clients(endpoint: str) -> tuple[Any, Any]:
    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=REGION,
    )
    return (
        session.client("glue", endpoint_url=endpoint),
        session.client("stepfunctions", endpoint_url=endpoint),
    )


def seed(
    endpoint: str,
    scenario: str = "demo",
    wait: bool = False,
    anchor: int | None = None,
) -> dict[str, Any]:
    if scenario not in ("demo", "test"):
        raise ValueError(f"unknown scenario {scenario!r}")
    anchor = int(time.time()) if anchor is None else anchor
    glue, sfn = clients(endpoint)
    summary: dict[str, Any] = {
        "scenario": scenario,
        "endpoint": endpoint,
        "region": REGION,
        "accountId": ACCOUNT_ID,
        "anchor": anchor,
    }
    summary["glue"] = seed_glue(
        endpoint,
        glue,
        glue_scenario(scenario),
        anchor,
        id_prefix="test" if scenario == "test" else None,
    )
    summary["stepFunctions"] = seed_sfn(sfn, sfn_scenario(scenario, anchor))
    if scenario == "demo":
        arn = sfn.create_state_machine(
            name="orders-kickoff", definition=json.dumps(ORDERS_KICKOFF), roleArn=SFN_ROLE
        )["stateMachineArn"]
        name = f"orders-kickoff-{anchor}"
        execution = sfn.start_execution(stateMachineArn=arn, name=name, input="{}")
        summary["stepFunctions"]["stateMachines"]["orders-kickoff"] = arn
        summary["stepFunctions"]["executions"].append(
            {
                "stateMachine": "orders-kickoff",
                "executionArn": execution["executionArn"],
                "name": name,
                "expectedStatus": "SUCCEEDED",
            }
        )
    if wait:
        wait_for_executions(sfn, summary["stepFunctions"]["executions"])
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Seed the moto harness with sample pipelines")
    parser.add_argument("--endpoint", required=True, help="e.g. http://127.0.0.1:5000")
    parser.add_argument("--scenario", choices=["demo", "test"], default="demo")
    parser.add_argument(
        "--wait",
        action="store_true",
        help=f"wait (at most {SFN_WAIT_BOUND_S:.0f}s) until no seeded execution is RUNNING",
    )
    parser.add_argument(
        "--anchor", type=int, help="epoch seconds Glue timestamps are relative to (default: now)"
    )
    args = parser.parse_args(argv)
    summary = seed(args.endpoint, args.scenario, wait=args.wait, anchor=args.anchor)
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
