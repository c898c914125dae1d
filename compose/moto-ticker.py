#!/usr/bin/env python3
"""Keeps the demo alive: new Glue runs and Step Functions executions appear over time.

    python compose/moto-ticker.py --endpoint http://moto:5000 [--interval 60] [--once]

Runs against testing/moto_harness.py after it seeded the "demo" scenario (testing/seed.py).
Every tick (default 60 s):

  * every RUNNING run of the ticked Glue jobs that has reached its planned duration ends:
    SUCCEEDED (most of the time), FAILED (out of memory) or TIMEOUT, with CompletedOn,
    ExecutionTime and DPUSeconds like real Glue; RUNNING runs the ticker did not start (the
    seeded one) end on the first tick;
  * one Glue job (round robin) gets a new RUNNING run, planned to last 45-240 s;
  * one state machine (round robin) gets a new execution, which moto really executes:
    customer-sync fails now and then, inventory-snapshot waits a few seconds.

customers-daily is deliberately not ticked: its last success stays the seeded one (about
4.8 h before start-up), so its max_success_interval in compose/bridge.toml runs out during
the demo. Needs boto3 (the harness image has it). Stop with SIGTERM/Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import boto3
import botocore.exceptions

REGION = "us-east-1"
GLUE_JOBS = {  # job -> trigger name, as testing/seed.py's demo scenario names them
    "orders-etl": "orders-etl-every-4h",
    "clickstream-hourly": "clickstream-hourly",
}
STATE_MACHINES = ["nightly-orders-pipeline", "customer-sync", "inventory-snapshot"]
OOM_ERROR = (
    "An error occurred while calling o123.pyWriteDynamicFrame. "
    "java.lang.OutOfMemoryError: Java heap space"
)

stop = threading.Event()


def log(message: str) -> None:
    print(f"moto-ticker: {message}", file=sys.stderr, flush=True)


def post(endpoint: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        endpoint.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


class Ticker:
    def __init__(self, endpoint: str, rng: random.Random) -> None:
        self.endpoint = endpoint
        self.rng = rng
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        self.glue = session.client("glue", endpoint_url=endpoint)
        self.sfn = session.client("stepfunctions", endpoint_url=endpoint)
        self.planned: dict[str, float] = {}  # run id -> planned duration (s)
        # Continue the round robin across restarts (and --once calls) instead of always
        # starting with the first job and state machine.
        self.tick_no = int(time.time() // 60)

    def finish_due_runs(self, job: str, workers: int, now: float) -> None:
        runs = self.glue.get_job_runs(JobName=job, MaxResults=200)["JobRuns"]
        for run in runs:
            if run.get("JobRunState") != "RUNNING":
                continue
            run_id = run["Id"]
            started = run["StartedOn"].timestamp()
            if now - started < self.planned.get(run_id, 0.0):
                continue
            duration = max(1, int(now - started))
            roll = self.rng.random()
            state, error = "SUCCEEDED", None
            if roll < 0.15:
                state, error = "FAILED", OOM_ERROR
            elif roll < 0.20:
                state, error = "TIMEOUT", "Job run timed out"
            fields = {
                "JobRunState": state,
                "CompletedOn": round(now, 3),
                "LastModifiedOn": round(now, 3),
                "ExecutionTime": duration,
                "DPUSeconds": float(workers * duration),
                "ErrorMessage": error,
            }
            post(self.endpoint, "/_inject/glue-job-run",
                 {"JobName": job, "RunId": run_id, "fields": fields})
            self.planned.pop(run_id, None)
            log(f"glue {job} {run_id[:12]}… {state} after {duration}s")

    def start_run(self, job: str, workers: int, now: float) -> None:
        started = round(now - self.rng.uniform(0.05, 0.9), 3)
        fields = {
            "JobRunState": "RUNNING",
            "StartedOn": started,
            "LastModifiedOn": started,
            "CompletedOn": None,
            "DPUSeconds": None,
            "ExecutionTime": 0,
            "Attempt": 0,
            "TriggerName": GLUE_JOBS[job],
            "WorkerType": "G.1X",
            "NumberOfWorkers": workers,
            "MaxCapacity": float(workers),
            "LogGroupName": "/aws-glue/jobs",
        }
        run_id = post(self.endpoint, "/_inject/glue-job-run-create",
                      {"JobName": job, "fields": fields})["JobRunId"]
        self.planned[run_id] = self.rng.uniform(45, 240)
        log(f"glue {job} {run_id[:12]}… RUNNING (planned {self.planned[run_id]:.0f}s)")

    def start_execution(self, name: str, now: float) -> None:
        arn = next(
            sm["stateMachineArn"]
            for sm in self.sfn.list_state_machines()["stateMachines"]
            if sm["name"] == name
        )
        if name == "customer-sync":
            payload: dict[str, Any] = {"failedRows": self.rng.choice([0, 0, 0, 3])}
        elif name == "inventory-snapshot":
            payload = {"waitSeconds": self.rng.randint(2, 20)}
        else:
            payload = {"date": time.strftime("%Y-%m-%d", time.gmtime(now))}
        execution = f"{name}-tick-{int(now * 1000)}"
        self.sfn.start_execution(stateMachineArn=arn, name=execution, input=json.dumps(payload))
        log(f"sfn {execution} started with {payload}")

    def tick(self) -> None:
        now = time.time()
        jobs = list(GLUE_JOBS)
        for job in jobs:
            workers = int(self.glue.get_job(JobName=job)["Job"].get("NumberOfWorkers") or 2)
            self.finish_due_runs(job, workers, now)
        job = jobs[self.tick_no % len(jobs)]
        workers = int(self.glue.get_job(JobName=job)["Job"].get("NumberOfWorkers") or 2)
        self.start_run(job, workers, now)
        self.start_execution(STATE_MACHINES[self.tick_no % len(STATE_MACHINES)], now)
        self.tick_no += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoint", required=True, help="the harness, e.g. http://moto:5000")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between ticks")
    parser.add_argument("--seed", type=int, help="random seed (default: random)")
    parser.add_argument("--once", action="store_true", help="one tick, then exit")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    ticker = Ticker(args.endpoint, random.Random(args.seed))
    log(f"ticking {args.endpoint} every {args.interval:.0f}s")
    while not stop.is_set():
        try:
            ticker.tick()
        except (urllib.error.URLError, OSError, botocore.exceptions.BotoCoreError,
                botocore.exceptions.ClientError, StopIteration, KeyError) as err:
            # The harness restarting (or not seeded yet) must not kill the ticker.
            log(f"tick failed, retrying next time: {err!r}")
            if args.once:
                return 1
        if args.once:
            return 0
        stop.wait(args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
