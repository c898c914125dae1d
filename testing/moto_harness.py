#!/usr/bin/env python3
"""In-process moto server with extra routes for what moto cannot emulate.

Why not plain `moto_server`: moto's Glue never fails a job run and stamps every
timestamp with the creation time, so the bridge could never be tested against
FAILED/TIMEOUT runs, retries or real durations. Running moto's WSGI app in our
own process lets us patch `FakeJobRun.as_dict` and add an injection route in
front of it, while the AWS SDKs still talk plain moto over HTTP.

Usage:
    python testing/moto_harness.py [--port 0] [--port-file PATH]
                                   [--seed demo|test] [--seed-wait]
                                   [--seed-summary PATH]

The port file is written atomically once the server is listening -- or, with
--seed, once seeding has finished, so that its presence always means "ready".

Extra routes (JSON in, JSON out). Region: "Region" key, else ?region=, else
us-east-1. Account: "AccountId" key, else the x-moto-account-id header, else
123456789012.

    POST /_inject/glue-job-run
        {"JobName": "...", "RunId": "jr_...", "fields": {...}}
        Overrides what GetJobRun/GetJobRuns return for that run. Overrides
        accumulate across calls; a field set to null is removed from the
        response (e.g. CompletedOn while RUNNING).

    POST /_inject/glue-job-run-create
        {"JobName": "...", "RunId": "jr_..." (optional), "fields": {...}}
        -> {"JobRunId": "jr_..."}
        Adds a run to the job without moto's MaxConcurrentRuns check (so any
        number of RUNNING runs can coexist), prefilled with the job's
        GlueVersion/WorkerType/NumberOfWorkers/Timeout, then applies fields.

Timestamps in "fields" are epoch seconds (floats); moto serialises them back
as epoch seconds truncated to milliseconds, exactly as real Glue does.

Faults and delays, matched on the X-Amz-Target header (Glue and Step Functions
are awsJson: "AWSGlue.GetJobRuns", "AWSStepFunctions.ListExecutions", ...) and
optionally on a substring of the request body:

    POST /_inject/fault
        {"target": "AWSGlue.GetJobRuns", "match": "test-batch" (optional),
         "status": 400, "code": "ThrottlingException",
         "message": "Rate exceeded", "count": 3}
        -> {"id": 1}
        The next `count` matching requests (-1: until cleared) get `status`
        with body {"__type": code, "message": message} and header
        x-amzn-ErrorType: code, and never reach moto. Defaults: status 400,
        message "Injected fault", count 1. The first matching fault wins.

    POST /_inject/delay
        {"target": "...", "match": "..." (optional), "seconds": 2, "count": 1}
        -> {"id": 2}
        Sleeps before forwarding the next `count` matching requests.

    POST /_inject/fault-clear      {} -> {"cleared": N}   drops faults and delays
    GET  /_inject/fault-hits
        -> {"faults": [{"id", "target", "match", "remaining", "hits"}, ...],
            "delays": [...same...]}
        Expired entries stay listed (remaining 0) until cleared, so a test can
        assert on hits after the fact. POST /moto-api/reset clears them too.

`match` is a plain substring of the raw JSON body. botocore writes
{"JobName": "a"} (space after the colon), the Rust SDK {"JobName":"a"}, so
match on a value ("test-batch"), not on a key/value pair. Note the SDKs retry
ThrottlingException/5xx by themselves: a count of 3 may be one failed call.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wsgi import get_input_stream
from werkzeug.wrappers import Request, Response

from moto.core import DEFAULT_ACCOUNT_ID
from moto.glue import models as glue_models
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

DEFAULT_REGION = "us-east-1"

TIMESTAMP_FIELDS = {"StartedOn", "CompletedOn", "LastModifiedOn"}
# Everything the bridge reads from a JobRun; anything else is rejected so a
# typo in a test fails loudly instead of silently not overriding.
OVERRIDABLE_FIELDS = TIMESTAMP_FIELDS | {
    "JobRunState",
    "ErrorMessage",
    "DPUSeconds",
    "ExecutionTime",
    "Attempt",
    "PreviousRunId",
    "TriggerName",
    "WorkerType",
    "NumberOfWorkers",
    "MaxCapacity",
    "AllocatedCapacity",
    "Timeout",
    "GlueVersion",
    "LogGroupName",
    "Arguments",
    "ExecutionClass",
}

# (job name, run id) -> overrides. Run ids are 64 random hex digits, so they
# do not need the account/region in the key. Requests are served on many
# threads, hence the lock.
_overrides: dict[tuple[str, str], dict[str, Any]] = {}
_overrides_lock = threading.Lock()

_original_as_dict = glue_models.FakeJobRun.as_dict


def _patched_as_dict(self: glue_models.FakeJobRun) -> dict[str, Any]:
    result = _original_as_dict(self)
    with _overrides_lock:
        override = dict(_overrides.get((self.job_name, self.job_run_id), {}))
    for key, value in override.items():
        if value is None:
            result.pop(key, None)
        elif key in TIMESTAMP_FIELDS:
            # moto's serializer wants datetimes, like the ones moto stores.
            result[key] = datetime.fromtimestamp(float(value), tz=timezone.utc)
        else:
            result[key] = value
    return result


glue_models.FakeJobRun.as_dict = _patched_as_dict  # type: ignore[method-assign]


class InjectError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _glue_backend(body: dict[str, Any], request: Request) -> Any:
    account = (
        body.get("AccountId")
        or request.headers.get("x-moto-account-id")
        or DEFAULT_ACCOUNT_ID
    )
    region = body.get("Region") or request.args.get("region") or DEFAULT_REGION
    return glue_models.glue_backends[account][region]


def _validated_fields(body: dict[str, Any]) -> dict[str, Any]:
    fields = body.get("fields") or {}
    if not isinstance(fields, dict):
        raise InjectError(400, "'fields' must be an object")
    unknown = sorted(set(fields) - OVERRIDABLE_FIELDS)
    if unknown:
        raise InjectError(400, f"unsupported field(s): {', '.join(unknown)}")
    return fields


def _find_job(backend: Any, job_name: Any) -> Any:
    if not job_name:
        raise InjectError(400, "JobName is required")
    job = backend.jobs.get(job_name)
    if job is None:
        raise InjectError(404, f"job {job_name!r} not found")
    return job


def _apply(job_name: str, run_id: str, fields: dict[str, Any]) -> None:
    with _overrides_lock:
        _overrides.setdefault((job_name, run_id), {}).update(fields)


def _inject_job_run(body: dict[str, Any], request: Request) -> dict[str, Any]:
    job = _find_job(_glue_backend(body, request), body.get("JobName"))
    run_id = body.get("RunId")
    if not any(run.job_run_id == run_id for run in job.job_runs):
        raise InjectError(404, f"run {run_id!r} of job {job.name!r} not found")
    _apply(job.name, run_id, _validated_fields(body))
    return {"JobName": job.name, "JobRunId": run_id}


def _inject_job_run_create(body: dict[str, Any], request: Request) -> dict[str, Any]:
    job = _find_job(_glue_backend(body, request), body.get("JobName"))
    fields = _validated_fields(body)
    run = glue_models.FakeJobRun(
        job_name=job.name,
        arguments=dict(job.default_arguments) or None,
        allocated_capacity=job.allocated_capacity,
        max_capacity=job.max_capacity,
        timeout=job.timeout,
        worker_type=job.worker_type,
        number_of_workers=job.number_of_workers,
    )
    if body.get("RunId"):
        if any(r.job_run_id == body["RunId"] for r in job.job_runs):
            raise InjectError(409, f"run {body['RunId']!r} already exists")
        run.job_run_id = body["RunId"]
    job.job_runs.append(run)
    # moto hardcodes GlueVersion 0.9 in as_dict; the job knows better.
    defaults = {"GlueVersion": job.glue_version} if job.glue_version else {}
    _apply(job.name, run.job_run_id, {**defaults, **fields})
    return {"JobName": job.name, "JobRunId": run.job_run_id}


@dataclass
class _Rule:
    """One injected fault or delay; `remaining` -1 means until cleared."""

    id: int
    target: str
    match: str
    remaining: int
    hits: int = 0


@dataclass
class _Fault(_Rule):
    status: int = 400
    code: str = ""
    message: str = ""


@dataclass
class _Delay(_Rule):
    seconds: float = 0.0


# Faults/delays are consulted from every request thread, hence the lock; the
# counters are decremented under it so `count` is exact under concurrency.
_rules: list[_Rule] = []
_rules_lock = threading.Lock()
_next_rule_id = 1


def _rule_fields(body: dict[str, Any]) -> dict[str, Any]:
    target, match, count = body.get("target"), body.get("match", ""), body.get("count", 1)
    if not isinstance(target, str) or not target:
        raise InjectError(400, "'target' (X-Amz-Target value) is required")
    if not isinstance(match, str):
        raise InjectError(400, "'match' must be a string")
    if not isinstance(count, int) or isinstance(count, bool) or (count < 1 and count != -1):
        raise InjectError(400, "'count' must be a positive integer or -1")
    return {"target": target, "match": match, "remaining": count}


def _add_rule(cls: type, **fields: Any) -> dict[str, Any]:
    global _next_rule_id
    with _rules_lock:
        rule = cls(id=_next_rule_id, **fields)
        _next_rule_id += 1
        _rules.append(rule)
    return {"id": rule.id}


def _inject_fault(body: dict[str, Any], _request: Request) -> dict[str, Any]:
    status, code = body.get("status", 400), body.get("code")
    message = body.get("message", "Injected fault")
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise InjectError(400, "'status' must be an HTTP error status (400-599)")
    if not isinstance(code, str) or not code:
        raise InjectError(400, "'code' (e.g. ThrottlingException) is required")
    if not isinstance(message, str):
        raise InjectError(400, "'message' must be a string")
    return _add_rule(_Fault, **_rule_fields(body), status=status, code=code, message=message)


def _inject_delay(body: dict[str, Any], _request: Request) -> dict[str, Any]:
    seconds = body.get("seconds")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
        raise InjectError(400, "'seconds' must be a non-negative number")
    return _add_rule(_Delay, **_rule_fields(body), seconds=float(seconds))


def _clear_rules() -> int:
    with _rules_lock:
        cleared = len(_rules)
        _rules.clear()
    return cleared


def _fault_clear(_body: dict[str, Any], _request: Request) -> dict[str, Any]:
    return {"cleared": _clear_rules()}


def _fault_hits(_body: dict[str, Any], _request: Request) -> dict[str, Any]:
    keys = ("id", "target", "match", "remaining", "hits")
    with _rules_lock:
        rows = [(isinstance(r, _Fault), {k: asdict(r)[k] for k in keys}) for r in _rules]
    return {
        "faults": [row for is_fault, row in rows if is_fault],
        "delays": [row for is_fault, row in rows if not is_fault],
    }


def _take(cls: type, target: str, body: str) -> Any:
    """Consume one use of the first live rule of `cls` matching the request."""
    with _rules_lock:
        for rule in _rules:
            if (
                isinstance(rule, cls)
                and rule.remaining != 0
                and rule.target == target
                and rule.match in body
            ):
                if rule.remaining > 0:
                    rule.remaining -= 1
                rule.hits += 1
                return rule
    return None


class FaultMiddleware:
    """WSGI layer in front of moto that answers or delays matching requests.

    Lives at the HTTP edge rather than in moto's backends so that the SDK
    sees exactly what AWS would send (status, __type, x-amzn-ErrorType) and
    the bridge's error mapping and retry classification are exercised.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        with _rules_lock:
            armed = any(r.target == target and r.remaining != 0 for r in _rules)
        if not target or not armed:
            return self.app(environ, start_response)

        # The body is needed for `match`; buffer it and hand moto a fresh copy.
        raw = get_input_stream(environ).read()
        environ["wsgi.input"] = io.BytesIO(raw)
        environ["CONTENT_LENGTH"] = str(len(raw))
        body = raw.decode("utf-8", errors="replace")

        delay = _take(_Delay, target, body)
        if delay is not None:
            time.sleep(delay.seconds)
        fault = _take(_Fault, target, body)
        if fault is None:
            return self.app(environ, start_response)
        response = Response(
            json.dumps({"__type": fault.code, "message": fault.message}),
            status=fault.status,
            # Echo the awsJson version (1.0 for SFN, 1.1 for Glue) the SDK used.
            content_type=environ.get("CONTENT_TYPE") or "application/x-amz-json-1.1",
            headers={"x-amzn-ErrorType": fault.code, "x-amzn-RequestId": f"injected-{fault.id}"},
        )
        return response(environ, start_response)


