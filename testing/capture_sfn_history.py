#!/usr/bin/env python3
"""Capture moto's Step Functions histories as test fixtures, in wire shape.

    python testing/capture_sfn_history.py [--endpoint URL] [--out DIR]

Without --endpoint, starts its own harness (testing/moto_harness.py) on a free
port and stops it afterwards. Either way it seeds the "demo" scenario, waits
for the executions to finish, and writes for each (state machine, final
status) pair -- first execution wins --

    <out>/moto-<state machine>-<status, lower case>.json
        {"execution": <DescribeExecution response>,
         "events":    <GetExecutionHistory "events">}

The JSON is the HTTP response body exactly as moto sent it (captured from
botocore before parsing), not boto3's parsed form: camelCase keys, timestamps
as epoch-second floats, input/output as JSON strings. That is what the Rust
SDK deserialises, so the fixtures stay faithful to it. Default --out is
tests/fixtures/sfn at the repository root.

With --glue-out DIR it also stores GetJobRuns bodies for the demo Glue jobs as
<dir>/moto-get-job-runs-<job>.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import seed  # noqa: E402

HARNESS_START_BOUND_S = 30.0


@contextmanager
def own_harness() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "moto_harness.py"), "--port-file", str(port_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + HARNESS_START_BOUND_S
            while not port_file.exists():
                if proc.poll() is not None:
                    raise RuntimeError(f"harness exited early with {proc.returncode}")
                if time.monotonic() > deadline:
                    raise TimeoutError("harness did not start in time")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port_file.read_text().strip()}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


class RawBodies:
    """Keeps the last raw response body per operation name."""

    def __init__(self, client: Any) -> None:
        self.bodies: dict[str, bytes] = {}
        client.meta.events.register("after-call.*.*", self._store)

    def _store(self, http_response: Any, model: Any, **_: Any) -> None:
        self.bodies[model.name] = http_response.content

    def json(self, operation: str) -> Any:
        return json.loads(self.bodies[operation])


def _write(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")


def capture(endpoint: str, out: Path, glue_out: Path | None) -> None:
    summary = seed.seed(endpoint, scenario="demo", wait=True)
    glue, sfn = seed.clients(endpoint)
    sfn_raw, glue_raw = RawBodies(sfn), RawBodies(glue)

    seen: set[tuple[str, str]] = set()
    for execution in summary["stepFunctions"]["executions"]:
        key = (execution["stateMachine"], execution["status"])
        if key in seen:
            continue
        seen.add(key)
        arn = execution["executionArn"]
        sfn.describe_execution(executionArn=arn)
        # moto returns the whole history in one page (it ignores maxResults).
        sfn.get_execution_history(executionArn=arn)
        history = sfn_raw.json("GetExecutionHistory")
        if history.get("nextToken"):
            raise RuntimeError(f"unexpected paged history for {arn}")
        _write(
            out / f"moto-{key[0]}-{key[1].lower()}.json",
            {"execution": sfn_raw.json("DescribeExecution"), "events": history["events"]},
        )

    if glue_out is not None:
        for job in summary["glue"]:
            glue.get_job_runs(JobName=job["JobName"])
            _write(
                glue_out / f"moto-get-job-runs-{job['JobName']}.json",
                glue_raw.json("GetJobRuns"),
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Capture moto SFN histories as fixtures")
    parser.add_argument("--endpoint", help="running harness; default: start one")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "tests" / "fixtures" / "sfn")
    parser.add_argument("--glue-out", type=Path, help="also store GetJobRuns bodies here")
    args = parser.parse_args(argv)
    if args.endpoint:
        capture(args.endpoint, args.out, args.glue_out)
    else:
        with own_harness() as endpoint:
            capture(endpoint, args.out, args.glue_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
