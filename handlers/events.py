"""Reports arriving inside Slack as message metadata (`message_metadata_posted`).

The event is acked only after its report is counted: if Redis is down the listener
raises, Bolt answers 500, and Slack delivers again later (X-Slack-Retry-Num). The
report id makes the retried delivery count once.
"""

from __future__ import annotations

import logging

from slack_bolt import Ack, App, BoltContext

from bot.intake.ingest import ingest_events
from bot.runtime.workspaces import Workspaces

log = logging.getLogger(__name__)
EVENT_TYPES = {"ai_usage_reported": "usage", "outcome_reported": "outcome"}


def report_from_metadata(event: dict) -> dict | None:
    """The /ingest-shaped report inside a metadata event, or None if it is not ours."""
    metadata = event.get("metadata") or {}
    kind = EVENT_TYPES.get(metadata.get("event_type", ""))
    payload = metadata.get("event_payload")
    if kind is None or not isinstance(payload, dict):
        return None
    report = dict(payload)
    report.setdefault("type", kind)
    if "id" not in report:
        report["id"] = f"slack:{event.get('channel_id', '')}:{event.get('message_ts', '')}"
    if "user" not in report and "email" not in report and event.get("user_id"):
        report["user"] = event["user_id"]
    return report


def register(app: App, workspaces: Workspaces) -> None:
    @app.event("message_metadata_posted")
    def on_metadata(ack: Ack, event: dict, context: BoltContext) -> None:
        deps = workspaces.for_context(context)
        report = report_from_metadata(event)
        if report is None:
            ack()
            return
        result = ingest_events(deps.store, deps.identities, [report], sender="slack")
        for rejected in result.rejected:
            log.warning("metadata report %s rejected: %s", report.get("id"), rejected.reason)
        if result.counted:
            deps.store.heard.mark("slack")
        ack()
