"""bot.intake.identities: identities are normalised, and malformed ones refused (pure)."""

from __future__ import annotations

import pytest

from bot.intake.identities import IdentityError, normalize


@pytest.mark.parametrize("text, expected", [
    ("email:Ana@Example.COM", "email:ana@example.com"),
    ("OTEL:user_01ABC", "otel:user_01ABC"),
    ("github:octocat", "github:octocat"),
])
def test_identity_normalization(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize("text", ["octocat", "email:not-an-email", ":x", "github:"])
def test_bad_identities_are_refused(text: str) -> None:
    with pytest.raises(IdentityError):
        normalize(text)
