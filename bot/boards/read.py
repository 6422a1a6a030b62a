"""The board as a request reads it: the top N of each board, the viewer's own line and the
moves of the rows shown, in one Lua script whose cost does not grow with the org
(O(h + (N + h)·log n) for N rows shown and h people opted out). Its one write notes that
the period was read, so the background keeps its figures fresh.

The script runs atomically, so the ranks, moves and people count of one reply come from
one instant even while reports stream in. Ranks are competition ranks ("1224"): 1 + the
number of people shown to the viewer with a strictly higher value (`ZCOUNT (score +inf`
minus the opted-out people above). Ties are listed by user id, as the full ranking does:
Redis lists equal scores in reverse byte order, so the members tied at the cut-off are
read again in id order (`ZRANGEBYSCORE s s LIMIT`).

Whole-population figures (ρ, τ, flag threshold, efficiency) come from the stored
`Population` of the period (see `bot.core.population`), read in the same script.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.config import BoardConfig
from bot.core.periods import Bucket
from bot.core.population import Population, signature
from bot.core.ranking import Agreement, Board, Row
from bot.store.store import Store

# KEYS: 1 raw set, 2 points set, 3 tokens set, 4 opted-out people, 5 the period's stored
#       population figures, 6 generation, 7 the periods being read (sorted set)
# ARGV: 1 N (rows per board), 2 viewer ('' for none), 3 how many of the stored efficiency
#       leaders to read rows for, 4 this period's member of KEYS[7] ('' to leave it), 5 now
# Returns {people, raw top, points top, rows, population JSON or false, generation}, rows
# as flat [user, raw, points, tokens, higher on raw, higher on points] per active person.
TOP_LUA = """
local n, viewer = tonumber(ARGV[1]), ARGV[2]
local hidden, hidden_list = {}, {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  if m ~= viewer then hidden[m] = true; hidden_list[#hidden_list + 1] = m end
end
local function hidden_scores(key)
  local out = {}
  for _, m in ipairs(hidden_list) do
    local s = redis.call('ZSCORE', key, m)
    if s then out[#out + 1] = tonumber(s) end
  end
  return out
end
local hidden_raw, hidden_points = hidden_scores(KEYS[1]), hidden_scores(KEYS[2])
local function hidden_above(scores, value)
  local c = 0
  for _, x in ipairs(scores) do if x > value then c = c + 1 end end
  return c
end
local function top(key)
  if n <= 0 then return {} end
  local k = n + #hidden_list
  local page = redis.call('ZREVRANGE', key, 0, k - 1, 'WITHSCORES')
  local rows = {}
  for i = 1, #page, 2 do rows[#rows + 1] = {page[i], tonumber(page[i + 1])} end
  if #rows == k then
    -- Members tied with the last one read may go on past it: take them in id order.
    local cut, text = rows[#rows][2], page[#page]
    local kept = {}
    for _, r in ipairs(rows) do if r[2] > cut then kept[#kept + 1] = r end end
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, text, text, 'LIMIT', 0, k)) do
      kept[#kept + 1] = {m, cut}
    end
    rows = kept
  end
  table.sort(rows, function(a, b)
    if a[2] ~= b[2] then return a[2] > b[2] end
    return a[1] < b[1]
  end)
  local out = {}
  for _, r in ipairs(rows) do
    if not hidden[r[1]] then
      out[#out + 1] = r[1]
      if #out == n then break end
    end
  end
  return out
end
local raw_top, points_top = top(KEYS[1]), top(KEYS[2])
local wanted, seen = {}, {}
local function want(list)
  for _, m in ipairs(list) do
    if not seen[m] and not hidden[m] then seen[m] = true; wanted[#wanted + 1] = m end
  end
end
want(raw_top); want(points_top)
if viewer ~= '' then want({viewer}) end
local stored = redis.call('GET', KEYS[5])
if stored then
  local ok, figures = pcall(cjson.decode, stored)
  if ok and type(figures) == 'table' and type(figures.efficiency_leaders) == 'table' then
    for i, leader in ipairs(figures.efficiency_leaders) do
      if i > tonumber(ARGV[3]) then break end
      want({leader[1]})
    end
  end
end
local rows = {}
for _, m in ipairs(wanted) do
  local raw = redis.call('ZSCORE', KEYS[1], m)
  if raw then
    local points = redis.call('ZSCORE', KEYS[2], m) or '0'
    local tokens = raw
    if KEYS[3] ~= KEYS[1] then tokens = redis.call('ZSCORE', KEYS[3], m) or '0' end
    local rn, pn = tonumber(raw), tonumber(points)
    rows[#rows + 1] = m
    rows[#rows + 1] = raw
    rows[#rows + 1] = points
    rows[#rows + 1] = tokens
    rows[#rows + 1] = redis.call('ZCOUNT', KEYS[1], '(' .. raw, '+inf')
                      - hidden_above(hidden_raw, rn)
    rows[#rows + 1] = redis.call('ZCOUNT', KEYS[2], '(' .. points, '+inf')
                      - hidden_above(hidden_points, pn)
  end
end
local people = redis.call('ZCARD', KEYS[1]) - #hidden_raw
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[7], 'GT', ARGV[5], ARGV[4]) end
return {people, raw_top, points_top, rows, stored or false,
        tonumber(redis.call('GET', KEYS[6]) or '0')}
"""
EXTRA_ROWS_MAX = 50  # stored efficiency leaders read with the board, at most


@dataclass(frozen=True)
class TopRead:
    """What the script read: the board (top rows, the viewer's row, fresh people count
    and moves), the stored population figures it used, and the generation read."""

    board: Board
    population: Population | None
    generation: int


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def read_top(store: Store, bucket: Bucket, config: BoardConfig, viewer: str | None,
             population_key: str, top_n: int | None = None,
             now: float | None = None, wanted: str = "") -> TopRead:
    """The top `top_n` (default: the board size) of both boards for `viewer`: opted-out
    people are left out except the viewer themself. Rows carry efficiency and flags when
    stored population figures computed with this configuration exist; the board says how
    old they are (`figures_age`). `wanted`: the period's member of the set of periods
    being read, marked with `now` ('' marks nothing)."""
    n = config.board_size if top_n is None else top_n
    raw_key = store.zkey(config.raw_metric, bucket)
    now = time.time() if now is None else now
    keys = [raw_key, store.zkey("points", bucket), store.zkey("tokens", bucket),
            store.key("optout"), population_key, store.key("gen"),
            store.keys.population_wanted()]
    people, raw_top, points_top, flat, stored, generation = _script(store)(
        keys=keys, args=[n, viewer or "", min(n, EXTRA_ROWS_MAX), wanted, now])
    population = Population.from_json(stored) if stored else None
    if population is not None and population.signature != signature(config):
        population = None
    rows = _rows(flat, population, config)
    raw = [rows[_text(u)] for u in raw_top]
    outcome = [rows[_text(u)] for u in points_top]
    shown = min(n, int(people))
    raw_ids = {r.user for r in raw[:shown]}
    missing = len(raw_ids - {r.user for r in outcome[:shown]})
    agreement = Agreement(
        people=int(people),
        spearman=population.spearman if population else None,
        kendall=population.kendall if population else None,
        top_n=shown, missing_from_outcome_top=missing)
    leaders = [rows[u] for u, _ in population.efficiency_leaders if u in rows] if population \
        else []
    viewer_row = rows.get(viewer) if viewer else None
    by_user = {r.user: r for r in raw + outcome}
    if viewer_row is not None:
        by_user[viewer_row.user] = viewer_row
    age = None
    if population is not None and population.generation != int(generation):
        age = max(0.0, now - population.computed_at)
    board = Board(
        raw=raw, outcome=outcome, by_user=by_user, agreement=agreement,
        efficiency_leaders=leaders[:n],
        flag_threshold=population.flag_threshold if population else 0.0,
        org_efficiency=population.org_rate * 1e6 if population and population.org_rate
        is not None else None,
        flagged_count=population.flagged_count if population else 0,
        people=int(people), figures_age=age, figures_missing=population is None)
    return TopRead(board=board, population=population, generation=int(generation))


def _script(store: Store):  # noqa: ANN202 - redis-py's Script
    script = getattr(store, "_top_script", None)
    if script is None:
        script = store._top_script = store.r.register_script(TOP_LUA)
    return script


def _rows(flat: Sequence, population: Population | None, config: BoardConfig
          ) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for i in range(0, len(flat), 6):
        user = _text(flat[i])
        raw, points, tokens = (float(x) for x in flat[i + 1:i + 4])
        raw_rank, outcome_rank = int(flat[i + 4]) + 1, int(flat[i + 5]) + 1
        efficiency = flagged = None
        if population is not None:
            efficiency = population.efficiency(points, tokens, config.efficiency_min_tokens)
            flagged = population.flags(points, tokens)
        rows[user] = Row(user, raw, points, tokens, raw_rank, outcome_rank,
                         raw_rank - outcome_rank, efficiency, bool(flagged))
    return rows
