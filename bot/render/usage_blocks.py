"""Where usage went, per tool and per model (`bot.boards.usage`): the viewer's own
(`/leaderboard me`, App Home) as Block Kit, and the org's split as the digest's one line.
Pure."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, ContextBlock, SectionBlock

from bot.boards.usage import UsageSummary
from bot.render.blocks import escape, mrkdwn


def _tokens(value: float) -> str:
    return f"{value:,.0f} tokens"


def _cost(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 else f"${value:.4f}"


def tool_lines(summary: UsageSummary) -> list[str]:
    """One line per tool: '• Claude Code: 1,000 tokens (67%) · $0.50'."""
    lines = []
    for tool in summary.tools:
        parts = [_tokens(tool.tokens) + f" ({tool.share}%)" if tool.tokens
                 else f"no tokens ({tool.share}% of the cost)"]
        if tool.cost:
            parts.append(_cost(tool.cost))
        lines.append(f"• {escape(tool.name)}: {' · '.join(parts)}")
    return lines


def models_line(summary: UsageSummary) -> str | None:
    """'Models: opus-4 900 tokens (90%), others 100 tokens (10%)', None without models."""
    if not summary.models and not summary.other_models:
        return None
    parts = [f"`{escape(m)}` {_tokens(n)} ({p}%)" for m, n, p in summary.models]
    if summary.other_models:
        parts.append(f"others {_tokens(summary.other_models)} ({summary.other_share}%)")
    return "Models: " + ", ".join(parts)


def build_usage_blocks(summary: UsageSummary, title: str) -> list[dict]:
    """The viewer's tokens and cost per tool, then briefly per model; nothing when no
    tool's usage is known for the period."""
    if not summary.tools:
        return []
    text = f"*{escape(title)}*\n" + "\n".join(tool_lines(summary))
    blocks: list[Block] = [SectionBlock(text=mrkdwn(text=text[:3000]))]
    models = models_line(summary)
    if models:
        blocks.append(ContextBlock(elements=[mrkdwn(text=models[:3000])]))
    return [b.to_dict() for b in blocks]


def usage_by_tool(summary: UsageSummary) -> str | None:
    """'Usage by tool: Claude Code 62%, Cursor 25%, Copilot 13%' (shares of the tokens;
    they add up to 100), None when no tool's usage is known."""
    if not summary.tools:
        return None
    return "*Usage by tool:* " + ", ".join(f"{escape(t.name)} {t.share}%"
                                          for t in summary.tools)