INJECT_ROUTES = {
    "/_inject/glue-job-run": ("POST", _inject_job_run),
    "/_inject/glue-job-run-create": ("POST", _inject_job_run_create),
    "/_inject/fault": ("POST", _inject_fault),
    "/_inject/delay": ("POST", _inject_delay),
    "/_inject/fault-clear": ("POST", _fault_clear),
    "/_inject/fault-hits": ("GET", _fault_hits),
}

# Extensions: one module per source under testing/harness_ext/ (what moto cannot do for that
# service). Each defines ROUTES ({path: (method, handler)}, handlers as above: (body, request)
# -> JSON-able dict, raising InjectError), and may define install() (patch moto models, called
# once at load), reset() (drop its state on POST /moto-api/reset) and seed(endpoint, scenario)
# -> JSON-able summary (called after the base seed with --seed; it must add nothing to the
# "test" scenario, whose counts the end-to-end tests assert). They import helpers from
# `moto_harness` (this module, also when run as a script).
sys.modules.setdefault("moto_harness", sys.modules[__name__])
_EXTENSIONS: list[Any] = []


def _load_extensions() -> None:
    ext_dir = Path(__file__).resolve().parent / "harness_ext"
    if str(ext_dir.parent) not in sys.path:
        sys.path.insert(0, str(ext_dir.parent))
    for path in sorted(ext_dir.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module = importlib.import_module(f"harness_ext.{path.stem}")
        if hasattr(module, "install"):
            module.install()
        for route in getattr(module, "ROUTES", {}):
            if route in INJECT_ROUTES:
                raise RuntimeError(f"{path.name}: route {route} is defined twice")
        INJECT_ROUTES.update(getattr(module, "ROUTES", {}))
        _EXTENSIONS.append(module)


_load_extensions()


class HarnessApp:
    """WSGI front: our /_inject routes, everything else straight to moto."""

    def __init__(self) -> None:
        self.moto = FaultMiddleware(DomainDispatcherApplication(create_backend_app))

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        route = INJECT_ROUTES.get(path)
        if route is None:
            if path == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
                # A reset drops all jobs; stale overrides (and faults) must
                # not leak into the next test.
                with _overrides_lock:
                    _overrides.clear()
                _clear_rules()
                for ext in _EXTENSIONS:
                    if hasattr(ext, "reset"):
                        ext.reset()
            return self.moto(environ, start_response)
        return self._inject(*route, environ, start_response)

    @staticmethod
    def _inject(method: str, handler: Any, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            if request.method != method:
                raise InjectError(405, f"{method} only")
            body: Any = {}
            if method == "POST" and request.get_data().strip():
                body = request.get_json(force=True, silent=True)
            if not isinstance(body, dict):
                raise InjectError(400, "body must be a JSON object")
            status, payload = 200, handler(body, request)
        except InjectError as err:
            status, payload = err.status, {"error": str(err)}
        response = Response(
            json.dumps(payload), status=status, mimetype="application/json"
        )
        return response(environ, start_response)


def enable_sfn_parser_mode() -> None:
    # Same as POST /moto-api/config; must happen before any state machine is
    # created, as the parser backend is a separate store.
    moto_api_backend.set_config({"stepfunctions": {"execute_state_machine": True}})


def _write_port_file(path: str, port: int) -> None:
    # Write-then-rename so a poller never reads an empty or partial file.
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(f"{port}\n")
    os.replace(tmp, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the bound port here when ready")
    parser.add_argument("--seed", choices=["demo", "test"], help="seed this scenario")
    parser.add_argument(
        "--seed-wait",
        action="store_true",
        help="with --seed: also wait for the seeded executions to finish before ready",
    )
    parser.add_argument("--seed-summary", help="with --seed: write the JSON summary here")
    args = parser.parse_args(argv)

    enable_sfn_parser_mode()
    server = make_server(
        args.host,
        args.port,
        HarnessApp(),
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    # Connection threads must not keep the process alive after shutdown.
    server.daemon_threads = True
    port = server.server_port
    endpoint = f"http://{args.host}:{port}"
    # Step Functions tasks call other services through boto3 at
    # http://localhost:$MOTO_PORT (default 5000). Point them back at us, as
    # moto_server does; otherwise a Lambda task's outcome would depend on
    # whatever happens to listen on port 5000.
    os.environ["MOTO_PORT"] = str(port)

    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    # serve_forever runs off the main thread so the main thread stays free to
    # react to signals and call shutdown(), which blocks until the loop exits.
    serving = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="moto-http", daemon=True
    )
    serving.start()
    print(f"moto harness listening on {endpoint}", file=sys.stderr, flush=True)

    exit_code = 0
    try:
        if args.seed:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            import seed  # noqa: E402  (sibling module, importable only now)

            summary = seed.seed(endpoint, scenario=args.seed, wait=args.seed_wait)
            for ext in _EXTENSIONS:
                if hasattr(ext, "seed"):
                    extra = ext.seed(endpoint, args.seed)
                    if extra is not None:
                        summary[ext.__name__.rsplit(".", 1)[-1]] = extra
            text = json.dumps(summary, indent=2)
            if args.seed_summary:
                Path(args.seed_summary).write_text(text + "\n")
            else:
                print(text, flush=True)
        if args.port_file:
            _write_port_file(args.port_file, port)
        print(f"moto harness ready on port {port}", file=sys.stderr, flush=True)
        stop.wait()
    except Exception as err:  # a failed seed must not leave a half-ready server
        print(f"moto harness: {err!r}", file=sys.stderr, flush=True)
        exit_code = 1
    finally:
        server.shutdown()
        server.server_close()
        if args.port_file:
            Path(args.port_file).unlink(missing_ok=True)
    # Step Functions parser executions run on non-daemon threads; a Wait state
    # would otherwise hold the process open past SIGTERM.
    sys.stdout.flush()
    os._exit(exit_code)


if __name__ == "__main__":
    sys.exit(main())
