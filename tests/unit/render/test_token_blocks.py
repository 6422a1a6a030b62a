"""bot.render.token_blocks: a person's own token on App Home, and the modal showing a new
one once."""

from __future__ import annotations

from bot.render.token_blocks import (
    CREATE,
    REVOKE,
    notice_view,
    personal_token_blocks,
    token_view,
)
from tests.support.view_limits import check_view_limits

NOW = 1_800_000_000.0


def test_without_a_token_one_button_makes_it() -> None:
    section, actions = personal_token_blocks(None, None, None, NOW)
    assert section["text"]["text"].startswith("*Your token*\nAn AI tool whose OpenTelemetry "
                                              "export does not say who you are")
    [button] = actions["elements"]
    assert (button["action_id"], button["text"]["text"], button["style"]) == (
        CREATE, "Create my token", "primary")


def test_with_a_token_it_says_when_and_offers_replace_and_revoke_each_asking_first() -> None:
    section, actions = personal_token_blocks("personal-U0ANA", NOW - 3 * 86400, NOW - 300,
                                             NOW)
    assert section["text"]["text"] == (
        "*Your token*\n`personal-U0ANA`: made 3 days ago, last report 5 min ago. What it "
        "sends that names nobody counts for you; it cannot report for anyone else.")
    replace, revoke = actions["elements"]
    assert (replace["action_id"], replace["text"]["text"]) == (CREATE, "Replace my token")
    assert (revoke["action_id"], revoke["text"]["text"], revoke["style"]) == (
        REVOKE, "Revoke my token", "danger")
    assert replace["confirm"]["confirm"]["text"] == "Replace"
    assert revoke["confirm"]["confirm"]["text"] == "Revoke"
    never = personal_token_blocks("ana", NOW, None, NOW)[0]["text"]["text"]
    assert "`ana`: made just now, never used yet." in never


def test_the_modal_shows_the_token_once_with_the_environment_to_paste() -> None:
    token = "tb.T0ACME.Ab-_9"
    view = token_view("personal-U0ANA", token, "https://tokenboard.example.com")
    check_view_limits(view)
    texts = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    assert "*Copy it now*: it is shown this once" in texts[0]
    assert texts[1].endswith(
        "```OTEL_EXPORTER_OTLP_ENDPOINT=https://tokenboard.example.com\n"
        "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf\n"
        f'OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer {token}"```')
    assert (f"`https://tokenboard.example.com/ingest`: send `Authorization: Bearer {token}`; "
            "events may leave out `user`.") in texts[2]
    placeholder = token_view("n", token, "https://<your-host>")
    assert "OTEL_EXPORTER_OTLP_ENDPOINT=https://&lt;your-host&gt;" in str(placeholder)


def test_a_notice_is_one_sentence_in_a_modal() -> None:
    view = notice_view("No token made for you today", "Nothing.")
    check_view_limits(view)
    assert view["title"]["text"] == "No token made for you to"
    assert [b["text"]["text"] for b in view["blocks"]] == ["Nothing."]
