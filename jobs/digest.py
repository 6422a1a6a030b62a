"""Posting the daily digest: build it, claim the day in Redis, post once, attach the chart.

Exactly once per (workspace, channel, day) however many processes run:
1. a day already marked posted is skipped;
2. `SET NX EX` claims the day (the claim expires, so a process that dies mid-way does
   not block the digest for ever);
3. before posting, an "attempt" marker is set; if an earlier claimant had set it, it may
   have posted and died before recording the ts, so the channel history is searched for
   our message (found by its message metadata) before posting again;
4. after posting, the ts is recorded and the claim released.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import redis
from slack_sdk.errors import SlackApiError

from bot.boards.leaderboard import PeriodBoard
from bot.boards.usage import org_usage
from bot.core.agreement import MIN_TO_COMPARE, spearman
from bot.core.config import BoardConfig
from bot.core.periods import day_bucket, week_bucket
from bot.core.totals import Totals
from bot.intake.scoring import scoring_changes_since
from bot.render.blocks import escape
from bot.render.chart import chart_people, slope_chart, slope_chart_alt
from bot.render.digest_blocks import DigestData, digest_blocks, digest_people
from bot.runtime.deps import Deps
from bot.slack.digest_schedule import Schedule, current_schedule
from jobs.team_digest import TeamDigestResult, run_team_digests
from jobs.teams import digest_with_teams

log = logging.getLogger(__name__)
CLAIM_TTL = 120  # seconds: longer than building + posting takes, short enough to recover
METADATA_TYPE = "tokenboard_digest"
FATAL_ERRORS = {
    "channel_not_found": "the channel does not exist or the bot cannot see it; pick another "
                         "channel",
    "not_in_channel": "the bot is not in the channel; invite it with /invite @tokenboard",
    "is_archived": "the channel is archived; pick another channel",
    "invalid_auth": "the bot token is invalid; reinstall the app and update SLACK_BOT_TOKEN",
    "token_revoked": "the bot token was revoked; reinstall the app",
    "account_inactive": "the bot token belongs to a deactivated app; reinstall it",
    "missing_scope": "the bot lacks the chat:write scope; reinstall the app from manifest.yml",
}


@dataclass(frozen=True)
class Built:
    data: DigestData
    blocks: list[dict]
    text: str
    png: bytes | None
    alt: str
    chart_error: str | None = None  # why the chart could not be drawn (posted without it)


@dataclass(frozen=True)
class DigestResult:
    """What one digest run did (not an outcome of the boards: `bot.core.counts.Outcome`)."""

    status: str  # posted | already_posted | claimed_elsewhere | failed | disabled | no_channel
    day: date
    channel: str = ""
    ts: str | None = None
    error: str | None = None
    teams: tuple[TeamDigestResult, ...] = ()  # each team's own digest (team_digest_channels)


class DigestRunner:
    _upload_warned = False  # "chart upload not permitted" is logged once per process

    def __init__(self, deps: Deps, owner: str | None = None) -> None:
        self.deps = deps
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    # -- content ----------------------------------------------------------------------
    def build(self, day: date, config: BoardConfig | None = None,
              with_chart: bool = True) -> Built:
        config = config or self.deps.store.configs.load()
        lb = self.deps.leaderboards
        hidden = lb.hidden_from(None)  # opted-out people are never in a channel post
        board = lb.board_for_bucket(day_bucket(day), config, hidden)
        title = f"{day:%a %d %b %Y}"
        day_board = PeriodBoard(period="day", bucket=day_bucket(day), title=title,
                                label=f"on {day:%a %d %b}", config=config, board=board)
        data = DigestData(day=day, day_board=day_board,
                          previous_rho=self._rho_of(day - timedelta(days=1), config, hidden),
                          week_rho=quotable_rho(self._week_to_date(day, config, hidden)),
                          changes=self._changes(day),
                          tools=org_usage(self.deps.store, [day]))
        shown = chart_people(board.raw, board.outcome, config.board_size)
        names = self.deps.directory.names(digest_people(data))
        blocks, text = digest_blocks(data, names)
        blocks, text = digest_with_teams(self.deps, day, config, blocks, text)  # TEAMS
        png, alt, chart_error = None, "", None
        if with_chart and shown and config.display != "teams":  # TEAMS: nobody named
            if config.display == "anonymous":  # the chart names nobody either
                names = {r.user: "someone" for r in shown}
            try:
                png = slope_chart(shown, names, f"Usage rank → outcome rank, {day:%a %d %b %Y}")
                alt = slope_chart_alt(shown, names)
            except Exception as exc:  # the digest goes out without its chart, never not at all
                log.exception("digest %s: the chart could not be drawn; posting without it", day)
                png, alt = None, ""
                chart_error = f"{type(exc).__name__}: {str(exc)[:300]}"
        return Built(data=data, blocks=blocks, text=text, png=png, alt=alt,
                     chart_error=chart_error)

    def _rho_of(self, day: date, config: BoardConfig, hidden: frozenset[str]) -> float | None:
        """ρ of a past day, as its own digest published it when there was one (saves
        reading 2 × N scores again; None if it quoted none), else computed now (None
        with too few people to compare)."""
        store = self.deps.store
        known = store.digests.published_rho(day, rho_context(config, hidden))
        if known is not None:
            return known[0]
        return quotable_rho(store.reads.period_totals(day_bucket(day), config.raw_metric)
                            .without(hidden))

    def _week_to_date(self, day: date, config: BoardConfig, hidden: frozenset[str]) -> Totals:
        """The ISO week of `day` from Monday through `day`: the week bucket minus the
        later days of that week already recorded (usually just this morning's)."""
        store = self.deps.store
        totals = store.reads.period_totals(week_bucket(day), config.raw_metric)
        for offset in range(1, 7 - day.weekday()):
            later = store.reads.period_totals(day_bucket(day + timedelta(days=offset)),
                                        config.raw_metric)
            if len(later):
                totals = totals.minus(later)
        return totals.without(hidden)

    def _changes(self, day: date) -> list[str]:
        """Scoring changes since the last digest (or since the reported day began)."""
        since = self.deps.store.digests.last_posted_at()
        if since is None:
            start = datetime.combine(day, datetime.min.time(), self.deps.store.tz)
            since = start.timestamp()
        return scoring_changes_since(self.deps.store, since)

    # -- delivery ---------------------------------------------------------------------
    def run(self, day: date, force: bool = False) -> DigestResult:
        """Post the digest for local `day` unless it was already posted, then each team's
        own digest that is not out yet. Never raises."""
        result = self._run_main(day, force)
        if result.status == "disabled":
            return result
        try:
            config = self.deps.store.configs.load()
            teams = run_team_digests(self.deps, day, config, self.owner, CLAIM_TTL, force)
        except Exception:  # the scheduler must survive anything
            log.exception("team digests %s failed", day)
            return result
        return replace(result, teams=tuple(teams)) if teams else result

    def _run_main(self, day: date, force: bool) -> DigestResult:
        try:
            return self._run(day, force)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.error("digest %s: Redis unavailable (%s); not posted", day, exc)
            return DigestResult("failed", day, error=f"Redis unavailable: {exc}")
        except Exception as exc:  # the scheduler must survive anything
            log.exception("digest %s failed", day)
            return DigestResult("failed", day, error=str(exc))

    def _run(self, day: date, force: bool) -> DigestResult:
        config = self.deps.store.configs.load()
        schedule = current_schedule(self.deps, config)
        store = self.deps.store
        if not schedule.enabled and not force:
            return DigestResult("disabled", day)
        channel = schedule.channel
        if not channel:
            log.warning("digest %s: no channel configured (DIGEST_CHANNEL)", day)
            return DigestResult("no_channel", day)
        if self.deps.client is None:
            return DigestResult("failed", day, channel, error="SLACK_BOT_TOKEN is not set")
        if schedule.channel_error:
            log.error("digest %s: %s", day, schedule.channel_error)
            store.digests.set_error(f"Digest for {day} not posted: "
                                   f"{escape(schedule.channel_error)}")
            return DigestResult("failed", day, channel, error=schedule.channel_error)
        posted = store.digests.posted(channel, day)
        if posted and not force:
            return DigestResult("already_posted", day, channel, ts=posted)
        if not store.digests.claim(channel, day, self.owner, CLAIM_TTL):
            return DigestResult("claimed_elsewhere", day, channel)
        try:
            posted = None if force else store.digests.posted(channel, day)
            if posted:
                return DigestResult("already_posted", day, channel, ts=posted)
            if store.digests.mark_attempt(channel, day) and not force:
                found = self._find_posted(channel, day)
                if found:
                    store.digests.mark_posted(channel, day, found)
                    log.info("digest %s was posted (ts %s) by a process that died; not "
                             "posting again", day, found)
                    return DigestResult("already_posted", day, channel, ts=found)
            built = self.build(day, config)
            ts = self._post(channel, day, built)
        except SlackApiError as exc:
            store.digests.release(channel, day, self.owner)
            error = exc.response.get("error", "unknown_error")
            hint = FATAL_ERRORS.get(error, "Slack refused the post")
            message = f"Digest for {day} to <#{channel}> failed: {error} ({hint})."
            log.error("digest %s to %s failed: %s (%s); not retrying", day, channel, error,
                      hint)
            fatal = error in FATAL_ERRORS  # retrying cannot help: stop automatic retries
            store.digests.set_error(message, channel if fatal else "", day if fatal else None)
            return DigestResult("failed", day, channel, error=error)
        except BaseException:
            store.digests.release(channel, day, self.owner)
            raise
        store.digests.mark_posted(channel, day, ts)
        agreement = built.data.day_board.board.agreement
        store.digests.record_published_rho(
            day, rho_context(config, self.deps.leaderboards.hidden_from(None)),
            agreement.spearman if agreement.people >= MIN_TO_COMPARE else None)
        store.digests.clear_error()
        if built.chart_error:  # shown to admins on App Home until the next digest
            store.digests.set_error(f"Digest for {day} was posted without its chart, which "
                                   f"could not be drawn ({escape(built.chart_error)}).")
        log.info("digest %s posted to %s (ts %s)", day, channel, ts)
        if built.png:
            self._upload_chart(channel, ts, day, built)
        return DigestResult("posted", day, channel, ts=ts)

    def _post(self, channel: str, day: date, built: Built) -> str:
        client = self.deps.client
        assert client is not None
        answer = client.chat_postMessage(
            channel=channel, text=built.text, blocks=built.blocks, unfurl_links=False,
            metadata={"event_type": METADATA_TYPE,
                      "event_payload": {"date": day.isoformat(),
                                        "workspace": self.deps.settings.workspace}})
        return answer["ts"]

    def _find_posted(self, channel: str, day: date) -> str | None:
        """The ts of our digest for `day` in the channel's recent history, if any."""
        client = self.deps.client
        assert client is not None
        try:
            history = client.conversations_history(channel=channel, limit=200,
                                                   include_all_metadata=True)
        except SlackApiError as exc:
            log.warning("digest %s: cannot read channel history to check for an earlier "
                        "post (%s); posting", day, exc.response.get("error"))
            return None
        for message in history.get("messages", []):
            meta = message.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if meta.get("event_type") == METADATA_TYPE and payload.get("date") == day.isoformat():
                return message["ts"]
        return None

    def _upload_chart(self, channel: str, ts: str, day: date, built: Built) -> None:
        client = self.deps.client
        assert client is not None
        try:
            client.files_upload_v2(channel=channel, thread_ts=ts, content=built.png,
                                   filename=f"tokenboard-{day.isoformat()}.png",
                                   title=f"Usage rank vs outcome rank, {day:%d %b %Y}",
                                   alt_txt=built.alt)
        except Exception as exc:  # the digest is out; a missing chart is not worth a retry
            error = getattr(getattr(exc, "response", None), "get", lambda _k: None)("error")
            if not DigestRunner._upload_warned:
                DigestRunner._upload_warned = True
                log.warning("digest chart not uploaded (%s); add the files:write scope to "
                            "attach it", error or exc)


def quotable_rho(totals: Totals) -> float | None:
    """Spearman ρ of `totals` when the digest may quote it: `MIN_TO_COMPARE` or more
    active people (anyone with usage, points or tokens), and ρ defined; None otherwise."""
    active = (abs(totals.raw) > 1e-9) | (abs(totals.points) > 1e-9) | (
        abs(totals.tokens) > 1e-9)  # as `spearman` counts them
    if int(active.sum()) < MIN_TO_COMPARE:
        return None
    return spearman(totals)


def rho_context(config: BoardConfig, hidden: frozenset[str]) -> tuple:
    """What a published ρ depends on besides the data: scoring, who is left out and how
    many active people a ρ needs to be quoted at all."""
    return (config.model_dump_json(), tuple(sorted(hidden)), MIN_TO_COMPARE)


def previous_day(schedule: Schedule, now: datetime | None = None) -> date:
    """The local day a digest posted at `now` covers: the day before, in its time zone."""
    now = now or datetime.now(UTC)
    return now.astimezone(schedule.tz).date() - timedelta(days=1)
