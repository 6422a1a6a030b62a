"""The slope chart shown with a `/leaderboard` reply: drawn, uploaded to Slack (not shared
to any channel; the reply's image block shows it) and remembered.

Drawing costs about half a second of CPU, so a request draws only for a small org (at
most `bot.boards.leaderboard.INLINE_PEOPLE` people, where ranks rarely change between two
replies and each process remembers what it uploaded). For a larger org the background
refresh draws each period's chart after its whole-population figures
(`refresh_shared_chart`) and keeps its file in Redis for every process; a reply shows the
latest one and says when it was drawn, and never waits for a drawing.
"""

from __future__ import annotations

import json
import logging
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.boards.leaderboard import PeriodBoard, ranked_on_request
from bot.core.population import signature
from bot.render.blocks import Chart
from bot.render.chart import chart_people, slope_chart, slope_chart_alt
from bot.runtime.deps import Deps

log = logging.getLogger(__name__)
CHARTS_KEPT = 64  # uploaded charts remembered per process (Deps.charts)
SHARED_CHART_TTL = 86400


def chart_for_reply(deps: Deps, client: WebClient, pb: PeriodBoard, names: dict,
                    viewer: str) -> Chart | None:
    """The chart for a private board: drawn now for a small org, else the period's latest
    chart from the background (None until one is drawn)."""
    if not pb.board.people:
        return None
    if ranked_on_request(pb.board.people):
        return upload_chart(deps, client, pb, names, viewer)
    raw = deps.store.charts.board_chart(pb.bucket)
    if raw is None:
        return None
    stored = json.loads(raw)
    if stored.get("signature") != signature(pb.config):
        return None
    return Chart(file_id=stored["file"], alt=stored["alt"], drawn_at=stored["at"])


def refresh_shared_chart(deps: Deps, client: WebClient, pb: PeriodBoard) -> bool:
    """Draw and upload the chart of `pb` (the board as everyone sees it) for every process
    to show, unless the one stored shows the same people, ranks and labels. True if a new
    chart was uploaded."""
    rows = chart_people(pb.board.raw, pb.board.outcome, pb.config.board_size)
    if not rows:
        return False
    if pb.config.display == "anonymous":
        names = {r.user: "someone" for r in rows}
    else:
        names = deps.directory.names([r.user for r in rows])
    drawn = json.dumps([pb.period, pb.bucket.suffix, pb.name or pb.label,
                        [(r.user, r.raw_rank, r.outcome_rank, r.points <= 0) for r in rows],
                        sorted(names.items())])
    raw = deps.store.charts.board_chart(pb.bucket)
    if raw is not None and json.loads(raw).get("drawn") == drawn:
        return False
    chart = _draw_and_upload(client, pb, rows, names)
    if chart is None:
        return False
    deps.store.charts.put_board_chart(pb.bucket, json.dumps({
        "file": chart.file_id, "alt": chart.alt, "at": time.time(), "drawn": drawn,
        "signature": signature(pb.config)}), SHARED_CHART_TTL)
    return True


def upload_chart(deps: Deps, client: WebClient, pb: PeriodBoard, names: dict, viewer: str
                 ) -> Chart | None:
    """Draw the period's slope chart and upload it; None when there is nothing to draw or
    it cannot be uploaded (e.g. the app lacks `files:write`), and the board is sent
    without it. A chart with exactly the same people, ranks and labels as one already
    uploaded by this process is reused, so repeated replies cost no drawing and no
    upload."""
    rows = chart_people(pb.board.raw, pb.board.outcome, pb.config.board_size)
    if not rows:
        return None
    if pb.config.display == "anonymous":  # the chart names nobody but the viewer
        names = {r.user: "you" if r.user == viewer else "someone" for r in rows}
    drawn = (pb.period, pb.bucket.name, pb.name or pb.label,
             tuple((r.user, r.raw_rank, r.outcome_rank, r.points <= 0) for r in rows),
             tuple(sorted((u, names.get(u, u)) for u in {r.user for r in rows})))
    charts = deps.charts
    if drawn in charts:
        charts.move_to_end(drawn)
        return charts[drawn]
    chart = _draw_and_upload(client, pb, rows, names)
    if chart is not None:
        charts[drawn] = chart
        while len(charts) > CHARTS_KEPT:
            charts.popitem(last=False)
    return chart


def forget_board_chart(deps: Deps, chart: Chart) -> None:
    """Slack refused a reply with `chart`: upload afresh next time."""
    for drawn in [k for k, v in deps.charts.items() if v == chart]:
        del deps.charts[drawn]
    if chart.drawn_at is not None:
        for key, raw in deps.store.charts.board_charts().items():
            if json.loads(raw).get("file") == chart.file_id:
                deps.store.charts.forget_board_chart(key)


def _draw_and_upload(client: WebClient, pb: PeriodBoard, rows: list, names: dict
                     ) -> Chart | None:
    try:
        png = slope_chart(rows, names, f"Usage rank → outcome rank, {pb.name or pb.label}")
        alt = slope_chart_alt(rows, names)
        answer = client.files_upload_v2(content=png, filename=f"tokenboard-{pb.period}.png",
                                        title=f"tokenboard · {pb.title}", alt_txt=alt)
        file = answer.get("file") or (answer.get("files") or [{}])[0]
        return Chart(file_id=file["id"], alt=alt) if file.get("id") else None
    except Exception as exc:  # the board goes out without its chart, never not at all
        error = exc.response.get("error") if isinstance(exc, SlackApiError) else exc
        log.warning("/leaderboard chart not attached (%s); add the files:write scope", error)
        return None
