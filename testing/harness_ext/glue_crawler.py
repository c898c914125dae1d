"""Glue crawlers: crawls with the outcomes, statistics and times moto cannot give.

moto keeps a crawler's crawls (`FakeCrawl`: RUNNING until the first `ListCrawls`, then
COMPLETED), but never FAILED or STOPPED, with `DPUHour` 100, no `Summary`, no `ErrorMessage`
and the creation time as `StartTime`. It also compares a `START_TIME`/`END_TIME` filter with
the ISO text of the time, where AWS takes epoch milliseconds (`CrawlsFilter`), so any epoch
value matches every crawl. This module patches both at the edge:

    POST /_inject/glue-crawler-crawl
        {"CrawlerName": "...", "CrawlId": "...", "fields": {...}}
        Overrides what ListCrawls returns for that crawl. Overrides accumulate; a field set
        to null is removed from the answer (e.g. EndTime while RUNNING).

    POST /_inject/glue-crawler-crawl-create
        {"CrawlerName": "...", "CrawlId": "..." (optional), "fields": {...}}
        -> {"CrawlerName": "...", "CrawlId": "..."}
        Appends a crawl to the crawler (without moto's one-running-crawl check), then applies
        fields.

Fields: State, ErrorMessage, Summary (a string, as Glue sends it), DPUHour, StartTime,
EndTime (epoch seconds), LogGroup, LogStream, MessagePrefix. Region and account as for the
harness's own routes ("Region"/"AccountId" keys, ?region=, x-moto-account-id).

`ListCrawls` with a `START_TIME` or `END_TIME` filter whose value is a number is filtered
here in epoch milliseconds, on the times the crawl is served with (overrides included).
"""

from __future__ import annotations

import threading
import time
import urllib.request
import json
from datetime import datetime, timezone
from typing import Any

from moto.glue import models as glue_models
from moto.glue.utils import FilterField, FilterOperator

from moto_harness import InjectError, _glue_backend

TIMESTAMP_FIELDS = {"StartTime", "EndTime"}
OVERRIDABLE_FIELDS = TIMESTAMP_FIELDS | {
    "State",
    "ErrorMessage",
    "Summary",
    "DPUHour",
    "LogGroup",
    "LogStream",
    "MessagePrefix",
}

# crawl id -> overrides (crawl ids are random UUIDs, or chosen by the test).
_overrides: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()


def _serve(crawl: Any, result: dict[str, Any]) -> dict[str, Any]:
    with _lock:
        override = dict(_overrides.get(crawl.crawl_id, {}))
    for key, value in override.items():
        if value is None:
            result.pop(key, None)
        elif key in TIMESTAMP_FIELDS:
            # moto's serializer wants datetimes, like the ones moto stores.
            result[key] = datetime.fromtimestamp(float(value), tz=timezone.utc)
        else:
            result[key] = value
    return result


def _epoch_ms(value: Any) -> float | None:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # moto stores naive UTC
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp() * 1000.0
    return None


_COMPARE = {
    FilterOperator.GT: lambda a, b: a > b,
    FilterOperator.GE: lambda a, b: a >= b,
    FilterOperator.LT: lambda a, b: a < b,
    FilterOperator.LE: lambda a, b: a <= b,
    FilterOperator.EQ: lambda a, b: a == b,
    FilterOperator.NE: lambda a, b: a != b,
}


def install() -> None:
    original_as_dict = glue_models.FakeCrawl.as_dict
    original_list_crawls = glue_models.GlueBackend.list_crawls

    def as_dict(self: Any) -> dict[str, Any]:
        return _serve(self, original_as_dict(self))

    def list_crawls(self: Any, crawler_name: str, filters: list[Any], *args: Any, **kw: Any) -> Any:
        timed = [
            f
            for f in filters
            if f.field_name in (FilterField.START_TIME, FilterField.END_TIME)
            and str(f.field_value).strip().lstrip("-").isdigit()
        ]
        rest = [f for f in filters if f not in timed]
        crawls, token = original_list_crawls(self, crawler_name, rest, *args, **kw)
        if not timed:
            return crawls, token

        def keep(crawl: Any) -> bool:
            served = crawl.as_dict()
            for f in timed:
                key = "StartTime" if f.field_name == FilterField.START_TIME else "EndTime"
                at = _epoch_ms(served.get(key))
                if at is None or not _COMPARE[f.operator](at, float(f.field_value)):
                    return False
            return True

        return [c for c in crawls if keep(c)], token

    glue_models.FakeCrawl.as_dict = as_dict  # type: ignore[method-assign]
    glue_models.GlueBackend.list_crawls = list_crawls  # type: ignore[method-assign]


def reset() -> None:
    with _lock:
        _overrides.clear()


