"""Every Redis key name tokenboard uses, built in one place.

All keys of a workspace share the hash tag `{ws}`, so the multi-key scripts of one
workspace stay in one Redis Cluster slot. The scripts (bot/store/lua/*.lua) build the
names of buckets (`<directory>:<i>`) and of a rebuild's sets (`<set>:rebuild`,
`rebuild:days`, …) from keys they were given, so those stay in the same slot. Layout:

    tb:{ws}:ids:<sender>:<date>       the sender's event ids of that local day (the report's
                                      own day): a directory hash (l, s, n) of buckets
    tb:{ws}:ids:<sender>:<date>:<i>   … each a small hash: 8-byte id digest → 4-byte content
                                      fingerprint, one expiry (linear hashing, see
                                      bot/store/lua/common/buckets.lua: each bucket stays
                                      a listpack)
    tb:{ws}:days:<date>               people's raw counts of that day: a directory hash
                                      (l, s, n) of buckets
    tb:{ws}:days:<date>:<i>           … each a small hash: user → the person's day packed
                                      as text (`T1200,C0.5,R3,pr_merged=2`, codes in
                                      bot/core/counts.py; `<user>|<k>` continues a long day):
                                      tokens, cost, requests, input_tokens,
                                      output_tokens, cache_read_tokens,
                                      cache_creation_tokens, sessions,
                                      a:<activity> (a tool's own claims, never points),
                                      t:<tool>, c:<tool>, m:<model> (tokens and cost per
                                      tool, tokens per model: bot/core/tools.py),
                                      o:<kind> (outcome counts; kept so scores can be rebuilt)
    tb:{ws}:tools:<date>              the org's tokens and cost per tool that day (hash
                                      t:<tool>/c:<tool> → amount; everyone's, mapped or not)
    tb:{ws}:z:<metric>:<scope>:<name> sorted set per period bucket; metric is tokens, cost,
                                      requests or points; scope d/w/m/a. cost and requests
                                      have d/w/m sets only while they are the raw metric
                                      (built by a rebuild when chosen); a for all four
    tb:{ws}:z:…:rebuild, z:…:rebuild:new  a running rebuild's temporary set, and the people
                                      new to a week/month/all-time set since it began
                                      copying them
    tb:{ws}:none                      never written: the scripts' placeholder for a set
                                      that is not kept
    tb:{ws}:gen                       bumped by every counted event (read-cache validator)
    tb:{ws}:user:<id>                 cached users.info answer (hash, 1 day)
    tb:{ws}:email:<email>             cached users.lookupByEmail answer (1 day)
    tb:{ws}:channel:<name>            cached channel id of a channel name (conversations.list,
                                      1 day)
    tb:{ws}:config, config:version, config:history, config:scored, config:raw
                                      the BoardConfig, its version, audit list, the
                                      version outcome points were rebuilt with, and the
                                      raw metric whose d/w/m sets are complete
    tb:{ws}:rebuild                   a running rebuild: hash token, version, metric
    tb:{ws}:rebuild:days              … day → buckets of the day rescored so far
    tb:{ws}:rebuild:copy              … period set → highest user hash copied so far
    tb:{ws}:pop:<scope>:<name>        the period's whole-population figures (ρ, τ, flag
                                      threshold, efficiency): JSON, see bot.core.population
    tb:{ws}:pop:wanted                sorted set period bucket → when a board of it was
                                      last read (the background refresh keeps those fresh)
    tb:{ws}:pop:claim:<scope>:<name>  one process refreshes a period's figures at a time
    tb:{ws}:boardchart:<scope>:<name> the period's slope chart drawn in the background
                                      (JSON: Slack file id, alt text, when, what was drawn)
    tb:{ws}:optout                    people left out of boards shown to others
    tb:{ws}:digest:...                digest claims, attempts, posted ts, errors, ρ
    tb:{ws}:tokens                    hash sha256(token) → sender name (tokens made by the CLI)
    tb:{ws}:token:<name>              hash: hash, created, source, user (a personal token's
                                      owner)
    tb:{ws}:tokens:owner              hash sha256(token) → Slack user a personal token
                                      belongs to (its reports naming nobody are theirs)
    tb:{ws}:tokens:personal           hash Slack user → the name of their personal token
    tb:{ws}:tokens:rate               hash name → the token's own requests a minute
    tb:{ws}:tokens:used               hash name → last used (epoch s)
    tb:{ws}:tokens:revoked            set of revoked sender names (also INGEST_TOKENS ones)
    tb:{ws}:tokens:version            bumped by every token change (bot.store.cached)
    tb:{ws}:ident                     hash identity ("source:value") → Slack user id
    tb:{ws}:ident:version             bumped by every link change (bot.store.cached)
    tb:{ws}:iday:<date>:<identity>    raw per-day counts of an identity that maps to nobody
    tb:{ws}:idays:<identity>          set of the days that identity has counts on
    tb:{ws}:unmapped:<metric>         sorted set identity → tokens / outcomes kept for it
    tb:{ws}:unmapped:last             hash identity → when it last reported (epoch s)
    tb:{ws}:series:<digest>           last point of a cumulative OTLP series (start, time, value)
    tb:{ws}:row:<source|identity>:<date>  what a vendor's daily row last said for that
                                      identity and day (field → amount): a corrected row
                                      replaces it and the day changes by the difference
    tb:{ws}:rows:<source>:<date>      set of the identities that source's pull reported
                                      on that day (a row missing from a later full answer
                                      for the day is withdrawn: set to zero)
    tb:{ws}:pull:<source>             hash: the last pull's result (JSON) and an unfinished
                                      pull's window and next day (resume)
    tb:{ws}:pull:<source>:claim       held while one process pulls that source
    tb:{ws}:pull:<source>:done:<date> a scheduled daily pull of that date is done
    tb:{ws}:toolsrc                   hash tool → the source first heard counting it
    tb:{ws}:heard                     hash source → when it last delivered a report
    tb:{ws}:chancheck:<channel>       App Home's "is the bot in the digest channel" (1 min)
    tb:{ws}:rankchart:<user>          hash sig, file: the person's uploaded App Home chart
    tb:{ws}:rankchart:off             set while chart uploads are refused (files:write)
    tb:{ws}:claims                    pending identity claims: "identity|user" → when
    tb:{ws}:approvals:<pr object>     who approved a pull request (read for approvals kept
                                      before approval delays were; no longer written)
    tb:{ws}:approved:<pr object>      hash reviewer → minutes from last push to approval
                                      (-1 unknown), bot.store.outcome_ledger
    tb:{ws}:prinfo:<src>:<repo>#<n>   hash pushed (epoch s), lines: last push and size
    tb:{ws}:pairs:<iso week>          hash "reviewer>author" → reviews that week
    tb:{ws}:pairseen:<iso week>       hash review object → "ordinal,reverse" it got
    tb:{ws}:deployed:<repo>@<sha>:<env>  the deployment status first credited for it
    tb:{ws}:incident:<incident object>  hash by (who or what triggered it), at
    tb:{ws}:closes:<repo>#<issue>     a merged pull request said it closes the issue
    tb:{ws}:mergesha:<repo>@<sha>     "repo#number" of the PR that merge commit came from
    tb:{ws}:merged:<repo>#<number>    author and modifiers a merged pull request was credited
    tb:{ws}:replay:<signature>        a Slack request already answered (replay guard)
    tb:{ws}:rate:<sender>             the sender's rate-limit state
    tb:{ws}:replay:<signature>        an accepted Slack request's signature, kept until it
                                      can no longer be valid (replays are not run again)
    tb:{ws}:rate:<sender>             rate limiter state of a sender (theoretical arrival
                                      time, ms); expires when the sender is idle
    tb:{ws}:team:…                    teams: rosters, per-period team sets and their markers
                                      (named and described in bot/store/teams.py)
    tb:{ws}:worker                    "host pid" of the live `tokenboard worker` (heartbeat,
                                      30 s expiry): while it is set, serve runs no jobs
    tb:{ws}:layout                    the storage layout's version (bot/store/layout.py)
    tb:{ws}:migrate                   a migration from an older layout under way: hash
                                      phase, SCAN cursor, keys moved (resume point)
    tb:{ws}:migrate:lock              "host pid" of the process migrating (expires)

The older layout (1, no `layout` key), read only to migrate it: `day:<date>:<user>` (a
person's day, a hash field → count) and `seen:<sender>:<date>` (a sender's event ids of a
day, a hash id → fingerprint) or `seen:<sender>:<event id>` (one string key per id).
"""

