"""Reading the boards and the people's days: whole periods in pages (the digest, the CLI,
the figures), the top of a board as a request reads it (`lua/top.lua`), one person's
days and daily ranks. No read here blocks Redis for long whatever the org's size."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from bot.core.periods import ALL, Bucket, day_bucket
from bot.core.ranking import Totals
from bot.store.lua import Call, Script, run_pipeline
from bot.store.workspace import WorkspaceRedis

READ_CHUNK = 1000  # ZRANGE page: well under 1 ms of Redis time, far below the 10 ms budget
PAGES_PER_TRIP = 8  # pages per pipeline: a few ms of Redis before others get their turn
TOP = Script("top")
DAY_READ = Script("day_read")


def top_call(*, raw: str, points: str, tokens: str, opted_out: str, figures: str, gen: str,
             periods_read: str, rows: int, viewer: str, extra_rows: int, period: str,
             now: float) -> Call:
    """lua/top.lua: the top `rows` of the `raw` and `points` sets for `viewer` ('' none),
    rows of the first `extra_rows` stored efficiency leaders too; `period` ('' none) is
    marked read at `now` in `periods_read`."""
    return Call([raw, points, tokens, opted_out, figures, gen, periods_read],
                [rows, viewer, extra_rows, period, now])


def day_read_call(*, days: str, user: str) -> Call:
    """lua/day_read.lua: `user`'s packed day in the day's directory `days`."""
    return Call([days], [user])


@dataclass(frozen=True)
class TopReply:
    """What lua/top.lua read: the people on the board (opted-out left out), the top of
    each board, each row as (user, raw, points, tokens, higher on raw, higher on points),
    the stored figures (JSON) and the generation."""

    people: int
    raw_top: list[str]
    points_top: list[str]
    rows: list[tuple[str, float, float, float, int, int]]
    figures: bytes | None
    generation: int


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def align(columns: list[tuple[list[bytes], np.ndarray]]) -> tuple[list[str], list[np.ndarray]]:
    """Line up (members, scores) columns read from sorted sets by member, sorted by id.

    Both boards hold the same people, so sorting each column by member makes them line
    up; if a write raced the read and the member sets differ, fall back to a dict.
    """
    keyed = []
    for members, scores in columns:
        ids = np.array(members, dtype=object if not members else None)
        order = np.argsort(ids, kind="stable")
        keyed.append((ids[order], scores[order]))
    first = keyed[0][0]
    if all(len(ids) == len(first) and np.array_equal(ids, first) for ids, _ in keyed):
        return [m.decode() for m in first.tolist()], [scores for _, scores in keyed]
    everyone = sorted({m for members, _ in columns for m in members})
    index = {m: i for i, m in enumerate(everyone)}
    aligned = []
    for members, scores in columns:
        column = np.zeros(len(everyone), dtype=np.float64)
        if members:
            column[[index[m] for m in members]] = scores
        aligned.append(column)
    return [m.decode() for m in everyone], aligned


class Reads:
    def __init__(self, ws: WorkspaceRedis) -> None:
        self.ws = ws

    def generation(self) -> int:
        """Bumped by every counted event and every change of who is shown."""
        return int(self.ws.r.get(self.ws.keys.key("gen")) or 0)

    def period_totals(self, bucket: Bucket, raw_metric: str = "tokens") -> Totals:
        """Everyone active in `bucket`, read in pages so no command blocks Redis for long."""
        metrics = ["tokens", "points"] + ([raw_metric] if raw_metric != "tokens" else [])
        keys = [self.ws.keys.board(m, bucket) for m in metrics]
        pipe = self.ws.r.pipeline(transaction=False)
        for key in keys:
            pipe.zcard(key)
        sizes = pipe.execute()
        pages = self._pages([(key, start) for key, size in zip(keys, sizes, strict=True)
                             for start in range(0, size, READ_CHUNK)])
        columns = []
        for size in sizes:
            members: list[bytes] = []
            scores: list[np.ndarray] = []
            for _ in range(0, size, READ_CHUNK):
                page = next(pages)
                if page and isinstance(page[0], list):  # RESP3: [member, score] pairs
                    members += [m for m, _ in page]
                    scores.append(np.array([x for _, x in page], dtype=np.float64))
                elif page:  # RESP2: member, score, ...; numpy parses the score strings
                    members += page[0::2]
                    scores.append(np.array(page[1::2]).astype(np.float64))
            columns.append((members, np.concatenate(scores) if scores else np.zeros(0)))
        users, aligned = align(columns)
        tokens_col, points_col = aligned[0], aligned[1]
        raw_col = aligned[2] if len(aligned) > 2 else tokens_col
        return Totals(users=users, raw=raw_col, points=points_col, tokens=tokens_col)

    def _pages(self, pages: list[tuple[str, int]]) -> Iterator[list]:
        """Each (sorted set, start) page of READ_CHUNK members with their scores, as the
        raw reply (redis-py's withscores conversion costs more than Redis): member, score,
        … under RESP2, [member, score] pairs under RESP3. PAGES_PER_TRIP to a pipeline:
        Redis runs a client's pipelined commands back to back, so a whole large board in
        one pipeline would hold every other client up for its whole length (100 ms at
        100,000 people)."""
        for first in range(0, len(pages), PAGES_PER_TRIP):
            pipe = self.ws.r.pipeline(transaction=False)
            for key, start in pages[first:first + PAGES_PER_TRIP]:
                pipe.execute_command("ZRANGE", key, start, start + READ_CHUNK - 1, "WITHSCORES")
            yield from pipe.execute()

    def scores(self, key: str) -> dict[str, float]:
        """member → score of one sorted set, read in pages."""
        size = int(self.ws.r.zcard(key))
        out: dict[str, float] = {}
        for page in self._pages([(key, start) for start in range(0, size, READ_CHUNK)]):
            if page and isinstance(page[0], list):  # RESP3: [member, score] pairs
                out.update((m.decode(), float(x)) for m, x in page)
            else:
                out.update((page[i].decode(), float(page[i + 1])) for i in range(0, len(page), 2))
        return out

    def day_counts(self, day: date, user: str) -> dict[str, float]:
        """A person's raw counts of `day` (tokens, cost, …, o:<kind> outcome counts)."""
        pairs = DAY_READ.run(self.ws.r, day_read_call(days=self.ws.keys.days(day), user=user))
        return {pairs[i].decode(): float(pairs[i + 1]) for i in range(0, len(pairs), 2)}

    def summed_day_counts(self, days: Sequence[date], user: str) -> dict[str, float]:
        """A person's raw counts added up over `days`: one pipeline of one read per day."""
        def build(pipe) -> None:
            for day in days:
                DAY_READ.queue(pipe, day_read_call(days=self.ws.keys.days(day), user=user))

        total: dict[str, float] = {}
        for pairs in (run_pipeline(self.ws.r, build, (DAY_READ,)) if days else []):
            for i in range(0, len(pairs), 2):
                name = pairs[i].decode()
                total[name] = total.get(name, 0.0) + float(pairs[i + 1])
        return total

    def tool_totals(self, days: Sequence[date]) -> dict[str, float]:
        """The org's per-tool fields (`t:<tool>`, `c:<tool>`) added up over `days`: one
        small hash a day, whatever the org's size."""
        pipe = self.ws.r.pipeline(transaction=False)
        for day in days:
            pipe.hgetall(self.ws.keys.tool_totals(day))
        total: dict[str, float] = {}
        for found in pipe.execute() if days else []:
            for name, amount in found.items():
                key = name.decode()
                total[key] = total.get(key, 0.0) + float(amount)
        return total

    def has_counts(self) -> bool:
        """Anyone on the all-time tokens or points board."""
        keys = self.ws.keys
        return bool(self.ws.r.zcard(keys.board("tokens", ALL))
                    or self.ws.r.zcard(keys.board("points", ALL)))

    def top(self, bucket: Bucket, raw_metric: str, rows: int, viewer: str | None,
            extra_rows: int, period: str = "", now: float = 0.0) -> TopReply:
        """The top `rows` of both boards of `bucket` as `viewer` sees them, in one atomic
        script (see lua/top.lua); `period` ('' none) is noted as read at `now`."""
        keys = self.ws.keys
        raw_key = keys.board(raw_metric, bucket)
        people, raw_top, points_top, flat, stored, generation = TOP.run(self.ws.r, top_call(
            raw=raw_key, points=keys.board("points", bucket),
            tokens=keys.board("tokens", bucket), opted_out=keys.key("optout"),
            figures=keys.population(bucket.scope, bucket.name), gen=keys.key("gen"),
            periods_read=keys.population_wanted(), rows=rows, viewer=viewer or "",
            extra_rows=extra_rows, period=period, now=now))
        table = [(_text(flat[i]), float(flat[i + 1]), float(flat[i + 2]), float(flat[i + 3]),
                  int(flat[i + 4]), int(flat[i + 5])) for i in range(0, len(flat), 6)]
        return TopReply(people=int(people), raw_top=[_text(u) for u in raw_top],
                        points_top=[_text(u) for u in points_top], rows=table,
                        figures=stored or None, generation=int(generation))

    def day_ranks(self, user: str, span: Sequence[date], metrics: Sequence[str],
                  hidden: Sequence[str]) -> list[tuple[list[float | None], list[int] | None]]:
        """Per day of `span`: the person's scores on `metrics` (None: absent), and their
        competition ranks on the first two (1 + the people above, less the `hidden`
        ones above), or None when they are on none of that day's boards or all zero.
        Two pipelines of O(days × log n): ZSCORE per day and metric, then ZCOUNT (and
        ZMSCORE of the hidden people) per day ranked."""
        r, keys = self.ws.r, self.ws.keys
        pipe = r.pipeline(transaction=False)
        for day in span:
            for metric in metrics:
                pipe.zscore(keys.board(metric, day_bucket(day)), user)
        scores = pipe.execute()
        per_day = [scores[i * len(metrics):(i + 1) * len(metrics)] for i in range(len(span))]
        pipe = r.pipeline(transaction=False)
        asked: list[int] = []
        for index, (day, found) in enumerate(zip(span, per_day, strict=True)):
            if not any(found):  # absent from every set, or all zero: not ranked that day
                continue
            asked.append(index)
            for metric, score in zip(metrics[:2], found[:2], strict=False):
                key = keys.board(metric, day_bucket(day))
                pipe.zcount(key, f"({score or 0.0!r}", "+inf")
                if hidden:
                    pipe.zmscore(key, list(hidden))
        answers = iter(pipe.execute())
        out: list[tuple[list[float | None], list[int] | None]] = [(found, None)
                                                                  for found in per_day]
        for index in asked:
            found = per_day[index]
            ranks = []
            for score in found[:2]:
                above = int(next(answers))
                if hidden:
                    mine = score or 0.0
                    above -= sum(1 for s in next(answers) if s is not None and s > mine)
                ranks.append(1 + above)
            out[index] = (found, ranks)
        return out
