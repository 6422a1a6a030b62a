"""The request-time board read (bot.boards.read): top N, the viewer's line and the moves,
checked against ranking everyone with bot.core.ranking.rank_board, on a real Redis."""

from __future__ import annotations

import json

import pytest

from bot.boards import leaderboard as leaderboard_module
from tests.conftest import App

# -- in Slack, for an org too large to rank or draw on request ------------------------------

@pytest.mark.slow
def test_a_large_org_gets_its_board_at_once_and_the_chart_from_the_background(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    from jobs.figures import refresh_figures
    from tests.support.slack_app import first_reply, seeded

    monkeypatch.setattr(leaderboard_module, "INLINE_PEOPLE", 2)
    seeded(app)
    reply = first_reply(app, "today", "U0ANA", "c1")
    text = json.dumps(reply)
    assert "Fox Mori" in text and "being computed" in text
    assert not [b for b in reply["blocks"] if b["type"] == "image"]
    assert not app.stub.calls("files.completeUploadExternal")  # nothing drawn on request

    assert refresh_figures(app.deps) >= 1  # the worker's round: figures, then the chart
    [(file_id, png)] = app.stub.uploads().items()
    assert png.startswith(b"\x89PNG")
    reply = first_reply(app, "today", "U0BEN", "c2")
    [image] = [b for b in reply["blocks"] if b["type"] == "image"]
    assert image["slack_file"] == {"id": file_id} and "drawn " in image["title"]["text"]
    assert "Spearman" in json.dumps(reply) and "being computed" not in json.dumps(reply)
    assert refresh_figures(app.deps) == 0  # nothing changed: no work
    assert len(app.stub.calls("files.completeUploadExternal")) == 1


