"""A person's own token on App Home: "Create my token" (or "Replace" / "Revoke" once they
have one), and the modal that shows a new token once with the environment to paste (the
listener is `handlers.tokens`). Pure: plain data in, Block Kit out."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.render.blocks import ago, code_span, mrkdwn

__all__ = ["CREATE", "REVOKE", "notice_view", "personal_token_blocks", "token_view"]

CREATE, REVOKE = "personal_token_create", "personal_token_revoke"
WHY = ("An AI tool whose OpenTelemetry export does not say who you are (no `user.email` "
       "on its data points) can report with a token of your own: what it sends counts "
       "for you, and the token cannot report for anyone else.")


def personal_token_blocks(name: str | None, created: float | None,
                          last_used: float | None, now: float) -> list[dict]:
    """The viewer's token section: what a personal token is for and "Create my token"
    when they have none (`name` None); else its name, when it was made and last used,
    with "Replace my token" and "Revoke my token" (each asks first)."""
    if name is None:
        blocks: list[Block] = [
            SectionBlock(text=mrkdwn(f"*Your token*\n{WHY}")),
            ActionsBlock(block_id="personal_token", elements=[ButtonElement(
                text="Create my token", action_id=CREATE, value="create",
                style="primary")]),
        ]
        return [b.to_dict() for b in blocks]
    made = f"made {ago(now - created)}" if created is not None else "made earlier"
    used = ("never used yet" if last_used is None else
            "last report just now" if ago(now - last_used) == "just now" else
            f"last report {ago(now - last_used)}")
    blocks = [
        SectionBlock(text=mrkdwn(
            f"*Your token*\n{code_span(name)}: {made}, {used}. What it sends that names "
            "nobody counts for you; it cannot report for anyone else.")),
        ActionsBlock(block_id="personal_token", elements=[
            ButtonElement(text="Replace my token", action_id=CREATE, value="replace",
                          confirm=ConfirmObject(
                              title="Replace your token?", confirm="Replace", deny="Cancel",
                              text="A new token is shown once; the one you have stops "
                                   "working at once, so paste the new one everywhere.")),
            ButtonElement(text="Revoke my token", action_id=REVOKE, value="revoke",
                          style="danger", confirm=ConfirmObject(
                              title="Revoke your token?", confirm="Revoke", deny="Cancel",
                              text="Tools reporting with it are refused from now on. What "
                                   "it already reported stays counted.")),
        ]),
    ]
    return [b.to_dict() for b in blocks]


def token_view(name: str, token: str, base_url: str) -> dict:
    """The modal that shows a new personal token, once, with what to paste: the
    OpenTelemetry exporter's environment and the /ingest header."""
    env = (f"OTEL_EXPORTER_OTLP_ENDPOINT={base_url}\n"
           "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf\n"
           f'OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer {token}"')
    env = env.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    blocks: list[Block] = [
        SectionBlock(text=mrkdwn(
            f"Your token {code_span(name)} is below. *Copy it now*: it is shown this once "
            "(tokenboard keeps only its hash). Anything sent with it that names nobody "
            "counts for you; a report naming someone else is refused.")),
        SectionBlock(text=mrkdwn(
            "*For an AI tool's OpenTelemetry export*, set in its environment:\n"
            f"```{env}```")),
        SectionBlock(text=mrkdwn(
            f"*For reports of your own* to {code_span(base_url + '/ingest')}: send "
            f"{code_span('Authorization: Bearer ' + token)}; events may leave out `user`.")),
        ContextBlock(elements=[mrkdwn(
            "Lost it? Make another on App Home: it replaces this one. Revoke it there "
            "when you no longer use it.")]),
    ]
    return View(type="modal", title="Your token", close="Done", blocks=blocks).to_dict()


def notice_view(title: str, text: str) -> dict:
    """A modal with one sentence (`text` is mrkdwn, already escaped)."""
    return View(type="modal", title=title[:24], close="Close",
                blocks=[SectionBlock(text=mrkdwn(text))]).to_dict()
