"""Multi-account behaviour at the emulator's edge: STS refusals and denied accounts.

moto's STS lets anyone assume any role (the role need not exist, ExternalId is ignored)
and returns credentials that moto maps to the role's account, so resources created with
them live in that account. That is enough for the happy path; this extension lets a test
make AssumeRole fail as real STS does, make a whole account refuse service calls, and count
the STS calls the bridge makes (e.g. to prove AssumeRole does not grow with the number of
pipelines).

    POST /_inject/sts-deny-role
        {"RoleArn": "arn:aws:iam::222222222222:role/reader",
         "code": "AccessDenied" (default), "message": "..." (optional)}
        -> {"ok": true}
        From then on AssumeRole for that RoleArn fails as real STS does: HTTP 403,
        Content-Type text/xml, body serialized by moto's own awsQuery serializer:
            <ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
              <Error><Type>Sender</Type><Code>AccessDenied</Code><Message>...</Message>
              </Error><RequestId>...</RequestId></ErrorResponse>
        Default message: "User: <caller arn> is not authorized to perform: sts:AssumeRole
        on resource: <RoleArn>" (<caller arn> as moto's GetCallerIdentity reports it).
        A later call for the same RoleArn replaces the rule.

    POST /_inject/sts-external-id
        {"RoleArn": "...", "ExternalId": "..."}
        -> {"ok": true}
        From then on AssumeRole for that RoleArn succeeds only if the request carries
        exactly that ExternalId; otherwise (wrong or missing) it fails with AccessDenied,
        same wire format and default message as above. sts-deny-role wins over this.

    POST /_inject/deny-account
        {"AccountId": "222222222222", "code": "AccessDeniedException" (default),
         "message": "..." (optional)}
        -> {"ok": true}
        From then on every SigV4-signed, non-STS request that moto would serve in that
        account is answered HTTP 400 with body {"__type": code, "message": message}, header
        x-amzn-ErrorType: code, Content-Type echoing the request's (default
        application/x-amz-json-1.1) -- like /_inject/fault -- and never reaches moto (nor
        the fault/delay rules). The account is resolved as moto does (BaseResponse.
        get_current_account): $MOTO_ACCOUNT_ID, else the x-moto-account-id header, else the
        access key id of the Authorization header (or X-Amz-Credential query parameter)
        looked up in moto's IAM backends (an AssumeRole key belongs to the role's account;
        unknown keys such as "testing" to 123456789012). Requests whose credential scope
        names the "sts" service are never denied, so the role can still be assumed and
        GetCallerIdentity still works; unsigned requests and /moto-api/* are never denied.
        Default message: "User: <access key> in account <id> is not authorized to perform:
        <X-Amz-Target or METHOD path>".

    GET  /_inject/sts-calls
        -> {"AssumeRole": {"<RoleArn>": {"calls": N, "external_ids": ["..." or null, ...]}},
            "GetCallerIdentity": N}
        Every AssumeRole request that reaches moto's STS handler is counted per RoleArn
        before deciding (so calls refused by the rules above count too), with the
        ExternalId each call carried, in order. AssumeRoleWithWebIdentity/SAML are not
        counted nor subject to the rules.

    POST /_inject/accounts-clear   {} -> {"cleared": N}
        Drops every rule above (N = number of rules dropped) and zeroes the counters.
        POST /moto-api/reset does the same.

RoleArn must look like arn:aws:iam::<12 digits>:role/<name> (other partitions accepted);
AccountId must be 12 digits; code/message must be non-empty strings when given.
"""

from __future__ import annotations

import json
import os
import re
import threading
import warnings
from typing import Any
from urllib.parse import parse_qs

from moto.core.responses import ActionResult
from moto.iam.models import get_account_id_from
from moto.sts import responses as sts_responses
from moto.sts.exceptions import STSClientError
from werkzeug.wrappers import Response

import moto_harness
from moto_harness import InjectError

ROLE_ARN = re.compile(
    r"^arn:aws(?:-[a-z]+)*:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$"
)
ACCOUNT_ID = re.compile(r"^\d{12}$")
# SigV4: "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/glue/aws4_request, ..."
CREDENTIAL = re.compile(r"Credential=([^/\s,]+)/[^/\s,]*/[^/\s,]*/([^/\s,]+)/")

# All state is read and written from request threads.
_lock = threading.Lock()
_denied_roles: dict[str, tuple[str, str | None]] = {}  # RoleArn -> (code, message)
_external_ids: dict[str, str] = {}  # RoleArn -> required ExternalId
_denied_accounts: dict[str, tuple[str, str | None]] = {}  # AccountId -> (code, message)
_assume_calls: dict[str, dict[str, Any]] = {}  # RoleArn -> {"calls", "external_ids"}
_caller_identity_calls = 0


class _InjectedSTSError(STSClientError):
    """Serialized by moto's query serializer; only the status is ours (see _sts_error)."""


