#!/usr/bin/env python3
"""Structural check of OpenTelemetry Collector config files (no collector binary needed).

    python3 collector-config/check.py FILE.yaml [FILE.yaml ...]

Needs PyYAML (the project venv from testing/setup-venv.sh has it; check.sh finds one).
For each file it checks part of what `otelcol validate` would reject, and what this
project requires:

  * the file is YAML without duplicate keys, and a mapping;
  * every component defined under receivers/processors/exporters/extensions/connectors has a
    valid id (`type` or `type/name`) whose type is a known collector-contrib component of
    that kind;
  * `service.pipelines` is a non-empty mapping of `traces|metrics|logs|profiles[/name]`;
  * every pipeline has at least one receiver and one exporter, and names only components
    defined at the top level (connectors count as receivers and exporters), none twice;
  * every pipeline's processors start with `memory_limiter` and include `batch`;
  * every entry of `service.extensions` is defined under `extensions`.

Unused components are reported as warnings. Exit status: 0 when every file passes, 1 when
any check failed, 2 on usage errors.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

try:
    import yaml
except ImportError:  # pragma: no cover - depends on the interpreter
    sys.stderr.write(
        "check.py needs PyYAML: run it with the project venv, e.g.\n"
        '  "$(bash testing/setup-venv.sh)/bin/python" collector-config/check.py FILE...\n'
    )
    sys.exit(2)

# Component types of otelcol-contrib (0.14x), by kind. Not exhaustive for every vendor
# component, but covers everything a config for this project plausibly uses; add a type
# here when a config needs one.
KNOWN_TYPES: dict[str, set[str]] = {
    "receivers": {
        "otlp", "prometheus", "prometheus_simple", "hostmetrics", "filelog", "jaeger", "zipkin",
        "kafka", "opencensus", "statsd", "carbon", "collectd", "fluentforward", "syslog",
        "tcplog", "udplog", "journald", "k8s_cluster", "k8s_events", "k8sobjects", "kubeletstats",
        "docker_stats", "awscloudwatch", "awscontainerinsightreceiver", "awsecscontainermetrics",
        "awsxray", "awsfirehose", "httpcheck", "influxdb", "signalfx", "splunk_hec", "datadog",
        "loki", "otlpjsonfile", "receiver_creator", "sqlquery", "postgresql", "mysql", "redis",
        "nginx", "apache", "elasticsearch", "mongodb", "rabbitmq", "kafkametrics", "memcached",
        "zookeeper", "haproxy", "github", "gitlab", "webhookevent", "prometheusremotewrite",
    },
    "processors": {
        "memory_limiter", "batch", "attributes", "resource", "resourcedetection", "transform",
        "filter", "k8sattributes", "tail_sampling", "probabilistic_sampler", "span",
        "metricstransform", "groupbyattrs", "groupbytrace", "cumulativetodelta",
        "deltatocumulative", "deltatorate", "redaction", "routing", "interval", "metricsgeneration",
        "logdedup", "schema", "unroll", "geoip", "remotetap", "sumologic", "isolationforest",
    },
    "exporters": {
        "otlp", "otlp_grpc", "otlphttp", "otlp_http", "debug", "nop", "prometheus",
        "prometheusremotewrite", "file", "kafka", "loadbalancing", "zipkin", "awsxray", "awsemf",
        "awss3", "awskinesis", "awscloudwatchlogs", "googlecloud", "googlemanagedprometheus",
        "azuremonitor", "datadog", "elasticsearch", "opensearch", "loki", "splunk_hec",
        "signalfx", "sumologic", "clickhouse", "influxdb", "honeycombmarker", "otelarrow",
        "coralogix", "dynatrace", "logzio", "sentry", "syslog",
    },
    "extensions": {
        "health_check", "healthcheckv2", "pprof", "zpages", "file_storage", "db_storage",
        "basicauth", "bearertokenauth", "oauth2client", "oidc", "headers_setter", "sigv4auth",
        "asapclient", "memory_limiter", "observer", "docker_observer", "host_observer",
        "k8s_observer", "ecs_observer", "opamp", "jaegerremotesampling", "remotetap",
    },
    "connectors": {
        "forward", "count", "spanmetrics", "servicegraph", "routing", "exceptions",
        "failover", "roundrobin", "sum", "signaltometrics", "datadog", "grafanacloud",
    },
}

SIGNALS = {"traces", "metrics", "logs", "profiles"}
# Collector component ids: type[/name]; the type is a lower-case identifier.
ID_RE = re.compile(r"^([a-zA-Z][0-9a-zA-Z_]{0,62})(?:/([^/\s]+))?$")


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (PyYAML keeps the last one silently)."""


def _construct_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen[key] = True
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def component_type(component_id: str) -> str | None:
    match = ID_RE.match(component_id)
    return match.group(1) if match else None


