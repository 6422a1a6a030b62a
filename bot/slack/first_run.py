"""App Home on the first run: what to connect, and each person's ranks over 30 days.

For admins, a checklist of every way reports arrive, each with the exact value to paste
(built from PUBLIC_URL) and whether tokenboard has heard from it (`Store.heard.sources`),
plus the digest channel and whether the bot is in it. While the workspace has no data
yet the whole checklist shows; once it has, one status line per source.

For everyone, their daily rank on both boards over the last 30 complete days
(`bot.boards.rank_history`, drawn by `bot.render.rank_chart`), as a PNG in an image
block. Home tabs cannot show an image from bytes, and `image_url` must be publicly
hosted, so the PNG is uploaded with `files_upload_v2` *without* a channel: the file
stays private to the bot, which is the one publishing the view, and the image block
refers to it with `slack_file: {"id": …}` (Slack renders a file the poster can access).
The file id is kept per person and reused while their ranks are unchanged (the 30 days
end yesterday, so at most one upload a day each); the one it replaces is deleted.
Without `files:write` (or when Slack refuses the file) the ranks show as a text
sparkline instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    ImageBlock,
    SectionBlock,
)
from slack_sdk.models.blocks.basic_components import SlackFile

from bot.boards.rank_history import DayRanks, daily_ranks
from bot.core.config import BoardConfig
from bot.core.periods import today
from bot.render.blocks import ago, code_span, mrkdwn
from bot.render.rank_chart import rank_chart, rank_chart_alt, sparkline_text
from bot.runtime.deps import Deps

log = logging.getLogger(__name__)
PLACEHOLDER = "https://<your-host>"
CHANNEL_CHECK_TTL = 60  # seconds a "bot in the digest channel?" answer is reused
CHART_TTL = 3 * 86400  # seconds a person's uploaded chart is remembered
UPLOAD_OFF_TTL = 600  # seconds uploads are not tried again after Slack refused one
HEARD = "heard"  # status words, also what the tests look for
NOT_HEARD = "not heard from yet"


@dataclass(frozen=True)
class Source:
    key: str  # as in Store.heard.sources
    title: str
    secret_env: str = ""  # the setting a webhook needs, if any


SOURCES = (
    Source("ingest", "HTTP `POST /ingest`"),
    Source("otlp", "OpenTelemetry (Claude Code, Gemini CLI, GenAI apps)"),
    Source("github", "GitHub webhook", "GITHUB_WEBHOOK_SECRET"),
    Source("gitlab", "GitLab webhook", "GITLAB_WEBHOOK_TOKEN"),
    Source("pagerduty", "PagerDuty webhook", "PAGERDUTY_WEBHOOK_SECRET"),
    Source("slack", "Slack message metadata"),
)


def _secret_set(deps: Deps, source: Source) -> bool:
    return bool(getattr(deps.settings, source.secret_env.lower(), ""))


def _heard_line(heard: dict[str, float], key: str, now: float) -> str:
    if key in heard:
        return f":white_check_mark: {HEARD} {ago(now - heard[key])}"
    return f":white_circle: {NOT_HEARD}"


def _how(deps: Deps, source: Source, base: str) -> str:
    """What to paste where, for one source."""
    if source.key == "ingest":
        return (f"URL: {code_span(base + '/ingest')}\nMake a token: "
                f"{code_span('tokenboard tokens create NAME')}, send it as "
                f"{code_span('Authorization: Bearer TOKEN')}")
    if source.key == "otlp":
        return (f"{code_span('OTEL_EXPORTER_OTLP_ENDPOINT=' + base)}\n"
                f"{code_span('OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf')}\n"
                f"{code_span('OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer TOKEN')} "
                f"(a token from {code_span('tokenboard tokens create NAME')})")
    if source.key == "slack":
        return ("Post messages whose metadata event type is `ai_usage_reported` or "
                "`outcome_reported` in a channel tokenboard is in; nothing to configure.")
    secret = (f":white_check_mark: {code_span(source.secret_env)} is set: paste the same value "
              "as the webhook's secret" if _secret_set(deps, source) else
              f":warning: {code_span(source.secret_env)} is not set: set it in tokenboard's "
              "environment (the endpoint answers 404 until then)")
    return f"Payload URL: {code_span(base + '/webhooks/' + source.key)}\n{secret}"


def channel_status(deps: Deps, channel: str) -> str:
    """Whether the bot can post the digest in `channel`, asked of Slack at most once a
    minute (shared by every process through Redis), so App Home opens stay cheap."""
    cached = deps.store.slack_cache.channel_check(channel)
    if cached is not None:
        return cached
    if deps.client is None:
        return "cannot check (SLACK_BOT_TOKEN is not set)"
    try:
        info = deps.client.conversations_info(channel=channel)["channel"]
    except SlackApiError as exc:
        error = exc.response.get("error")
        status = (":warning: tokenboard cannot see it: type `/invite @tokenboard` in the "
                  "channel" if error == "channel_not_found" else
                  f":warning: could not check it ({error})")
    except Exception as exc:  # network: say so, do not cache
        return f":warning: could not check it ({type(exc).__name__})"
    else:
        if info.get("is_archived"):
            status = ":warning: it is archived; choose another channel"
        elif info.get("is_member"):
            status = ":white_check_mark: the bot is in it"
        else:
            status = (":warning: the bot is not in it: type `/invite @tokenboard` in the "
                      "channel")
    deps.store.slack_cache.put_channel_check(channel, status, CHANNEL_CHECK_TTL)
    return status


def has_data(deps: Deps, heard: dict[str, float]) -> bool:
    """Anything reported yet: a source heard from, or anyone on the all-time boards."""
    return bool(heard) or deps.store.reads.has_counts()


def setup_blocks(deps: Deps, channel: str, now: float | None = None
                 ) -> tuple[list[dict], bool]:
    """The admin's checklist while nothing was reported (True: show it first), or one
    status line per source once something was (False: among the admin notes)."""
    now = time.time() if now is None else now
    heard = deps.store.heard.sources()
    base = deps.settings.public_url or PLACEHOLDER
    digest = (f"*Daily digest channel*: <#{channel}>: {channel_status(deps, channel)}"
              if channel else
              "*Daily digest channel*: :warning: none set (`DIGEST_CHANNEL`, or the "
              "configuration below)")
    if has_data(deps, heard):
        lines = []
        for source in SOURCES:
            if source.secret_env and not _secret_set(deps, source) and source.key not in heard:
                state = f"off ({code_span(source.secret_env)} not set)"
            else:
                state = _heard_line(heard, source.key, now)
            lines.append(f"• {source.title}: {state}")
        return [b.to_dict() for b in (
            SectionBlock(text=mrkdwn("*Sources*\n" + "\n".join(lines))),
            SectionBlock(text=mrkdwn(digest)))], False
    blocks: list[Block] = [
        HeaderBlock(text="Connect tokenboard"),
        SectionBlock(text=mrkdwn(
            "Nothing has been reported yet. Connect at least one source of usage (AI tools) "
            "and one of outcomes (GitHub, GitLab, PagerDuty, or your own JSON); each line "
            "turns green once tokenboard hears from it.")),
    ]
    if not deps.settings.public_url:
        blocks.append(ContextBlock(elements=[mrkdwn(
            "Set `PUBLIC_URL` (e.g. `https://tokenboard.example.com`) to see the real "
            "addresses instead of `https://&lt;your-host&gt;`.")]))
    for source in SOURCES:
        blocks.append(SectionBlock(text=mrkdwn(
            f"*{source.title}* · {_heard_line(heard, source.key, now)}\n"
            f"{_how(deps, source, base)}"[:3000])))
    blocks.append(SectionBlock(text=mrkdwn(digest)))
    return [b.to_dict() for b in blocks], True


# -- the viewer's ranks over 30 days ----------------------------------------------------


@dataclass(frozen=True)
class RankHistory:
    history: list[DayRanks]
    raw_metric: str

    @property
    def ranked(self) -> bool:
        return any(h.raw is not None for h in self.history)

    def signature(self) -> str:
        data = [(h.day.isoformat(), h.raw, h.outcome, h.no_outcomes) for h in self.history]
        return hashlib.sha256(json.dumps([self.raw_metric, data]).encode()).hexdigest()[:32]


def viewer_history(deps: Deps, user: str, config: BoardConfig) -> RankHistory:
    last_day = today(deps.store.tz, deps.leaderboards.now()) - timedelta(days=1)
    hidden = deps.leaderboards.hidden_from(user)
    return RankHistory(daily_ranks(deps.store, user, last_day, config.raw_metric,
                                   hidden=hidden), config.raw_metric)


def history_blocks(deps: Deps, client: WebClient, user: str, config: BoardConfig,
                   chart: bool = True) -> list[dict]:
    """"Your last 30 days": the chart when it can be shown, else the sparkline."""
    ranks = viewer_history(deps, user, config)
    title = f"*Your rank, last {len(ranks.history)} days*"
    if not ranks.ranked:
        return [SectionBlock(text=mrkdwn(
            f"{title}\nNot on the boards in the last {len(ranks.history)} days "
            "(today's numbers are above).")).to_dict()]
    file_id = chart_file(deps, client, user, ranks) if chart else None
    if file_id:
        return [SectionBlock(text=mrkdwn(title)).to_dict(),
                ImageBlock(slack_file=SlackFile(id=file_id), block_id="rank_chart",
                           alt_text=rank_chart_alt(ranks.history, ranks.raw_metric)[:2000]
                           ).to_dict()]
    return [SectionBlock(text=mrkdwn(
        f"{title}\n{sparkline_text(ranks.history, ranks.raw_metric)}")).to_dict()]


def chart_file(deps: Deps, client: WebClient, user: str, ranks: RankHistory) -> str | None:
    """The id of this person's uploaded chart for these ranks, uploading it if needed;
    None when uploads are not possible."""
    charts = deps.store.charts
    signature = ranks.signature()
    known_signature, known_file = charts.rank_chart(user)
    if known_signature == signature and known_file:
        return known_file
    if charts.uploads_off():
        return None
    try:
        png = rank_chart(ranks.history, ranks.raw_metric)
        answer = client.files_upload_v2(content=png, filename="tokenboard-ranks.png",
                                        title="Your rank, last 30 days",
                                        alt_txt=rank_chart_alt(ranks.history, ranks.raw_metric))
        file_id = str(answer["file"]["id"])
    except SlackApiError as exc:
        error = exc.response.get("error") or "error"
        log.warning("App Home rank chart not uploaded (%s); showing text instead%s", error,
                    ": add the files:write scope" if error == "missing_scope" else "")
        charts.turn_uploads_off(error, UPLOAD_OFF_TTL)
        return None
    except Exception as exc:  # drawing or network: text this time, try again next open
        log.warning("App Home rank chart not shown (%s: %s)", type(exc).__name__, exc)
        return None
    charts.put_rank_chart(user, signature, file_id, CHART_TTL)
    if known_file and known_file != file_id:
        try:  # the chart it replaces is never shown again
            client.files_delete(file=known_file)
        except Exception as exc:
            log.info("old rank chart %s not deleted (%s)", known_file, exc)
    return file_id


def forget_rank_chart(deps: Deps, user: str) -> None:
    """Slack would not show the uploaded chart (e.g. still being processed): drop it, so
    the next open uploads afresh."""
    deps.store.charts.forget_rank_chart(user)


def delete_chart_file(deps: Deps, client: WebClient, user: str) -> None:
    """Forget-me: delete the person's uploaded App Home chart from Slack too."""
    _, file_id = deps.store.charts.rank_chart(user)
    if not file_id:
        return
    try:
        client.files_delete(file=file_id)
    except Exception as exc:  # the rest of forget-me goes on
        log.warning("rank chart %s of %s not deleted (%s)", file_id, user, exc)


def has_chart(blocks: Sequence[dict]) -> bool:
    return any(b.get("block_id") == "rank_chart" for b in blocks)
