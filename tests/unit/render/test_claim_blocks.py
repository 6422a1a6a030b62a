"""bot.render.claim_blocks: identity claims waiting for an admin, with their buttons."""

from __future__ import annotations

import json

from bot.intake.identities import Claim
from bot.render.claim_blocks import APPROVE, REJECT, claim_blocks


def test_no_claims_no_blocks() -> None:
    assert claim_blocks([]) == []


def test_each_claim_has_approve_and_reject_naming_identity_and_claimant() -> None:
    claims = [Claim("github:ana", "U0ANA", 1.0, None), Claim("github:b`o", "U0BO", 2.0, "U0X")]
    blocks = claim_blocks(claims)
    assert blocks[0]["text"]["text"] == "*2 identity claims waiting*"
    assert blocks[1]["text"]["text"] == "<@U0ANA> says `github:ana` is them."
    assert blocks[3]["text"]["text"] == "<@U0BO> says `github:b'o` is them (linked to <@U0X> now)."
    approve, reject = blocks[2]["elements"]
    assert (approve["action_id"], approve["style"], reject["action_id"], reject["style"]) == (
        APPROVE, "primary", REJECT, "danger")
    assert json.loads(approve["value"]) == {"identity": "github:ana", "user": "U0ANA"}
    assert approve["value"] == reject["value"]


def test_at_most_ten_are_listed_and_the_count_says_how_many_wait() -> None:
    claims = [Claim(f"github:p{i}", f"U0P{i:02d}", float(i), None) for i in range(12)]
    blocks = claim_blocks(claims)
    assert blocks[0]["text"]["text"] == "*12 identity claims waiting*"
    assert len(blocks) == 1 + 2 * 10
    single = claim_blocks(claims[:1])
    assert single[0]["text"]["text"] == "*1 identity claim waiting*"
