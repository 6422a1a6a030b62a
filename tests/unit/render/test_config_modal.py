"""bot.render.config_modal: the configuration modal stays within Slack's limits however many
outcome kinds there are (pure)."""

from __future__ import annotations

from bot.core.config import BoardConfig, describe_changes
from bot.render.config_modal import config_view, kinds_page_view, parse_main
from tests.support.view_limits import check_view_limits, many_kinds_config


def test_a_hundred_kinds_are_all_reachable_within_the_limits() -> None:
    config = many_kinds_config(100)
    seen: list[str] = []
    view, page = config_view(config), 0
    while True:
        ids = check_view_limits(view)
        seen += [i.split(":")[1] for i in ids if i.startswith("weight:")]
        more = [b for b in view["blocks"] if b.get("block_id") == "more_kinds"]
        if not more:
            break
        page += 1
        assert more[0]["elements"][0]["value"] == str(page)
        view = kinds_page_view(config, page)
    # 20 on the main modal, then pages of 30: 21-50, 51-80, 81-100.
    assert page == 3 and seen == list(config.outcomes)


def test_codex_usage_is_chosen_in_the_modal_and_announced() -> None:
    view = config_view(BoardConfig())
    block = next(b for b in view["blocks"] if b.get("block_id") == "codex_usage")
    assert block["element"]["initial_option"]["value"] == "events"
    assert [o["value"] for o in block["element"]["options"]] == ["events", "metrics"]
    values = {"codex_usage": {"value": {"type": "radio_buttons",
                                        "selected_option": {"value": "metrics"}}}}
    chosen, _ = parse_main(values, BoardConfig())
    assert chosen.codex_usage == "metrics"
    assert parse_main({}, chosen)[0].codex_usage == "metrics"  # a form without it keeps it
    assert "codex usage events → metrics" in describe_changes(BoardConfig(), chosen)
