"""Block Kit for every surface, as pure functions of plain data.

Built with `slack_sdk.models.blocks`, whose `to_dict()` checks Slack's limits. Every
string that came from a user (names, labels) goes through `escape`, so that it shows as
the text it is:

- `bot.core.plaintext.plain_text` first removes control, bidi and format characters;
- `&`, `<` and `>` become `&amp;`, `&lt;`, `&gt;` (Slack's own escaping), so a display
  name like `<!channel>` or `<@U…>` renders as text and pings nobody;
- mrkdwn has no escape for `*`, `_`, `~` and `` ` ``, so each is put in the fallback text
  of a date token Slack cannot format (`<!date^0^{_}|*>`); Slack shows fallback text as
  is, without formatting, so a name's unpaired `*` cannot pair with another name's;
- every mrkdwn object is `verbatim`, so Slack does not parse plain text: `@here`,
  `@channel`, `#channel` or a URL in a name stay words, not mentions or links.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    ImageBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.blocks.basic_components import SlackFile
from slack_sdk.models.views import View

from bot.boards.leaderboard import PeriodBoard
from bot.core.agreement import agreement_summary
from bot.core.config import RAW_METRIC_LABELS, USER_ID
from bot.core.periods import PERIODS, period_phrase
from bot.core.plaintext import plain_text
from bot.core.ranking import Row

NAME_MAX = 28
HELP_TEXT = (
    "*/leaderboard* shows two rankings side by side:\n"
    "• *By usage*: who used the most AI tokens (the classic leaderboard).\n"
    "• *By outcomes*: who produced the most outcomes (PRs merged, deploys, incidents "
    "and tickets resolved, reviews), weighted, with diminishing returns per day so "
    "spamming trivial outcomes does not pay.\n"
    "A leaderboard of tokens alone rewards burning tokens; when a measure becomes a target "
    "it stops measuring (Goodhart's law). The gap between the two boards is the point: "
    "↑/↓ shows how many places someone gains or loses when ranked by outcomes, and ρ "
    "(Spearman) says how well the two rankings agree overall.\n\n"
    "*Usage*\n"
    "`/leaderboard` — this week (the default)\n"
    "`/leaderboard today|yesterday|week|month|all` — another period (or the buttons under "
    "the board; *Share in channel* posts it where you typed the command)\n"
    "`/leaderboard me` — only your own numbers\n"
    "`/leaderboard teams [period]` — teams ranked per active member; "
    "`/leaderboard team NAME [period]` — the boards inside one team\n"
    "`/leaderboard optout` / `optin` — leave or rejoin the boards others see\n"
    "`/leaderboard link github LOGIN` — say which GitHub (GitLab, PagerDuty…) account is "
    "yours; an admin confirms it\n"
    "`/leaderboard forget-me` — delete everything tokenboard stored about you\n"
    "`/leaderboard config` — admins: metrics, weights, digest and privacy\n"
    "`/leaderboard help` — this text"
)


FORMAT_CHARS = frozenset("*_~`")
LITERAL = "<!date^0^{_}|%s>"  # fallback text of a date Slack cannot format: shown as is
ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _piece(char: str) -> str:
    if char in FORMAT_CHARS:
        return LITERAL % char
    return ENTITIES.get(char, char)


def mrkdwn(text: str) -> MarkdownTextObject:
    """A verbatim mrkdwn text object: formatting and `<…>` commands are processed, plain
    text (`@here`, `#general`, URLs) is not turned into mentions or links."""
    return MarkdownTextObject(text=text, verbatim=True)


def escape(text: str) -> str:
    """User-supplied text as literal mrkdwn (see the module docstring)."""
    return "".join(_piece(char) for char in plain_text(text))


def code_span(text: str) -> str:
    """Operator- or sender-supplied text (an identity, a sender name, a value to paste) as a
    mrkdwn code span: plain text, `&`, `<`, `>` as entities, no backticks; formatting
    characters stay as they are (a code span shows them literally)."""
    shown = plain_text(text).replace("`", "'")
    return "`" + shown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + "`"


def escape_short(name: str, visible: int = NAME_MAX, budget: int = 40) -> str:
    """Escape and shorten: at most `visible` characters shown and `budget` characters of
    escaped text (never half an entity or literal), so names full of `&`, `<` and `*`
    cannot push a 25-row board past Slack's 2,000-character field limit."""
    out, used = [], 0
    text = plain_text(name)
    for count, char in enumerate(text):
        piece = _piece(char)
        if count >= visible - 1 and len(text) > visible or used + len(piece) > budget - 1:
            return "".join(out) + "…"
        out.append(piece)
        used += len(piece)
    return "".join(out)


