"""Glue Data Quality: rulesets and evaluation results, which moto does not implement at all.

This module serves them itself, inside moto's Glue service (methods added to moto's
`GlueResponse`, so requests go through moto's routing, account and region handling, and the
harness's fault injection by `X-Amz-Target` works on them too):

    AWSGlue.CreateDataQualityRuleset   Name, Ruleset, Description, TargetTable
    AWSGlue.ListDataQualityRulesets    Filter (Name, TargetTable), MaxResults 1-1000, NextToken
    AWSGlue.ListDataQualityResults     Filter (StartedAfter, StartedBefore, JobName, JobRunId,
                                       DataSource.GlueTable), MaxResults 1-1000, NextToken;
                                       newest first, descriptions only (no ruleset, no rules)
    AWSGlue.BatchGetDataQualityResult  ResultIds (1-100) -> Results, ResultsNotFound
    AWSGlue.GetDataQualityResult       ResultId -> the result, or EntityNotFoundException

State is per account and region. Results are added by a harness route (AWS creates them when
an evaluation completes, which moto cannot run):

    POST /_inject/glue-data-quality-result
        {"Result": {...}}  (plus "Region"/"AccountId", or ?region= / x-moto-account-id)
        -> {"ResultId": "..."}
        The result in its wire shape (`DataQualityResult`: ResultId optional, generated as
        `dqresult-` + 40 hex digits; StartedOn/CompletedOn epoch seconds; RuleResults with
        Result PASS, FAIL or ERROR). The ruleset it names needs not exist (a job's inline
        ruleset has none).

    POST /_inject/glue-data-quality-result-delete {"ResultId": "..."}
        Forgets a result (AWS expires them).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import urllib.request
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.glue.exceptions import (
    AlreadyExistsException,
    EntityNotFoundException,
    InvalidInputException,
)
from moto.glue.responses import GlueResponse

from moto_harness import DEFAULT_REGION, InjectError

RULE_RESULTS = {"PASS", "FAIL", "ERROR"}

# (account, region) -> {"rulesets": {name: dict}, "results": {id: dict}}; dicts keep
# insertion order.
_state: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
_lock = threading.Lock()


def _store(account: str, region: str) -> dict[str, dict[str, Any]]:
    return _state.setdefault((account, region), {"rulesets": {}, "results": {}})


def _invalid(msg: str) -> Exception:
    return InvalidInputException("", msg)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: Any) -> int:
    if token in (None, ""):
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(str(token).encode()))["offset"]
        if isinstance(offset, int) and offset >= 0:
            return offset
    except (ValueError, KeyError, TypeError):
        pass
    raise _invalid("Invalid pagination token")


def _page(items: list[Any], params: dict[str, Any], default: int) -> tuple[list[Any], str | None]:
    size = params.get("MaxResults", default)
    if not isinstance(size, int) or not 1 <= size <= 1000:
        raise _invalid("MaxResults must be between 1 and 1000")
    start = _offset(params.get("NextToken"))
    page = items[start : start + size]
    more = start + size < len(items)
    return page, (_token(start + size) if more else None)


def _table_of(source: Any) -> dict[str, Any] | None:
    if not isinstance(source, dict):
        return None
    return source.get("GlueTable") or source.get("DataQualityGlueTable")


def _same_table(a: Any, b: Any) -> bool:
    return (
        isinstance(a, dict)
        and isinstance(b, dict)
        and a.get("DatabaseName") == b.get("DatabaseName")
        and a.get("TableName") == b.get("TableName")
    )


# --- the operations, as methods of moto's GlueResponse ---------------------------------------


def _params(self: Any) -> dict[str, Any]:
    try:
        params = json.loads(self.body or "{}")
    except ValueError:
        raise _invalid("The request body is not JSON")
    if not isinstance(params, dict):
        raise _invalid("The request body is not a JSON object")
    return params


def _here(self: Any) -> dict[str, dict[str, Any]]:
    return _store(self.current_account, self.region)


def _rule_count(dqdl: str) -> int:
    """Rules in `Rules = [ r1, r2, ... ]`: top-level commas inside the outer brackets."""
    body = dqdl[dqdl.find("[") + 1 : dqdl.rfind("]")] if "[" in dqdl else ""
    depth, quoted, count, seen = 0, False, 0, False
    for ch in body:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "[(":
            depth += 1
        elif not quoted and ch in "])":
            depth -= 1
        elif not quoted and depth == 0 and ch == ",":
            count += 1 if seen else 0
            seen = False
            continue
        if not ch.isspace():
            seen = True
    return count + (1 if seen else 0)


def create_data_quality_ruleset(self: Any) -> str:
    p = _params(self)
    name = p.get("Name")
    if not name or not p.get("Ruleset"):
        raise _invalid("Name and Ruleset are required")
    with _lock:
        rulesets = _here(self)["rulesets"]
        if name in rulesets:
            raise AlreadyExistsException(f"Ruleset {name} already exists")
        now = time.time()
        rule_count = _rule_count(p["Ruleset"])
        rulesets[name] = {
            "Name": name,
            "Description": p.get("Description"),
            "Ruleset": p["Ruleset"],
            "TargetTable": p.get("TargetTable"),
            "CreatedOn": now,
            "LastModifiedOn": now,
            "RuleCount": rule_count,
        }
    return json.dumps({"Name": name})


def list_data_quality_rulesets(self: Any) -> str:
    p = _params(self)
    f = p.get("Filter") or {}
    with _lock:
        items = list(_here(self)["rulesets"].values())
    if f.get("Name"):
        items = [r for r in items if r["Name"] == f["Name"]]
    if f.get("TargetTable"):
        items = [r for r in items if _same_table(r.get("TargetTable"), f["TargetTable"])]
    page, token = _page(items, p, 1000)
    details = [
        {k: v for k, v in r.items() if k != "Ruleset" and v is not None} for r in page
    ]
    return json.dumps({"Rulesets": details, **({"NextToken": token} if token else {})})


def list_data_quality_results(self: Any) -> str:
    p = _params(self)
    f = p.get("Filter") or {}
    with _lock:
        items = list(_here(self)["results"].values())

    def keep(r: dict[str, Any]) -> bool:
        started = r.get("StartedOn")
        if f.get("StartedAfter") is not None and not (
            started is not None and started > float(f["StartedAfter"])
        ):
            return False
        if f.get("StartedBefore") is not None and not (
            started is not None and started < float(f["StartedBefore"])
        ):
            return False
        for key in ("JobName", "JobRunId"):
            if f.get(key) and r.get(key) != f[key]:
                return False
        want = _table_of(f.get("DataSource"))
        return want is None or _same_table(_table_of(r.get("DataSource")), want)

    items = sorted(filter(keep, items), key=lambda r: -(r.get("StartedOn") or 0))
    page, token = _page(items, p, 100)
    descriptions = [
        {k: r[k] for k in ("ResultId", "DataSource", "JobName", "JobRunId", "StartedOn") if k in r}
        for r in page
    ]
    return json.dumps({"Results": descriptions, **({"NextToken": token} if token else {})})


def batch_get_data_quality_result(self: Any) -> str:
    ids = _params(self).get("ResultIds")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
        raise _invalid("ResultIds must hold 1 to 100 ids")
    with _lock:
        results = _here(self)["results"]
        found = [results[i] for i in ids if i in results]
        missing = [i for i in ids if i not in results]
    return json.dumps({"Results": found, "ResultsNotFound": missing})


def get_data_quality_result(self: Any) -> str:
    result_id = _params(self).get("ResultId")
    with _lock:
        result = _here(self)["results"].get(result_id)
    if result is None:
        raise EntityNotFoundException(f"Cannot find Data Quality result {result_id}")
    return json.dumps(result)


_OPERATIONS = [
    create_data_quality_ruleset,
    list_data_quality_rulesets,
    list_data_quality_results,
    batch_get_data_quality_result,
    get_data_quality_result,
]


def install() -> None:
    for op in _OPERATIONS:
        if hasattr(GlueResponse, op.__name__):
            raise RuntimeError(f"moto now implements {op.__name__}: drop it from this module")
        setattr(GlueResponse, op.__name__, op)


def reset() -> None:
    with _lock:
        _state.clear()


# --- harness routes --------------------------------------------------------------------------


def _where(body: dict[str, Any], request: Any) -> tuple[str, str]:
    account = body.get("AccountId") or request.headers.get("x-moto-account-id") or DEFAULT_ACCOUNT_ID
    region = body.get("Region") or request.args.get("region") or DEFAULT_REGION
    return account, region


def _validated(result: Any) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise InjectError(400, "'Result' must be an object")
    for key in ("StartedOn", "CompletedOn", "Score"):
        if key in result and not isinstance(result[key], (int, float)):
            raise InjectError(400, f"'{key}' must be a number (epoch seconds for times)")
    rules = result.get("RuleResults", [])
    if not isinstance(rules, list):
        raise InjectError(400, "'RuleResults' must be a list")
    for rule in rules:
        if not isinstance(rule, dict) or rule.get("Result") not in RULE_RESULTS:
            raise InjectError(400, f"each rule needs a Result in {sorted(RULE_RESULTS)}: {rule!r}")
    return result


def _inject_result(body: dict[str, Any], request: Any) -> dict[str, Any]:
    result = dict(_validated(body.get("Result")))
    result.setdefault("ResultId", "dqresult-" + secrets.token_hex(20))
    with _lock:
        results = _store(*_where(body, request))["results"]
        if result["ResultId"] in results:
            raise InjectError(409, f"result {result['ResultId']!r} already exists")
        results[result["ResultId"]] = result
    return {"ResultId": result["ResultId"]}


def _delete_result(body: dict[str, Any], request: Any) -> dict[str, Any]:
    with _lock:
        removed = _store(*_where(body, request))["results"].pop(body.get("ResultId"), None)
    if removed is None:
        raise InjectError(404, f"result {body.get('ResultId')!r} not found")
    return {"ResultId": body["ResultId"]}


ROUTES = {
    "/_inject/glue-data-quality-result": ("POST", _inject_result),
    "/_inject/glue-data-quality-result-delete": ("POST", _delete_result),
}


# --- demo seed ---------------------------------------------------------------------------

_DEMO_RULESETS = [
    (
        "orders-dq",
        "sales",
        "orders",
        'Rules = [\n  IsComplete "order_id",\n  IsUnique "order_id",\n'
        '  ColumnValues "status" in ["NEW", "SHIPPED", "DELIVERED"],\n  RowCount > 1000\n]',
    ),
    (
        "payments-dq",
        "finance",
        "payments",
        'Rules = [\n  RowCount between 1000 and 500000,\n  IsComplete "payment_id",\n'
        '  ColumnValues "amount_usd" > 0\n]',
    ),
]

_PASS_ORDERS = [
    ("IsComplete \"order_id\"", "PASS", None, {"Column.order_id.Completeness": 1.0}),
    ("IsUnique \"order_id\"", "PASS", None, {"Column.order_id.Uniqueness": 1.0}),
    ("ColumnValues \"status\" in [\"NEW\", \"SHIPPED\", \"DELIVERED\"]", "PASS", None, {"Column.status.ColumnValues.Compliance": 1.0}),
    ("RowCount > 1000", "PASS", None, {"Dataset.*.RowCount": 48211.0}),
]
_FAIL_ORDERS = [
    ("IsComplete \"order_id\"", "PASS", None, {"Column.order_id.Completeness": 1.0}),
    ("IsUnique \"order_id\"", "FAIL", "Value: 0.9874 does not meet the constraint requirement!", {"Column.order_id.Uniqueness": 0.9874}),
    ("ColumnValues \"status\" in [\"NEW\", \"SHIPPED\", \"DELIVERED\"]", "FAIL", "Value: 0.9912 does not meet the constraint requirement!", {"Column.status.ColumnValues.Compliance": 0.9912}),
    ("RowCount > 1000", "PASS", None, {"Dataset.*.RowCount": 51733.0}),
]
_ERROR_PAYMENTS = [
    ("RowCount between 1000 and 500000", "PASS", None, {"Dataset.*.RowCount": 20415.0}),
    ("IsComplete \"payment_id\"", "PASS", None, {"Column.payment_id.Completeness": 1.0}),
    ("ColumnValues \"amount_usd\" > 0", "ERROR", "Column amount_usd does not exist in the data source", {}),
]


def _result(ruleset: str, db: str, table: str, start: float, duration: float, rules: list[Any], **extra: Any) -> dict[str, Any]:
    rule_results = [
        {
            "Name": f"Rule_{n}",
            "Description": desc,
            "Result": outcome,
            **({"EvaluationMessage": msg} if msg else {}),
            "EvaluatedMetrics": metrics,
        }
        for n, (desc, outcome, msg, metrics) in enumerate(rules, start=1)
    ]
    passed = sum(1 for r in rule_results if r["Result"] == "PASS")
    return {
        "Score": round(passed / len(rule_results), 4),
        "DataSource": {"GlueTable": {"DatabaseName": db, "TableName": table}},
        "RulesetName": ruleset,
        "StartedOn": start,
        "CompletedOn": start + duration,
        "RuleResults": rule_results,
        **extra,
    }


def _post(endpoint: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        endpoint.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def seed(endpoint: str, scenario: str) -> dict[str, Any] | None:
    """Seeds rulesets and results for the demo only; the "test" scenario gets nothing."""
    if scenario != "demo":
        return None
    import boto3

    glue = boto3.client(
        "glue",
        endpoint_url=endpoint,
        region_name=DEFAULT_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for name, db, table, rules in _DEMO_RULESETS:
        try:
            glue.create_data_quality_ruleset(
                Name=name, Ruleset=rules, TargetTable={"DatabaseName": db, "TableName": table}
            )
        except glue.exceptions.AlreadyExistsException:
            pass
    # A Glue job whose run evaluates a ruleset (EvaluateDataQuality in its script): the
    # evaluation sits in the job run's trace.
    job = "orders-curate"
    try:
        glue.get_job(JobName=job)
    except glue.exceptions.EntityNotFoundException:
        glue.create_job(
            Name=job,
            Role="arn:aws:iam::123456789012:role/service-role/AWSGlueServiceRole-demo",
            Command={"Name": "glueetl", "ScriptLocation": "s3://demo-scripts/orders_curate.py"},
            GlueVersion="4.0",
            WorkerType="G.1X",
            NumberOfWorkers=2,
        )
    now = int(time.time())
    job_start = now - 2400 + 0.412
    job_run = _post(
        endpoint,
        "/_inject/glue-job-run-create",
        {
            "JobName": job,
            "fields": {
                "JobRunState": "SUCCEEDED",
                "StartedOn": job_start,
                "CompletedOn": job_start + 420,
                "ExecutionTime": 410,
            },
        },
    )["JobRunId"]
    results = [
        _result("orders-dq", "sales", "orders", now - 7200 + 0.25, 63.25, _PASS_ORDERS,
                EvaluationContext="orders-dq", RulesetEvaluationRunId="dqrun-" + secrets.token_hex(20)),
        _result("orders-dq", "sales", "orders", now - 3600 + 0.5, 71.5, _FAIL_ORDERS,
                EvaluationContext="orders-dq", RulesetEvaluationRunId="dqrun-" + secrets.token_hex(20)),
        _result("payments-dq", "finance", "payments", now - 5400 + 0.75, 48.0, _ERROR_PAYMENTS,
                EvaluationContext="payments-dq", RulesetEvaluationRunId="dqrun-" + secrets.token_hex(20)),
        _result("orders-dq", "sales", "orders", job_start + 300, 55.0, _PASS_ORDERS,
                EvaluationContext="EvaluateDataQuality_node1", JobName=job, JobRunId=job_run),
    ]
    ids = [_post(endpoint, "/_inject/glue-data-quality-result", {"Result": r})["ResultId"] for r in results]
    return {"rulesets": [r[0] for r in _DEMO_RULESETS], "job_run": job_run, "results": ids}