from __future__ import annotations

from datetime import date

from bot.core.periods import Bucket

# A workspace name: a Slack team or enterprise id (T012AB3CD, E012AB3CD), or a name such as
# `default` or `demo`. No braces (they would break the hash tag), no ':' (the separator).
INSTALL_PREFIX = "tb:{install}"  # one hash tag: installations are few and read together


class Keys:
    """Key names of one workspace."""

    def __init__(self, workspace: str) -> None:
        self.ws = workspace
        self.prefix = f"tb:{{{workspace}}}"

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix,) + parts)

    def zkey(self, metric: str, scope: str, name: str) -> str:
        return self.key("z", metric, scope, name)

    def board(self, metric: str, bucket: Bucket) -> str:
        """The sorted set of `metric` in a period bucket (tokens, cost, requests, points)."""
        return self.zkey(metric, bucket.scope, bucket.name)

    def days(self, day: date) -> str:
        """The directory of one day's buckets of people's counts."""
        return self.key("days", day.isoformat())

    def ids(self, sender: str, day: date) -> str:
        """The directory of a sender's event ids of one local day."""
        return self.key("ids", sender, day.isoformat())

    def rebuild(self, part: str = "") -> str:
        """A running rebuild's state (part "": token, version, metric; "days"; "copy")."""
        return self.key("rebuild", part) if part else self.key("rebuild")

    def none(self) -> str:
        """A key never written: the scripts' placeholder for a set that is not kept."""
        return self.key("none")

    def identity_day(self, day: date, identity: str) -> str:
        return self.key("iday", day.isoformat(), identity)

    def identity_days(self, identity: str) -> str:
        return self.key("idays", identity)

    def unmapped(self, metric: str) -> str:
        return self.key("unmapped", metric)

    def series(self, digest: str) -> str:
        return self.key("series", digest)

    def tool_totals(self, day: date) -> str:
        """The org's per-tool tokens and cost of one day (`t:<tool>`, `c:<tool>` →
        amount, bot.core.tools), everyone's, mapped or not."""
        return self.key("tools", day.isoformat())

    def vendor_row(self, row: str, day: date) -> str:
        """What a vendor's daily row (`source|identity`) last said for that day."""
        return self.key("row", row, day.isoformat())

    def vendor_rows_of_day(self, source: str, day: date) -> str:
        """The identities a source's pull reported on `day`."""
        return self.key("rows", source, day.isoformat())

    def pull(self, source: str, *what: str) -> str:
        """A connector's pull state (`what` empty), claim, or a scheduled day's marker."""
        return self.key("pull", source, *what)

    def tool_sources(self) -> str:
        return self.key("toolsrc")

    def replay(self, signature: str) -> str:
        return self.key("replay", signature)

    def rate(self, sender: str) -> str:
        return self.key("rate", sender)

    def rate_gate(self, request: str) -> str:
        """One request's gate (lua/record.lua): '1' once its first counting call was
        refused over the sender's rate, so that its later calls count nothing."""
        return self.key("gate", request)

    def channel_check(self, channel: str) -> str:
        return self.key("chancheck", channel)

    def rank_chart(self, user: str) -> str:
        return self.key("rankchart", user)

    def population(self, scope: str, name: str) -> str:
        return self.key("pop", scope, name)

    def population_wanted(self) -> str:
        return self.key("pop", "wanted")

    def population_claim(self, scope: str, name: str) -> str:
        return self.key("pop", "claim", scope, name)

    def board_chart(self, scope: str, name: str) -> str:
        return self.key("boardchart", scope, name)

    def rank_chart_off(self) -> str:
        return self.key("rankchart", "off")

    def worker_heartbeat(self) -> str:
        return self.key("worker")

    def layout(self) -> str:
        """The storage layout's version."""
        return self.key("layout")

    def migration(self, part: str = "") -> str:
        """A migration's resume point (part ""), or its lock ("lock")."""
        return self.key("migrate", part) if part else self.key("migrate")

    def layout1_days(self) -> str:
        """SCAN pattern of the older layout's person-day hashes, `day:<date>:<user>`."""
        return self.key("day", "*")

    def layout1_ids(self) -> str:
        """SCAN pattern of the older layout's event ids, `seen:<sender>:<date or id>`."""
        return self.key("seen", "*")


