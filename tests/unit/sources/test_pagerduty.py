"""PagerDuty's wire format (bot/sources/pagerduty.py): signatures with rotation, resolved
incidents; pure. Every expected value is written out by hand; signature vectors were
computed with `openssl dgst -sha256 -hmac`. Payloads:
tests/unit/sources/webhook_payloads.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.sources.pagerduty import pagerduty_event_id, pagerduty_facts, pagerduty_verify
from bot.sources.webhook_facts import Fact
from tests.unit.sources.webhook_payloads import (
    USER_AGENT,
    pd_event,
    raw,
    refused,
)

# ---------------------------------------------------------------------------------------
# PagerDuty

PD_BODY = b'{"event":{"id":"01DEN3QB6VQZ2VAGVB4QBG4BWS","event_type":"incident.resolved"}}'
PD_NEW = "v1=8ebb2de630a9311e0ba4c252399cd81fe5423138fffe789a91135dd60a9f60a2"  # pd-secret-new
PD_OLD = "v1=5066c49e19662483d5cca7a68ea2344c6e301347b0c2f4b5df18704862d8dd7b"  # pd-secret-old


def test_pagerduty_signature_and_rotation() -> None:
    pagerduty_verify("pd-secret-new", PD_BODY, PD_NEW)
    pagerduty_verify("pd-secret-old", PD_BODY, PD_OLD)
    # while a secret rotates, both signatures are sent: either secret accepts the delivery
    for header in (f"{PD_NEW},{PD_OLD}", f"{PD_OLD},{PD_NEW}", f"{PD_OLD}, {PD_NEW}",
                   f"v2=abc,{PD_NEW}", PD_NEW.upper().replace("V1=", "v1=")):
        pagerduty_verify("pd-secret-new", PD_BODY, header)
    pagerduty_verify("pd-secret-old", PD_BODY, f"{PD_NEW},{PD_OLD}")


@pytest.mark.parametrize(("secret", "body", "header"), [
    ("pd-secret-new", PD_BODY, PD_OLD),  # only the other secret's signature
    ("pd-secret-other", PD_BODY, f"{PD_NEW},{PD_OLD}"),
    ("pd-secret-new", PD_BODY + b" ", PD_NEW),  # body changed
    ("pd-secret-new", PD_BODY, PD_NEW.replace("v1=", "v0=")),  # not v1
    ("pd-secret-new", PD_BODY, PD_NEW[len("v1="):]),  # no version
    ("pd-secret-new", PD_BODY, "v1=" + "0" * 64),
    ("pd-secret-new", PD_BODY, "v1=ünïcødé," + "v1=" + "f" * 64),
    ("pd-secret-new", PD_BODY, ","),
    ("pd-secret-new", PD_BODY, ""),
    ("pd-secret-new", PD_BODY, None),
    ("", PD_BODY, PD_NEW),
    ("pd-secret-new", PD_BODY, ",".join(["v1=00"] * 16 + [PD_NEW])),  # too many entries
])
def test_pagerduty_wrong_signatures_are_401(secret: str, body: bytes,
                                            header: str | None) -> None:
    refused(401, pagerduty_verify, secret, body, header)






def test_pagerduty_incident_resolved_by_a_user() -> None:
    body = raw(pd_event("incident.resolved", USER_AGENT))
    assert pagerduty_facts(body) == [Fact(
        kind="incident_resolved", actor="pagerduty:PLH1HKV", actor_email=None,
        ts=datetime(2020, 10, 2, 18, 45, 22, 169000, tzinfo=UTC),
        object_id="pagerduty:incident:PGR0VU2",
        ref="https://acme.pagerduty.com/incidents/PGR0VU2",
        delivery_id="5ac64822-4adc-4fda-ade0-410becf0de4f")]
    assert pagerduty_event_id(body) == "5ac64822-4adc-4fda-ade0-410becf0de4f"


def test_pagerduty_nothing_to_credit() -> None:
    service = {"id": "PF9KMXH", "type": "service_reference", "summary": "API Service"}
    assert pagerduty_facts(raw(pd_event("incident.resolved", None))) == []
    assert pagerduty_facts(raw(pd_event("incident.resolved", service))) == []
    for other in ("incident.acknowledged", "incident.reopened", "service.updated",
                  "pagey.ping"):
        assert pagerduty_facts(raw(pd_event(other, USER_AGENT))) == []
    assert pagerduty_event_id(raw({"event": {"event_type": "pagey.ping"}})) is None


def test_pagerduty_missing_fields_are_400_naming_them() -> None:
    for path in ("data.id", "occurred_at", "id"):
        doc = pd_event("incident.resolved", USER_AGENT)
        *parents, leaf = path.split(".")
        target = doc["event"]
        for key in parents:
            target = target[key]
        del target[leaf]
        assert f"event.{path}" in refused(400, pagerduty_facts, raw(doc)).message
    doc = pd_event("incident.resolved", USER_AGENT)
    doc["event"]["data"]["id"] = "PGR 0VU2"
    assert "event.data.id" in refused(400, pagerduty_facts, raw(doc)).message
    refused(400, pagerduty_facts, b"\x00")
    refused(400, pagerduty_event_id, b"[]")
