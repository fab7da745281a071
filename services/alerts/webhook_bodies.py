"""What a receiver is sent about a rule's alerts: Alertmanager's webhook JSON (its notify/webhook Message, version
"4") or a Slack message. Built from instance bodies (services.alerts.alerts.as_dict) when a delivery is queued."""
import json
import socket
from datetime import UTC, datetime

from services.alerts.alerts import fingerprint

# Alertmanager's endsAt of an alert still firing: Go's zero time.
ZERO_TIME = "0001-01-01T00:00:00Z"
# Alerts in one body at most (Alertmanager's max_alerts); truncatedAlerts counts the rest. A rule grouped by a
# busy tag can have hundreds of instances, and a receiver rather gets a readable body than all of them.
MAX_ALERTS = 100
MAX_SLACK_LINES = 20
WILDCARD_HOSTS = ("", "0.0.0.0", "::")


def external_url(settings) -> str:
    """Where people open this panel: EXTERNAL_URL, else http://HOST:PORT (this machine's name for a wildcard HOST)."""
    if settings.get("EXTERNAL_URL"):
        return settings["EXTERNAL_URL"].rstrip("/")
    host = settings["HOST"] if settings["HOST"] not in WILDCARD_HOSTS else socket.gethostname()
    return f"http://{f'[{host}]' if ':' in host else host}:{settings['PORT']}"


def build(receiver_format: str, receiver_name: str, alerts: list[dict], status: str, base_url: str,
          kind: str | None = None) -> dict:
    """The body of one delivery: `alerts` (one rule's instance bodies) reported as `status` (firing|resolved)."""
    if receiver_format == "slack":
        return slack_body(alerts, status, base_url, kind)
    return alertmanager_body(receiver_name, alerts, status, base_url)


def alertmanager_body(receiver_name: str, alerts: list[dict], status: str, base_url: str) -> dict:
    """Alertmanager's webhook body, grouped by alertname as its default route does."""
    sent = alerts[:MAX_ALERTS]
    items = [alertmanager_alert(alert, status, base_url) for alert in sent]
    alertname = items[0]["labels"].get("alertname", sent[0]["rule_name"])
    return {"version": "4", "groupKey": f"{{}}:{{alertname={json.dumps(alertname, ensure_ascii=False)}}}",
            "truncatedAlerts": len(alerts) - len(sent), "status": status, "receiver": receiver_name,
            "groupLabels": {"alertname": alertname}, "commonLabels": common([item["labels"] for item in items]),
            "commonAnnotations": common([item["annotations"] for item in items]), "externalURL": base_url,
            "alerts": items}


def alertmanager_alert(alert: dict, status: str, base_url: str) -> dict:
    labels = strings(alert["labels"])
    ended = alert["resolved_at"] or alert["state_since"]
    return {"status": status, "labels": labels, "annotations": strings(alert["annotations"]),
            "startsAt": rfc3339(alert["fired_at"] or alert["started_at"]),
            "endsAt": rfc3339(ended) if status == "resolved" and ended else ZERO_TIME,
            "generatorURL": generator_url(base_url, alert), "fingerprint": alert["fingerprint"] or fingerprint(labels)}


def strings(mapping: dict) -> dict[str, str]:
    """Alertmanager's label and annotation values are strings, always."""
    return {str(name): str(value) for name, value in (mapping or {}).items()}


def common(mappings: list[dict]) -> dict:
    """The pairs every mapping shares (commonLabels, commonAnnotations)."""
    shared = dict(mappings[0]) if mappings else {}
    for mapping in mappings[1:]:
        shared = {name: value for name, value in shared.items() if mapping.get(name) == value}
    return shared


def rfc3339(iso: str) -> str:
    """An instance body's time as Go writes one (RFC 3339, UTC as Z)."""
    return datetime.fromisoformat(iso).astimezone(UTC).isoformat().replace("+00:00", "Z")


def generator_url(base_url: str, alert: dict) -> str:
    """The dashboard's page of this alert (its instance id), or the alerts page for a test without one."""
    return f"{base_url}/admin/alerts" + (f"?alert={alert['id']}" if alert.get("id") is not None else "")


def slack_body(alerts: list[dict], status: str, base_url: str, kind: str | None = None) -> dict:
    """`{"text"}`: a heading like "[FIRING:2] High CPU (critical)" and a line per alert."""
    first = alerts[0]
    heading = (f"{'[TEST] ' if kind == 'test' else ''}[{status.upper()}:{len(alerts)}] "
               f"{escape(first['labels'].get('alertname', first['rule_name']))} ({escape(first['severity'])})"
               f"{' still firing' if kind == 'reminder' else ''}")
    lines = [slack_line(alert, base_url) for alert in alerts[:MAX_SLACK_LINES]]
    if len(alerts) > MAX_SLACK_LINES:
        lines.append(f"… and {len(alerts) - MAX_SLACK_LINES} more")
    return {"text": "\n".join([heading, *lines])}


def slack_line(alert: dict, base_url: str) -> str:
    labels = ", ".join(f"{name}={value}" for name, value in sorted(alert["labels"].items())
                       if name not in ("alertname", "severity"))
    parts = [labels or "no labels", f"value {number(alert['value'])} (threshold {number(alert['threshold'])})"]
    if alert["annotations"].get("summary"):
        parts.append(str(alert["annotations"]["summary"]))
    return f"• {escape(' — '.join(parts))} <{generator_url(base_url, alert)}|view>"


def number(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f}".rstrip("0").rstrip(".")


def escape(text: str) -> str:
    """Slack reads &, < and > as markup: escaped, a label value cannot forge a link."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
