"""What a reader sees in Slack for a piece of mrkdwn that tokenboard wrote.

Written from Slack's rules, not from `bot.render.blocks`: the fallback text of a date token
(`<!date^…|fallback>`) is shown as is, and `&amp;`, `&lt;`, `&gt;` are shown as `&`, `<`, `>`.
"""

from __future__ import annotations

import re

DATE_FALLBACK = re.compile(r"<!date\^[^|>]*\|([^>]*)>")
LIVE = re.compile(r"<(?:@[UW]|!(?:here|channel|everyone|subteam)|#C)", re.IGNORECASE)


def shown(mrkdwn: str) -> str:
    text = DATE_FALLBACK.sub(lambda m: m.group(1), mrkdwn)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def live_mentions(mrkdwn: str) -> list[str]:
    """The `<@U…>`, `<!here>`, `<!channel>`, `<!everyone>`, `<!subteam…>`, `<#C…>` commands
    Slack would act on in `mrkdwn` (escaped text never matches)."""
    return LIVE.findall(mrkdwn)
