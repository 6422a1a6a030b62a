"""Pulling usage from the vendors' admin reports: `http` (one HTTP client and retry
policy for every vendor), `vendors` (what to ask each vendor, in its own paths) and
`runner` (windows, resume, counting and the last result). The wire formats live in
`bot.sources`; which source counts a tool that arrives by several is
`bot.intake.tool_sources`."""
