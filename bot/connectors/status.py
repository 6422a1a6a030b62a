"""What the vendor connectors last did, for admins on App Home: each configured
connector's last pull, and which source counts each tool that arrives by several."""

from __future__ import annotations

import time

from bot.connectors import runner, vendors
from bot.connectors.vendors import PULL_HOUR
from bot.intake.tool_sources import LABELS, holders
from bot.render.blocks import ago, code_span, escape
from bot.runtime.deps import Deps

__all__ = ["status_lines"]


def status_lines(deps: Deps, now: float | None = None) -> list[str]:
    """For admins on App Home (mrkdwn, vendor text escaped): each configured connector's
    last pull, and which source counts each tool that arrives by several."""
    sources = vendors.configured(deps.settings)
    lines = []
    if sources:
        last = runner.last_results(deps.store, sources)
        for source in sources:
            result = last.get(source)
            if result is None:
                lines.append(f"• {source}: not pulled yet (daily after {PULL_HOUR:02d}:00 UTC, "
                             f"or {code_span('tokenboard pull ' + source)})")
                continue
            when = ago((now or time.time()) - result.finished)
            text = (f"• {source}: last pull {when}, {result.rows:,} rows, {result.people:,} "
                    f"people, {result.changed:,} new or changed")
            if result.unmapped:
                text += f", {len(result.unmapped)} unmapped"
            if result.rejected:
                text += f", {result.rejected} rejected"
            if result.no_data:
                text += f" — no data: {escape(result.no_data_text())}"
            if result.skipped:
                text += f" — skipped: {escape(result.skipped)}"
            if result.error:
                text += f" — :warning: stopped, resumes next time: {escape(result.error[:300])}"
            lines.append(text)
    config = deps.store.configs.load()
    for tool, (source, named) in sorted(holders(deps.store, config).items()):
        how = "set in the configuration" if named else "the first source heard from"
        lines.append(f"• {tool} counts from {LABELS.get(source, source)} ({how}; "
                     "tool_sources in the configuration changes it)")
    return (["*Admin usage reports*"] + lines) if lines else []