class InstallKeys:
    """Key names of Slack installations (not per workspace: they say which exist).

        tb:{install}:<app>:bot:<enterprise>:<team>          latest bot (JSON)
        tb:{install}:<app>:installer:<enterprise>:<team>[:<user>]
                                                            latest installation (JSON)
        tb:{install}:<app>:installed                        hash enterprise:team → JSON
        tb:{install}:<app>:state:<state>                    an OAuth state, until used
        tb:{install}:<app>:leaving                          hash workspace → when its data
                                                            is deleted (after uninstall)

    `<app>` is the Slack app's client id, so two apps can share one Redis; "none" stands
    for a missing enterprise or team.
    """

    def __init__(self, client_id: str = "") -> None:
        self.prefix = f"{INSTALL_PREFIX}:{client_id or 'app'}"

    def bot(self, enterprise: str, team: str) -> str:
        return f"{self.prefix}:bot:{enterprise}:{team}"

    def installation(self, enterprise: str, team: str, user: str | None = None) -> str:
        key = f"{self.prefix}:installer:{enterprise}:{team}"
        return f"{key}:{user}" if user else key

    def installed(self) -> str:
        return f"{self.prefix}:installed"

    def oauth_state(self, state: str) -> str:
        return f"{self.prefix}:state:{state}"

    def leaving(self) -> str:
        return f"{self.prefix}:leaving"
