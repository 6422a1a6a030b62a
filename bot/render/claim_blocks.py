"""App Home blocks for admins: the identity claims waiting for a decision, each with
Approve / Reject buttons (the listener is `handlers.claims`). Pure: claims in, Block Kit
out."""

from __future__ import annotations

import json
from collections.abc import Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    MarkdownTextObject,
    SectionBlock,
)

from bot.core.identity import Claim
from bot.render.blocks import code_span

__all__ = ["APPROVE", "REJECT", "SHOWN", "claim_blocks"]

APPROVE, REJECT = "claim_approve", "claim_reject"
SHOWN = 10  # claims listed, at most (the count says how many wait in all)


def claim_blocks(claims: Sequence[Claim]) -> list[dict]:
    """The pending `claims` with Approve / Reject buttons; none when there are none. Each
    button's value names the identity and the claimant (as JSON)."""
    if not claims:
        return []
    blocks = [SectionBlock(text=MarkdownTextObject(
        text=f"*{len(claims)} identity claim{'s' if len(claims) != 1 else ''} waiting*"))]
    for claim in claims[:SHOWN]:
        now = (f" (linked to <@{claim.linked_to}> now)" if claim.linked_to else "")
        value = json.dumps({"identity": claim.identity, "user": claim.user})
        blocks.append(SectionBlock(text=MarkdownTextObject(
            text=f"<@{claim.user}> says {code_span(claim.identity)} is them{now}.")))
        blocks.append(ActionsBlock(elements=[
            ButtonElement(action_id=APPROVE, text="Approve", style="primary", value=value),
            ButtonElement(action_id=REJECT, text="Reject", style="danger", value=value),
        ]))
    return [b.to_dict() for b in blocks]