def ago(seconds: float) -> str:
    """How long ago, as App Home says it: "just now", "5 min ago", "3 h ago", "4 days ago"."""
    minutes = int(max(seconds, 0) // 60)
    if minutes < 2:
        return "just now"
    if minutes < 120:
        return f"{minutes} min ago"
    hours = minutes // 60
    return f"{hours} h ago" if hours < 48 else f"{hours // 24} days ago"


def fmt_number(value: float) -> str:
    """1234567 → '1.2M', 34000 → '34k', 12.345 → '12.3'."""
    v = abs(value)
    if v >= 1e9:
        return f"{value / 1e9:.1f}B"
    if v >= 1e6:
        return f"{value / 1e6:.1f}M"
    if v >= 1e4:
        return f"{value / 1e3:.0f}k"
    if v >= 1e3:
        return f"{value / 1e3:.1f}k"
    if v == int(v):
        return f"{int(value)}"
    return f"{value:.1f}"


def fmt_raw(value: float, metric: str) -> str:
    if metric == "cost":
        return f"${value:,.2f}"
    if metric == "requests":
        return f"{fmt_number(value)} req"
    return f"{fmt_number(value)} tokens"


def fmt_move(move: int) -> str:
    if move > 0:
        return f"↑{move}"
    if move < 0:
        return f"↓{-move}"
    return "="


def person_label(user: str, names: Mapping[str, str], display: str = "names",
                 viewer: str | None = None) -> str:
    """How a person appears in mrkdwn under the workspace's privacy setting.

    names: their escaped display name; mentions: `<@U…>` (Slack renders the name and
    notifies only in messages, never in ephemeral replies); anonymous: "someone",
    except the viewer's own row.
    """
    name = escape_short(names.get(user, user))
    if display in ("anonymous", "teams"):  # teams only: nobody named on shared surfaces
        return f"*you* ({name})" if user == viewer else "someone"
    if display == "mentions" and USER_ID.match(user):
        return f"<@{user}>"
    return name


def _row_line(row: Row, rank: int, value: str, label: str, flag: bool) -> str:
    marker = " ⚑" if flag else ""
    return f"`{rank:>2}.` {label} · {value} · {fmt_move(row.move)}{marker}"


def board_columns(pb: PeriodBoard, names: Mapping[str, str], show_flags: bool,
                  viewer: str | None = None, display: str | None = None) -> tuple[str, str]:
    """The two mrkdwn columns: raw board and outcome board, top N each."""
    size = pb.config.board_size
    metric = pb.config.raw_metric
    display = display or pb.config.display

    def label(row: Row) -> str:
        return person_label(row.user, names, display, viewer)

    raw_lines = [f"*By usage ({RAW_METRIC_LABELS[metric]})*"]
    for row in pb.board.raw[:size]:
        raw_lines.append(_row_line(row, row.raw_rank, fmt_raw(row.raw, metric), label(row),
                                   show_flags and row.flagged))
    out_lines = ["*By outcomes (points)*"]
    for row in pb.board.outcome[:size]:
        out_lines.append(_row_line(row, row.outcome_rank, f"{fmt_number(row.points)} pts",
                                   label(row), show_flags and row.flagged))
    return "\n".join(raw_lines), "\n".join(out_lines)


def own_line(pb: PeriodBoard, user: str) -> str:
    """The viewer's numbers in one line, or a note that they have none this period."""
    row = pb.board.by_user.get(user)
    people = pb.board.people
    if row is None:
        return f"You have no reported usage or outcomes {pb.label}."
    metric = pb.config.raw_metric
    eff = (f"{row.efficiency:.1f} pts per 1M tokens" if row.efficiency is not None
           else "efficiency not ranked below the minimum volume")
    return (f"*You:* #{row.raw_rank} of {people} by usage ({fmt_raw(row.raw, metric)}), "
            f"#{row.outcome_rank} by outcomes ({fmt_number(row.points)} pts), "
            f"{fmt_move(row.move)}; {eff}.")


PERIOD_ACTION = "leaderboard_period"  # action ids: leaderboard_period_<period>
SHARE_ACTION = "leaderboard_share"
SWITCH_PERIODS = {"today": "Today", "week": "This week", "month": "This month",
                  "all": "All time"}
MOVES_LEGEND = "↑/↓: places gained or lost when ranked by outcomes instead of usage."
FLAG_LEGEND = " ⚑ high usage, no outcomes (for review, not blame)."


@dataclass(frozen=True)
class Chart:
    """An uploaded slope chart: its Slack file id and its screen-reader text; `drawn_at`
    (epoch s) when it was drawn in the background rather than for this reply."""

    file_id: str
    alt: str
    drawn_at: float | None = None


def agreement_blocks(pb: PeriodBoard) -> list[Block]:
    """Words first (a section), statistics second (a context line)."""
    words, stats_line = agreement_summary(pb.board.agreement,
                                          period_phrase(pb.period, pb.name or pb.label),
                                          age=pb.board.figures_age,
                                          pending=pb.board.figures_missing)
    blocks: list[Block] = [SectionBlock(text=mrkdwn(text=words))]
    if stats_line:
        blocks.append(ContextBlock(elements=[mrkdwn(text=stats_line)]))
    return blocks


def period_actions(period: str, sharing: bool, period_action: str = PERIOD_ACTION,
                   share_action: str = SHARE_ACTION,
                   block_id: str = "leaderboard_actions") -> ActionsBlock:
    """A board's period buttons (`<period_action>_<period>`, the shown one primary) and,
    with `sharing`, its "Share in channel" button."""
    buttons = [ButtonElement(action_id=f"{period_action}_{p}", text=label, value=p,
                             style="primary" if p == period else None)
               for p, label in SWITCH_PERIODS.items()]
    if sharing:
        buttons.append(ButtonElement(action_id=share_action, text="Share in channel",
                                     value=period))
    return ActionsBlock(block_id=block_id, elements=buttons)


def leaderboard_blocks(pb: PeriodBoard, viewer: str, names: Mapping[str, str],
                       show_flags: bool = False, chart: Chart | None = None,
                       sharing: bool = False) -> list[dict]:
    """The private /leaderboard answer: both boards, moves, agreement in words then ρ/τ,
    the slope chart when one was uploaded, the viewer's line, and buttons to switch the
    period (and share the board, when admins allow it)."""
    blocks: list[Block] = [HeaderBlock(text=f"Leaderboard · {pb.title}"[:150])]
    if not pb.board.people:
        blocks.append(SectionBlock(text=mrkdwn(
            text=f"No usage or outcomes have been reported {pb.label} yet.")))
        blocks.append(period_actions(pb.period, sharing=False))
        return [b.to_dict() for b in blocks]
    left, right = board_columns(pb, names, show_flags, viewer=viewer)
    blocks.append(SectionBlock(fields=[mrkdwn(text=left),
                                       mrkdwn(text=right)]))
    blocks += agreement_blocks(pb)
    if chart is not None:
        title = f"Usage rank → outcome rank, {pb.name or pb.label}"
        if chart.drawn_at is not None:
            title += f" (drawn {time.strftime('%H:%M', time.gmtime(chart.drawn_at))} UTC)"
        blocks.append(ImageBlock(slack_file=SlackFile(id=chart.file_id), alt_text=chart.alt,
                                 title=title))
    row = pb.board.by_user.get(viewer)
    size = pb.config.board_size
    if row is None or row.raw_rank > size or row.outcome_rank > size:
        blocks.append(SectionBlock(text=mrkdwn(text=own_line(pb, viewer))))
    legend = MOVES_LEGEND + (FLAG_LEGEND if show_flags else "")
    blocks.append(ContextBlock(elements=[mrkdwn(text=legend)]))
    blocks.append(period_actions(pb.period, sharing))
    return [b.to_dict() for b in blocks]


def shared_board_blocks(pb: PeriodBoard, names: Mapping[str, str], show_flags: bool,
                        sharer: str) -> tuple[list[dict], str]:
    """The board as posted in a channel by "Share in channel", and its fallback text.

    Nobody's own line; people shown as the workspace's display setting says (anonymous:
    "someone" for everyone, and the sharer unnamed); flags only when `show_flags` (the
    setting is "everyone").
    The fallback text names nobody."""
    title = f"Leaderboard · {pb.title}"
    blocks: list[Block] = [HeaderBlock(text=title[:150])]
    left, right = board_columns(pb, names, show_flags, viewer=None)
    blocks.append(SectionBlock(fields=[mrkdwn(text=left), mrkdwn(text=right)]))
    blocks += agreement_blocks(pb)
    legend = MOVES_LEGEND + (FLAG_LEGEND if show_flags else "")
    # Anonymous boards name nobody, the person who shared them included.
    shared_by = (f"Shared by <@{sharer}> with `/leaderboard`." if USER_ID.match(sharer)
                 and pb.config.display != "anonymous" else "Shared with `/leaderboard`.")
    blocks.append(ContextBlock(elements=[mrkdwn(text=f"{legend} {shared_by}".strip())]))
    words, _ = agreement_summary(pb.board.agreement, period_phrase(pb.period,
                                                                   pb.name or pb.label),
                                 pending=pb.board.figures_missing)
    return [b.to_dict() for b in blocks], f"{title}: {words}"


def me_blocks(pb: PeriodBoard, viewer: str, why: list[dict] | None = None) -> list[dict]:
    """The viewer's line, then `why` (bot.boards.why.why_blocks: how their points were made)."""
    row = pb.board.by_user.get(viewer)
    blocks: list[Block] = [HeaderBlock(text=f"Your numbers · {pb.title}"[:150]),
                           SectionBlock(text=mrkdwn(text=own_line(pb, viewer)))]
    if row is not None and row.flagged:
        blocks.append(ContextBlock(elements=[mrkdwn(
            text="⚑ Your usage is in the top 10% with no outcomes reported: if your work "
                 "produces outcomes tokenboard does not see yet, ask an admin to add them.")]))
    return [b.to_dict() for b in blocks] + list(why or [])


def help_blocks(not_understood: str | None = None) -> list[dict]:
    blocks: list[Block] = []
    if not_understood:
        blocks.append(SectionBlock(text=mrkdwn(
            text=f"Sorry, I did not understand `{escape(not_understood[:200])}`. "
                 f"Periods are {', '.join(PERIODS)}.")))
    blocks.append(SectionBlock(text=mrkdwn(text=HELP_TEXT)))
    return [b.to_dict() for b in blocks]


def home_view(viewer: str, boards: list[PeriodBoard], admin_notes: list[str] | None = None,
              is_admin: bool = False, admin_blocks: list[dict] | None = None,
              history: list[dict] | None = None, setup: list[dict] | None = None,
              why: list[dict] | None = None, token: list[dict] | None = None) -> dict:
    """The App Home tab: the viewer's ranks on both boards for several periods, then
    `history` (their ranks over 30 days) and `token` (their personal token); for admins
    `setup` (what to connect) first."""
    blocks: list[Block] = []
    if is_admin and setup:
        blocks += [Block.parse(b) for b in setup]
        blocks.append(DividerBlock())
    blocks.append(HeaderBlock(text="Your AI usage and outcomes"))
    for pb in boards:
        blocks.append(SectionBlock(text=mrkdwn(
            text=f"*{escape(pb.title)}*\n{own_line(pb, viewer)}")))
    blocks += [Block.parse(b) for b in why or []]
    blocks += [Block.parse(b) for b in history or []]
    blocks += [Block.parse(b) for b in token or []]
    blocks.append(ContextBlock(elements=[mrkdwn(
        text="Two boards, on purpose: usage alone rewards burning tokens. "
             "Type `/leaderboard help` to learn more.")]))
    if is_admin:
        blocks.append(DividerBlock())
        blocks.append(SectionBlock(text=mrkdwn(text="*Admin*")))
        for note in admin_notes or []:
            blocks.append(SectionBlock(text=mrkdwn(text=note[:3000])))
        blocks += [Block.parse(b) for b in admin_blocks or []]
        blocks.append(ActionsBlock(block_id="admin_actions", elements=[ButtonElement(
            text="Configure tokenboard", action_id="open_config", value="open")]))
    return View(type="home", blocks=blocks[:100]).to_dict()
