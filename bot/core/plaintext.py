"""Text that came from people (display names, labels) made safe to show anywhere.

`plain_text` is the one sanitizer every surface uses before its own escaping: Slack
mrkdwn (`bot.render.blocks.escape`), the terminal (`bot.render.text`), the chart
(`bot.render.chart`) and plain-text Slack fields. It removes what could change how the
text *around* a name is shown, whatever the surface:

- control characters (category Cc: ESC and other terminal escape introducers, NUL,
  DEL, C1 controls); tabs and line breaks become spaces;
- format characters (category Cf), which include every bidirectional override, embedding,
  isolate and mark (U+202A–U+202E, U+2066–U+2069, U+200E/U+200F, U+061C) and invisible
  characters; the zero-width joiner and non-joiner stay, as emoji sequences and several
  scripts need them;
- unpaired surrogates (category Cs), line and paragraph separators (Zl, Zp: spaces);
- runs of whitespace, collapsed to one space, and leading/trailing whitespace.
"""

from __future__ import annotations

import unicodedata

KEEP_FORMAT = frozenset("\u200c\u200d")  # zero-width non-joiner and joiner
SPACE_CATEGORIES = frozenset({"Zs", "Zl", "Zp"})
DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


def plain_text(text: str, limit: int | None = None) -> str:
    """`text` without control, bidi or format characters, whitespace collapsed; at most
    `limit` characters (the last one an ellipsis when cut)."""
    out = []
    for char in str(text):
        category = unicodedata.category(char)
        if char in "\t\n\r\v\f" or category in SPACE_CATEGORIES:
            out.append(" ")
        elif category not in DROP_CATEGORIES or char in KEEP_FORMAT:
            out.append(char)
    clean = " ".join("".join(out).split())
    if limit is not None and len(clean) > limit:
        clean = clean[:max(limit - 1, 0)].rstrip() + "…"
    return clean
