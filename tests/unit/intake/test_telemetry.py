"""bot.intake.telemetry: who an OTLP point is, what it adds to whose day, and counting an
export once (real Redis; identities without Slack). Expectations worked out by hand."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("attributes, expected", [
    ({"user.email": "Ana@X.com", "user.account_uuid": "acc-1"}, "email:ana@x.com"),
    ({"enduser.id": "bo@x.com", "user.account_uuid": "acc-1"}, "email:bo@x.com"),
    ({"enduser.id": "svc-7"}, "otel:svc-7"),
    ({"user.email": "not an email", "user.account_id": "acc-2"}, "otel:acc-2"),
    ({"user.id": "install-123", "session.id": "s"}, None),
])
def test_who_a_point_is(attributes: dict[str, str], expected: str | None) -> None:
    from bot.intake.telemetry import identity_of

    assert identity_of(attributes) == expected
