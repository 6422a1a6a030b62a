"""App Home: the viewer's own numbers on both boards for today, this week, this month."""

from __future__ import annotations

import logging
import time

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.boards.rings import ring_note
from bot.boards.usage import person_usage_and_why
from bot.boards.why import why_blocks
from bot.connectors.status import status_lines
from bot.intake.scoring import recent_changes
from bot.render.blocks import ago, code_span, escape, fmt_number, home_view
from bot.render.claim_blocks import claim_blocks
from bot.render.token_blocks import personal_token_blocks
from bot.render.usage_blocks import build_usage_blocks
from bot.runtime.deps import Deps
from bot.runtime.workspaces import Workspaces
from bot.slack.digest_schedule import current_schedule
from bot.slack.first_run import forget_rank_chart, has_chart, history_blocks, setup_blocks
from bot.store.senders import SenderInfo

log = logging.getLogger(__name__)
HOME_PERIODS = ("today", "week", "month")


def home_token_blocks(deps: Deps, user: str, now: float | None = None) -> list[dict]:
    """`user`'s token section of App Home."""
    name = deps.senders.personal(user)
    info = deps.senders.info(name) if name else None
    if info is None or info.revoked:
        return personal_token_blocks(None, None, None, now or time.time())
    return personal_token_blocks(info.name, info.created, info.last_used, now or time.time())


def publish_home(deps: Deps, client: WebClient, user_id: str) -> None:
    config = deps.store.configs.load()  # once for the whole view
    boards = [deps.leaderboards.period_board(p, config, viewer=user_id, top_n=0)
              for p in HOME_PERIODS]
    is_admin = deps.is_admin(user_id, config=config)
    admin_notes = []
    admin_blocks: list[dict] = []
    setup: list[dict] = []
    if is_admin:
        schedule = current_schedule(deps, config)
        checklist, first_run = setup_blocks(deps, schedule.channel)
        setup = checklist if first_run else []
        admin_blocks = ([] if first_run else checklist) + claim_blocks(deps.identities.claims())
        if not schedule.channel:
            admin_notes.append("Daily digest: no channel set (DIGEST_CHANNEL).")
        else:
            state = "on" if schedule.enabled else "off"
            admin_notes.append(f"Daily digest ({state}): {schedule.time} {schedule.timezone} "
                               f"to <#{schedule.channel}>.")
        history = deps.store.configs.history(5)
        names = deps.directory.names(sorted({e["by"] for e in history if e.get("by")}))
        changes = recent_changes(history, names, schedule.tz)
        if changes:
            admin_notes.append("*Recent configuration changes*\n" + "\n".join(
                f"• {escape(line)}" for line in changes))
        senders = senders_note(deps)
        if senders:
            admin_notes.append(senders)
        unmapped = unmapped_note(deps)
        if unmapped:
            admin_notes.append(unmapped)
        pulls = status_lines(deps)
        if pulls:
            admin_notes.append("\n".join(pulls))
        forming = ring_note(deps, config)
        if forming:
            admin_notes.append(forming)
        error = deps.store.digests.error()
        if error:
            admin_notes.append(f":warning: {error}")
    history = history_blocks(deps, client, user_id, config)
    week = boards[HOME_PERIODS.index("week")]
    usage, made = person_usage_and_why(deps.store, config, week.bucket, user_id)
    why = (build_usage_blocks(usage, "Where your tokens went this week")
           + why_blocks(made, title="How your outcome points were made this week"))
    why = team_home_blocks(deps, user_id, config) + why  # TEAMS: the person's teams
    token = home_token_blocks(deps, user_id)

    def publish() -> None:
        client.views_publish(user_id=user_id,
                             view=home_view(user_id, boards, admin_notes, is_admin=is_admin,
                                            admin_blocks=admin_blocks, history=history,
                                            setup=setup, why=why, token=token))

    try:
        publish()
    except SlackApiError as exc:
        # Slack would not show the uploaded chart (not processed yet, or gone): the ranks
        # as text this time, a fresh upload next time.
        if not has_chart(history) or exc.response.get("error") not in (
                "invalid_arguments", "invalid_blocks"):
            raise
        log.warning("App Home chart refused by views.publish (%s); showing text",
                    exc.response.get("response_metadata") or exc.response.get("error"))
        forget_rank_chart(deps, user_id)
        history = history_blocks(deps, client, user_id, config, chart=False)
        publish()


def team_home_blocks(deps: Deps, user_id: str, config) -> list[dict]:
    """The person's teams and their places on this week's team board."""
    from bot.boards.teams import TeamBoards
    from bot.render.team_blocks import home_teams_blocks

    boards = TeamBoards(deps.store, now=deps.leaderboards.now)
    return home_teams_blocks(boards.places(user_id, "week", config))


def senders_note(deps: Deps, now: float | None = None) -> str | None:
    """The report senders by name (never their tokens), with when each last reported."""
    rows = deps.senders.list()
    if not rows:
        return None
    now = now or time.time()

    def when(row: SenderInfo) -> str:
        if row.revoked:
            return "revoked"
        if row.last_used is None:
            return "never reported"
        since = ago(now - row.last_used)
        return "reported just now" if since == "just now" else f"last report {since}"

    shown = "\n".join(f"• {code_span(r.name)}{f' (<@{r.owner}>)' if r.owner else ''}: "
                      f"{when(r)}" for r in rows[:15])
    more = f"\n…and {len(rows) - 15} more (`tokenboard tokens list`)" if len(rows) > 15 else ""
    return f"*Report senders* (tokens, by name)\n{shown}{more}"


def unmapped_note(deps: Deps, shown: int = 5) -> str | None:
    """Identities that report but map to nobody, for admins: their reports are kept and
    credited once linked."""
    rows, total = deps.identities.unmapped(limit=shown)
    if not rows:
        return None
    tokens = sum(r.tokens for r in rows)
    outcomes = sum(r.outcomes for r in rows)
    amounts = ", ".join(part for part in (f"{fmt_number(tokens)} tokens" if tokens else "",
                                          f"{fmt_number(outcomes)} outcomes" if outcomes else "")
                        if part)
    lines = [f"*{total} {'identity reports' if total == 1 else 'identities report'} but "
             f"{'maps' if total == 1 else 'map'} to nobody* (kept: {amounts}"
             f"{' among the ones shown' if total > len(rows) else ''})"]
    for row in rows:
        detail = ", ".join(part for part in (
            f"{fmt_number(row.tokens)} tokens" if row.tokens else "",
            f"{fmt_number(row.outcomes)} outcomes" if row.outcomes else "") if part)
        lines.append(f"• {code_span(row.identity)}: {detail}")
    lines.append("Link one to credit everything it sent, past days included: "
                 "`tokenboard identities link U012AB3CD SOURCE:VALUE`")
    return "\n".join(lines)


def register(app: App, workspaces: Workspaces) -> None:
    def ack_event(ack: Ack) -> None:
        ack()

    def on_home_opened(event: dict, client: WebClient, context: BoltContext) -> None:
        if event.get("tab", "home") == "home":
            publish_home(workspaces.for_context(context), client, event["user"])

    app.event("app_home_opened")(ack=ack_event, lazy=[on_home_opened])