def _crawler(body: dict[str, Any], request: Any) -> Any:
    name = body.get("CrawlerName")
    if not name:
        raise InjectError(400, "CrawlerName is required")
    crawler = _glue_backend(body, request).crawlers.get(name)
    if crawler is None:
        raise InjectError(404, f"crawler {name!r} not found")
    return crawler


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    fields = body.get("fields") or {}
    if not isinstance(fields, dict):
        raise InjectError(400, "'fields' must be an object")
    unknown = sorted(set(fields) - OVERRIDABLE_FIELDS)
    if unknown:
        raise InjectError(400, f"unsupported field(s): {', '.join(unknown)}")
    if "Summary" in fields and not isinstance(fields["Summary"], (str, type(None))):
        raise InjectError(400, "'Summary' is a string (JSON in a string, as Glue sends it)")
    return fields


def _apply(crawl_id: str, fields: dict[str, Any]) -> None:
    with _lock:
        _overrides.setdefault(crawl_id, {}).update(fields)


def _inject_crawl(body: dict[str, Any], request: Any) -> dict[str, Any]:
    crawler = _crawler(body, request)
    crawl_id = body.get("CrawlId")
    if not any(c.crawl_id == crawl_id for c in crawler.crawls):
        raise InjectError(404, f"crawl {crawl_id!r} of crawler {crawler.name!r} not found")
    _apply(crawl_id, _fields(body))
    return {"CrawlerName": crawler.name, "CrawlId": crawl_id}


def _inject_crawl_create(body: dict[str, Any], request: Any) -> dict[str, Any]:
    crawler = _crawler(body, request)
    fields = _fields(body)
    crawl = glue_models.FakeCrawl(crawler.name)
    if body.get("CrawlId"):
        if any(c.crawl_id == body["CrawlId"] for c in crawler.crawls):
            raise InjectError(409, f"crawl {body['CrawlId']!r} already exists")
        crawl.crawl_id = body["CrawlId"]
        crawl.message_prefix = crawl.crawl_id
    crawler.crawls.append(crawl)
    _apply(crawl.crawl_id, fields)
    return {"CrawlerName": crawler.name, "CrawlId": crawl.crawl_id}


ROUTES = {
    "/_inject/glue-crawler-crawl": ("POST", _inject_crawl),
    "/_inject/glue-crawler-crawl-create": ("POST", _inject_crawl_create),
}


# --- demo seed ---------------------------------------------------------------------------

# (crawler, database, S3 path, crawls: (state, start offset from now in s, duration in s,
# DPU-hours, summary counts {(object, change): n}, error message))
_DEMO = [
    (
        "orders-raw-crawler",
        "lake_raw",
        "s3://demo-lake/raw/orders/",
        [
            ("COMPLETED", -10800, 131, 0.475, {("TABLE", "ADD"): 1, ("PARTITION", "ADD"): 24}, None),
            ("COMPLETED", -7200, 95, 0.3166, {("PARTITION", "ADD"): 24}, None),
            ("COMPLETED", -3600, 88, 0.2933, {("PARTITION", "ADD"): 24, ("PARTITION", "DELETE"): 2}, None),
        ],
    ),
    (
        "partner-feeds-crawler",
        "partner_feeds",
        "s3://demo-lake/partner-feeds/",
        [
            ("COMPLETED", -14400, 310, 1.0333, {("TABLE", "UPDATE"): 3}, None),
            (
                "FAILED",
                -5400,
                62,
                0.0416,
                {},
                "Service Principal: glue.amazonaws.com is not authorized to perform: "
                "glue:CreateTable on resource: arn:aws:glue:us-east-1:123456789012:database/"
                "partner_feeds (Service: AWSGlue; Status Code: 400; Error Code: "
                "AccessDeniedException)",
            ),
            ("STOPPED", -1800, 600, 0.25, {}, None),
        ],
    ),
]


def _summary(counts: dict[tuple[str, str], int]) -> str | None:
    if not counts:
        return None
    doc: dict[str, dict[str, str]] = {}
    for (obj, change), n in counts.items():
        doc.setdefault(obj, {})[change] = json.dumps({"Details": {}, "Count": n})
    return json.dumps(doc)


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
    """Seeds crawlers and crawls for the demo only; the "test" scenario gets nothing."""
    if scenario != "demo":
        return None
    import boto3

    glue = boto3.client(
        "glue",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    now = int(time.time())
    out = []
    for name, database, path, crawls in _DEMO:
        try:
            glue.get_crawler(Name=name)
        except glue.exceptions.EntityNotFoundException:
            glue.create_crawler(
                Name=name,
                Role="arn:aws:iam::123456789012:role/service-role/AWSGlueServiceRole-demo",
                DatabaseName=database,
                Targets={"S3Targets": [{"Path": path}]},
                Schedule="cron(15 * * * ? *)",
            )
        ids = []
        for n, (state, offset, duration, dpu, counts, error) in enumerate(crawls, start=1):
            start = now + offset + n * 0.137
            fields: dict[str, Any] = {
                "State": state,
                "StartTime": start,
                "EndTime": start + duration,
                "DPUHour": dpu,
                "Summary": _summary(counts),
                "ErrorMessage": error,
            }
            ids.append(
                _post(
                    endpoint,
                    "/_inject/glue-crawler-crawl-create",
                    {"CrawlerName": name, "fields": fields},
                )["CrawlId"]
            )
        out.append({"CrawlerName": name, "CrawlIds": ids})
    return {"crawlers": out}
