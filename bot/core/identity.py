"""Identity names: `source:value`, how they are written (`normalize`) and what is not
one (`IdentityError`). Pure; the map from identities to Slack users is
`bot.intake.identities`."""

from __future__ import annotations

import re
from dataclasses import dataclass

IDENTITY = re.compile(r"^([a-z][a-z0-9-]{1,30}):([^\x00-\x20\x7f][^\x00-\x1f\x7f]{0,253})$")
EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


CASE_INSENSITIVE = ("email", "github", "gitlab")  # logins there ignore case
# The identities OpenTelemetry reports carry besides emails: `otel:ID` (an account id, or an
# enduser.id that is not an email) and `cursor:ID` (Cursor's opaque team-scoped user id).
# Neither names a person by itself: each is kept for nobody until an admin links it.
OTEL = "otel"
CURSOR = "cursor"


class IdentityError(ValueError):
    """An identity or link that cannot be used, with a message for the operator."""


def normalize(identity: str) -> str:
    """`source:value` with the source lower-cased (and emails lower-cased), or
    IdentityError saying what is wrong."""
    source, sep, value = identity.strip().partition(":")
    source = source.lower()
    if source in CASE_INSENSITIVE:
        value = value.lower()
    match = IDENTITY.match(f"{source}:{value}") if sep else None
    if not match:
        raise IdentityError(f"{identity!r} is not an identity like email:ana@example.com, "
                            "otel:user_01abc, cursor:4821 or github:octocat")
    source, value = match.groups()
    if source == "email" and not EMAIL.match(value):
        raise IdentityError(f"{value!r} is not an email address")
    return f"{source}:{value}"


@dataclass(frozen=True)
class Claim:
    """Someone's word that an identity is theirs, waiting for an admin."""

    identity: str
    user: str          # who says the identity is theirs
    at: float          # when (epoch s)
    linked_to: str | None  # whom the identity is linked to now, if anyone