def _sts_error(response: Any, code: str, message: str) -> tuple[str, dict[str, Any]]:
    # moto's HTTPException errors (moto.core.exceptions.AccessDeniedError) render
    # <ErrorResponse><Errors><Error>, where the Rust SDK finds no code; its serializer
    # renders <ErrorResponse><Error> like STS, but with status 400 as STS's model has no
    # AccessDenied shape. Serialize like moto does for a ServiceException, then set 403.
    _status, headers, body = response.serialized(ActionResult(_InjectedSTSError(code, message)))
    headers["status"] = 403
    return body, headers


def _denied_message(response: Any, role_arn: str) -> str:
    _user_id, caller, _account = response.backend.get_caller_identity(
        response.get_access_key(), response.region
    )
    return (
        f"User: {caller} is not authorized to perform: sts:AssumeRole "
        f"on resource: {role_arn}"
    )


def _patch_sts() -> None:
    token_response = sts_responses.TokenResponse
    original_assume_role = token_response.assume_role
    original_get_caller_identity = token_response.get_caller_identity

    def assume_role(self: Any) -> Any:
        role_arn = self._get_param("RoleArn")
        external_id = self._get_param("ExternalId")
        if not isinstance(role_arn, str):
            return original_assume_role(self)  # moto's own handling of a missing RoleArn
        with _lock:
            entry = _assume_calls.setdefault(role_arn, {"calls": 0, "external_ids": []})
            entry["calls"] += 1
            entry["external_ids"].append(external_id)
            deny = _denied_roles.get(role_arn)
            required = _external_ids.get(role_arn)
        if deny is not None:
            code, message = deny
            return _sts_error(self, code, message or _denied_message(self, role_arn))
        if required is not None and external_id != required:
            return _sts_error(self, "AccessDenied", _denied_message(self, role_arn))
        return original_assume_role(self)

    def get_caller_identity(self: Any) -> Any:
        global _caller_identity_calls
        with _lock:
            _caller_identity_calls += 1
        return original_get_caller_identity(self)

    # call_action finds actions with inspect.isfunction on the class: plain functions do.
    token_response.assume_role = assume_role  # type: ignore[method-assign]
    token_response.get_caller_identity = get_caller_identity  # type: ignore[method-assign]


