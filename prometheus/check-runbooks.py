#!/usr/bin/env python3
"""Every alert has a runbook (the `runbooks` check of prometheus/check.sh).

    check-runbooks.py RUNBOOK_DIR RULE_FILE...

For every alerting rule in the rule files:
  * annotation `runbook_url` is present and its value (a template) ends in `/<name>.md`, where
    <name> is the alert name in kebab case (PipelineBridgeDown -> pipeline-bridge-down,
    PipelineRunExceededSLA -> pipeline-run-exceeded-sla, Watchdog -> watchdog);
  * RUNBOOK_DIR/<name>.md exists, is not empty and names the alert.
Runbook files no alert points at are listed as a note (not a failure).
Exits 0 when every alert passed, 1 when one failed, 2 on a usage or parse error.
Needs PyYAML (prometheus/check.sh picks a Python that has it).
"""
import os
import re
import sys

import yaml


def kebab(name: str) -> str:
    # A capital starts a word; a run of capitals is one word (SLA, AWS) unless the last of the
    # run starts a capitalised word (HTTPServer -> http-server).
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name)
    return s.lower()


def main(argv: list) -> int:
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    runbooks, files = argv[1], argv[2:]
    if not os.path.isdir(runbooks):
        print(f"FAIL runbook directory {runbooks} does not exist")
        return 1
    problems, used, alerts = [], set(), 0
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                doc = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError) as e:
            print(f"check-runbooks: cannot read {path}: {e}", file=sys.stderr)
            return 2
        for group in doc.get("groups") or []:
            for rule in group.get("rules") or []:
                name = rule.get("alert")
                if not name:
                    continue
                alerts += 1
                where = f"{os.path.basename(path)}: {name}"
                want = kebab(name) + ".md"
                url = ((rule.get("annotations") or {}).get("runbook_url") or "").strip()
                if not url:
                    problems.append(f"{where}: no runbook_url annotation")
                    continue
                if not url.endswith("/" + want):
                    problems.append(f"{where}: runbook_url does not end in /{want}: {url!r}")
                    continue
                used.add(want)
                file = os.path.join(runbooks, want)
                if not os.path.isfile(file):
                    problems.append(f"{where}: runbook {file} does not exist")
                    continue
                with open(file, encoding="utf-8") as f:
                    text = f.read()
                if not text.strip():
                    problems.append(f"{where}: runbook {file} is empty")
                elif name not in text:
                    problems.append(f"{where}: runbook {file} does not mention {name}")
                else:
                    print(f"  ok   {name} -> {want}")
    for p in problems:
        print(f"  FAIL {p}")
    orphans = sorted(
        f for f in os.listdir(runbooks)
        if f.endswith(".md") and f.lower() != "readme.md" and f not in used
    )
    if orphans:
        print(f"  note: runbooks no alert points at: {', '.join(orphans)}")
    if alerts == 0:
        print("  FAIL no alerting rules found")
        return 1
    print(f"  {alerts} alerts, {len(problems)} without a valid runbook")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
