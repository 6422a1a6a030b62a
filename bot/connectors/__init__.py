"""Pulling usage from the vendors' admin reports: `http` (one HTTP client and retry
policy for every vendor), `vendors` (what to ask each vendor, in its own paths), `runner`
(windows, resume, counting and the last result) and `tool_sources` (which source counts
a tool that arrives by several). The wire formats live in `bot.sources`."""
