import type { Dashboard } from '@grafana/schema';
export const e: Dashboard = {"schemaVersion": 39, "panels": [{"type": "stat", "gridPos": {"h": 8, "w": 4, "x": 0, "y": 0}, "fieldConfig": {"defaults": {"unitt": "s"}, "overrides": []}}]};
export const f: Dashboard = {"schemaVersion": 39, "foo": 1};
export const g: Dashboard = {"schemaVersion": 39, "templating": {"list": [{"name": "a", "type": "query", "hide": 7, "refresh": 1, "current": {"text": "All", "value": "$__all"}}]}};