def check_config(doc: Any) -> tuple[list[str], list[str]]:
    """Returns (errors, warnings) for one parsed config."""
    errors: list[str] = []
    warnings: list[str] = []
    if not isinstance(doc, dict):
        return ["top level is not a mapping"], warnings

    defined: dict[str, dict[str, Any]] = {}
    for kind, known in KNOWN_TYPES.items():
        section = doc.get(kind)
        if section is None:
            section = {}
        if not isinstance(section, dict):
            errors.append(f"`{kind}` is not a mapping")
            section = {}
        for cid in section:
            if not isinstance(cid, str):
                errors.append(f"{kind}: component id {cid!r} is not a string")
                continue
            ctype = component_type(cid)
            if ctype is None:
                errors.append(f"{kind}: `{cid}` is not a valid component id (type[/name])")
            elif ctype not in known:
                errors.append(f"{kind}: `{cid}`: unknown {kind[:-1]} type `{ctype}`")
        defined[kind] = {k: v for k, v in section.items() if isinstance(k, str)}

    unknown_sections = sorted(
        set(doc) - set(KNOWN_TYPES) - {"service"}
    )
    for name in unknown_sections:
        errors.append(f"unknown top-level section `{name}`")

    service = doc.get("service")
    if not isinstance(service, dict):
        errors.append("`service` is missing or not a mapping")
        return errors, warnings

    used: dict[str, set[str]] = {kind: set() for kind in KNOWN_TYPES}

    extensions = service.get("extensions") or []
    if not isinstance(extensions, list):
        errors.append("service.extensions is not a list")
        extensions = []
    for ext in extensions:
        used["extensions"].add(ext)
        if ext not in defined["extensions"]:
            errors.append(f"service.extensions: `{ext}` is not defined under `extensions`")

    pipelines = service.get("pipelines")
    if not isinstance(pipelines, dict) or not pipelines:
        errors.append("service.pipelines is missing, empty or not a mapping")
        pipelines = {}

    for pid, pipeline in pipelines.items():
        where = f"service.pipelines.{pid}"
        signal = component_type(str(pid))
        if signal not in SIGNALS:
            errors.append(f"{where}: pipeline id must be traces|metrics|logs|profiles[/name]")
        if not isinstance(pipeline, dict):
            errors.append(f"{where}: not a mapping")
            continue
        for key in sorted(set(pipeline) - {"receivers", "processors", "exporters"}):
            errors.append(f"{where}: unknown key `{key}`")

        lists: dict[str, list[Any]] = {}
        for role in ("receivers", "processors", "exporters"):
            value = pipeline.get(role)
            if value is None:
                value = []
            if not isinstance(value, list):
                errors.append(f"{where}.{role}: not a list")
                value = []
            lists[role] = value
            dupes = sorted({str(v) for v in value if value.count(v) > 1})
            for dupe in dupes:
                errors.append(f"{where}.{role}: `{dupe}` listed more than once")

        for role in ("receivers", "exporters"):
            if not lists[role]:
                errors.append(f"{where}: needs at least one entry in `{role}`")
            for cid in lists[role]:
                if cid in defined[role]:
                    used[role].add(cid)
                elif cid in defined["connectors"]:
                    used["connectors"].add(cid)
                else:
                    errors.append(f"{where}.{role}: `{cid}` is not defined under `{role}`")

        procs = lists["processors"]
        for cid in procs:
            used["processors"].add(cid)
            if cid not in defined["processors"]:
                errors.append(f"{where}.processors: `{cid}` is not defined under `processors`")
        types = [component_type(str(cid)) for cid in procs]
        if not types or types[0] != "memory_limiter":
            first = procs[0] if procs else "(none)"
            errors.append(
                f"{where}.processors: `memory_limiter` must come first (found `{first}`)"
            )
        if "batch" not in types:
            errors.append(f"{where}.processors: `batch` is missing")

    for kind in KNOWN_TYPES:
        for cid in sorted(set(defined[kind]) - used[kind]):
            warnings.append(f"{kind}: `{cid}` is defined but not used by the service")

    return errors, warnings


def check_file(path: Path) -> bool:
    try:
        doc = yaml.load(path.read_text(), Loader=UniqueKeyLoader)  # noqa: S506 (safe loader)
    except (OSError, yaml.YAMLError) as err:
        print(f"FAIL {path}: {err}")
        return False
    errors, warnings = check_config(doc)
    for warning in warnings:
        print(f"warn {path}: {warning}")
    for error in errors:
        print(f"FAIL {path}: {error}")
    if not errors:
        pipelines = ", ".join(sorted((doc.get("service") or {}).get("pipelines") or {}))
        print(f"ok   {path} (pipelines: {pipelines})")
    return not errors


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 2 if not argv else 0
    results = [check_file(Path(arg)) for arg in argv]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