def _credential(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(access key id, signing service) of a SigV4 request, None if unsigned."""
    match = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match:
        return match.group(1), match.group(2)
    values = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential")
    if values:
        parts = values[0].split("/")
        if len(parts) >= 4:
            return parts[0], parts[3]
    return None


def _account_denial(environ: dict[str, Any]) -> Response | None:
    with _lock:
        if not _denied_accounts:
            return None
        rules = dict(_denied_accounts)
    if environ.get("PATH_INFO", "").startswith("/moto-api"):
        return None
    credential = _credential(environ)
    if credential is None or credential[1] == "sts":
        return None
    access_key, _service = credential
    # Same precedence as moto's BaseResponse.get_current_account.
    account = (
        os.environ.get("MOTO_ACCOUNT_ID")
        or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
        or get_account_id_from(access_key)
    )
    rule = rules.get(account)
    if rule is None:
        return None
    code, message = rule
    if message is None:
        action = environ.get("HTTP_X_AMZ_TARGET") or (
            f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}"
        )
        message = (
            f"User: {access_key} in account {account} is not authorized to perform: {action}"
        )
    return Response(
        json.dumps({"__type": code, "message": message}),
        status=400,
        content_type=environ.get("CONTENT_TYPE") or "application/x-amz-json-1.1",
        headers={"x-amzn-ErrorType": code, "x-amzn-RequestId": f"denied-{account}"},
    )


def _patch_front() -> None:
    # HarnessApp wraps moto in FaultMiddleware (after /_inject routes); put the account
    # check in front of the fault/delay rules, on the class, before HarnessApp exists.
    middleware = moto_harness.FaultMiddleware
    original_call = middleware.__call__

    def __call__(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        denial = _account_denial(environ)
        if denial is not None:
            return denial(environ, start_response)
        return original_call(self, environ, start_response)

    middleware.__call__ = __call__  # type: ignore[method-assign]


def install() -> None:
    _patch_sts()
    _patch_front()
    # get_error_model warns that the code has no shape in the STS model; that is expected.
    warnings.filterwarnings(
        "ignore", message=r"Exception\(_InjectedSTSError\)", category=UserWarning
    )


def _role_arn(body: dict[str, Any]) -> str:
    role_arn = body.get("RoleArn")
    if not isinstance(role_arn, str) or not ROLE_ARN.match(role_arn):
        raise InjectError(400, "'RoleArn' must look like arn:aws:iam::<12 digits>:role/<name>")
    return role_arn


def _code_message(body: dict[str, Any], default_code: str) -> tuple[str, str | None]:
    code, message = body.get("code", default_code), body.get("message")
    if not isinstance(code, str) or not code:
        raise InjectError(400, "'code' must be a non-empty string")
    if message is not None and (not isinstance(message, str) or not message):
        raise InjectError(400, "'message' must be a non-empty string")
    return code, message


def _deny_role(body: dict[str, Any], _request: Any) -> dict[str, Any]:
    role_arn = _role_arn(body)
    rule = _code_message(body, "AccessDenied")
    with _lock:
        _denied_roles[role_arn] = rule
    return {"ok": True}


def _external_id(body: dict[str, Any], _request: Any) -> dict[str, Any]:
    role_arn = _role_arn(body)
    external_id = body.get("ExternalId")
    if not isinstance(external_id, str) or not external_id:
        raise InjectError(400, "'ExternalId' must be a non-empty string")
    with _lock:
        _external_ids[role_arn] = external_id
    return {"ok": True}


def _deny_account(body: dict[str, Any], _request: Any) -> dict[str, Any]:
    account = body.get("AccountId")
    if not isinstance(account, str) or not ACCOUNT_ID.match(account):
        raise InjectError(400, "'AccountId' must be a string of 12 digits")
    rule = _code_message(body, "AccessDeniedException")
    with _lock:
        _denied_accounts[account] = rule
    return {"ok": True}


def _sts_calls(_body: dict[str, Any], _request: Any) -> dict[str, Any]:
    with _lock:
        return {
            "AssumeRole": {
                arn: {"calls": e["calls"], "external_ids": list(e["external_ids"])}
                for arn, e in _assume_calls.items()
            },
            "GetCallerIdentity": _caller_identity_calls,
        }


def _clear() -> int:
    global _caller_identity_calls
    with _lock:
        cleared = len(_denied_roles) + len(_external_ids) + len(_denied_accounts)
        _denied_roles.clear()
        _external_ids.clear()
        _denied_accounts.clear()
        _assume_calls.clear()
        _caller_identity_calls = 0
    return cleared


def _accounts_clear(_body: dict[str, Any], _request: Any) -> dict[str, Any]:
    return {"cleared": _clear()}


def reset() -> None:
    _clear()


ROUTES = {
    "/_inject/sts-deny-role": ("POST", _deny_role),
    "/_inject/sts-external-id": ("POST", _external_id),
    "/_inject/deny-account": ("POST", _deny_account),
    "/_inject/sts-calls": ("GET", _sts_calls),
    "/_inject/accounts-clear": ("POST", _accounts_clear),
}


# The demo's second account: reached through a role with an ExternalId (examples/demo.toml),
# with Glue jobs in two regions.
DEMO_ACCOUNT = "222222222222"
DEMO_ROLE = f"arn:aws:iam::{DEMO_ACCOUNT}:role/pipeline-otel-bridge-read"
DEMO_EXTERNAL_ID = "demo-7f3a9c"
_DEMO_JOBS = [
    # region, job, [(state, started seconds ago, duration, error)]
    ("us-east-1", "events-enrich", [
        ("SUCCEEDED", 5400, 610, None),
        ("FAILED", 1800, 95, "IllegalArgumentException: schema mismatch in s3://analytics-events/raw/"),
    ]),
    ("eu-west-1", "sessions-eu", [("SUCCEEDED", 2700, 420, None)]),
]


def seed(endpoint: str, scenario: str) -> dict[str, Any] | None:
    """Demo only: Glue jobs in a second account (reached by assuming DEMO_ROLE), whose role
    requires DEMO_EXTERNAL_ID."""
    if scenario != "demo":
        return None
    import time

    import boto3

    sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{DEMO_ACCOUNT}:role/seed",
                            RoleSessionName="seed")["Credentials"]
    now = float(int(time.time()))
    out = []
    for region, name, runs in _DEMO_JOBS:
        glue = boto3.client("glue", endpoint_url=endpoint, region_name=region,
                            aws_access_key_id=creds["AccessKeyId"],
                            aws_secret_access_key=creds["SecretAccessKey"],
                            aws_session_token=creds["SessionToken"])
        try:
            glue.get_job(JobName=name)
        except glue.exceptions.EntityNotFoundException:
            glue.create_job(Name=name, Role=f"arn:aws:iam::{DEMO_ACCOUNT}:role/glue",
                            Command={"Name": "glueetl", "ScriptLocation": f"s3://analytics-code/{name}.py"},
                            GlueVersion="4.0", WorkerType="G.1X", NumberOfWorkers=4)
        for n, (state, ago, duration, error) in enumerate(runs, start=1):
            fields: dict[str, Any] = {
                "JobRunState": state, "StartedOn": now - ago, "CompletedOn": now - ago + duration,
                "ExecutionTime": duration - 5, "DPUSeconds": duration * 4.0,
            }
            if error:
                fields["ErrorMessage"] = error
            moto_harness._inject_job_run_create(
                {"AccountId": DEMO_ACCOUNT, "Region": region, "JobName": name,
                 "RunId": f"jr_{name}_{n}", "fields": fields}, None)
        out.append({"Account": DEMO_ACCOUNT, "Region": region, "JobName": name})
    _external_id({"RoleArn": DEMO_ROLE, "ExternalId": DEMO_EXTERNAL_ID}, None)
    return {"accounts": out}
