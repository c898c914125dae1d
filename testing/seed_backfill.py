#!/usr/bin/env python3
"""Seeds a moto harness (testing/moto_harness.py, no --seed) with a first-start backfill.

Glue (through /_inject/glue-job-run-create): `--glue` finished runs spread over `--jobs`
jobs, all in the last 12 hours, every fourth one FAILED with a stack trace as its error
message (the bridge keeps 4 KiB of it).
Step Functions (moto parser mode runs the ASL): `--sfn` executions of a Pass -> Succeed
machine, and one execution of a Map over `--map-items` items: a large history (4 events per
item), so that one run alone makes a large trace — over 10,000 spans from 5,000 items on, so
the bridge's per-run cap applies.

Prints a JSON summary: {"glue_runs", "sfn_executions", "map_execution", "seconds"}.

Usage: python testing/seed_backfill.py --endpoint http://127.0.0.1:PORT
           [--glue 5000] [--jobs 4] [--sfn 499] [--map-items 5100]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import boto3

ROLE = "arn:aws:iam::123456789012:role/backfill"
ERROR = (
    "An error occurred while calling o123.pyWriteDynamicFrame. java.lang.OutOfMemoryError: "
    "Java heap space\n" + "\tat org.apache.spark.sql.execution.Frame(Frame.scala:42)\n" * 100
)


def post(endpoint: str, route: str, body: dict) -> dict:
    req = urllib.request.Request(
        endpoint + route,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


def seed_glue(endpoint: str, glue, total: int, jobs: int, now: float) -> list[str]:
    names = [f"backfill-job-{j}" for j in range(jobs)]
    for name in names:
        glue.create_job(
            Name=name,
            Role=ROLE,
            Command={"Name": "glueetl", "ScriptLocation": f"s3://b/{name}.py"},
            GlueVersion="4.0",
            WorkerType="G.1X",
            NumberOfWorkers=2,
            ExecutionProperty={"MaxConcurrentRuns": 10},
        )

    def one(i: int) -> str:
        start = now - 12 * 3600 + i * (11 * 3600 / max(total, 1))
        failed = (i // jobs) % 4 == 0  # every fourth run of each job
        fields = {
            "StartedOn": round(start, 3),
            "CompletedOn": round(start + 60 + i % 600, 3),
            "JobRunState": "FAILED" if failed else "SUCCEEDED",
            "ExecutionTime": 60 + i % 600,
        }
        if failed:
            fields["ErrorMessage"] = ERROR
        body = {"JobName": names[i % jobs], "fields": fields}
        return post(endpoint, "/_inject/glue-job-run-create", body)["JobRunId"]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(total)))


def wait_done(sfn, arns: list[str], bound_s: float) -> None:
    deadline = time.monotonic() + bound_s
    pending = set(arns)
    while pending:
        for arn in list(pending):
            if sfn.describe_execution(executionArn=arn)["status"] != "RUNNING":
                pending.discard(arn)
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} executions still RUNNING after {bound_s}s")
        if pending:
            time.sleep(0.2)


def seed_sfn(sfn, total: int, map_items: int) -> tuple[list[str], str | None]:
    small = sfn.create_state_machine(
        name="backfill-small",
        roleArn=ROLE,
        definition=json.dumps(
            {
                "StartAt": "Prepare",
                "States": {
                    "Prepare": {"Type": "Pass", "Next": "Done"},
                    "Done": {"Type": "Succeed"},
                },
            }
        ),
    )["stateMachineArn"]
    arns = [
        sfn.start_execution(stateMachineArn=small, name=f"small-{i}")["executionArn"]
        for i in range(total)
    ]
    big_arn = None
    if map_items > 0:
        big = sfn.create_state_machine(
            name="backfill-big-map",
            roleArn=ROLE,
            definition=json.dumps(
                {
                    "StartAt": "Items",
                    "States": {
                        "Items": {
                            "Type": "Map",
                            "ItemsPath": "$.items",
                            "MaxConcurrency": 0,
                            "Iterator": {
                                "StartAt": "LoadItem",
                                "States": {"LoadItem": {"Type": "Pass", "End": True}},
                            },
                            "End": True,
                        }
                    },
                }
            ),
        )["stateMachineArn"]
        big_arn = sfn.start_execution(
            stateMachineArn=big,
            name="big-map",
            input=json.dumps({"items": list(range(map_items))}),
        )["executionArn"]
        arns.append(big_arn)
    wait_done(sfn, arns, bound_s=600)
    return arns, big_arn


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--endpoint", required=True)
    p.add_argument("--glue", type=int, default=5000)
    p.add_argument("--jobs", type=int, default=4)
    p.add_argument("--sfn", type=int, default=499)
    p.add_argument("--map-items", type=int, default=5100)
    a = p.parse_args(argv)
    t0 = time.monotonic()
    kw = dict(
        endpoint_url=a.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    glue_ids = seed_glue(a.endpoint, boto3.client("glue", **kw), a.glue, a.jobs, time.time())
    t_glue = time.monotonic() - t0
    sfn_arns, big = seed_sfn(boto3.client("stepfunctions", **kw), a.sfn, a.map_items)
    json.dump(
        {
            "glue_runs": glue_ids,
            "sfn_executions": sfn_arns,
            "map_execution": big,
            "glue_seconds": round(t_glue, 2),
            "seconds": round(time.monotonic() - t0, 2),
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
