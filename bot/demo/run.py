"""`tokenboard demo`: a synthetic org through the real ingest path, ranked two ways, offline.

Its data goes into an embedded Redis, never REDIS_URL, under a workspace of its own
("demo"), which is emptied first so a re-run starts afresh. With `keep_dir` that Redis is
the one kept under the data dir (`TOKENBOARD_DATA_DIR/redis`, shared with a running
`tokenboard serve`), so `tokenboard leaderboard --workspace demo` can explore it later;
without it, a temporary one that is gone when the demo ends.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.core.settings import Settings
from bot.demo.org import events_in_batches, generate_org
from bot.demo.send_otlp import send_through_otlp, split_for_otlp
from bot.demo.send_webhooks import send_as_github_webhooks, split_for_webhooks
from bot.intake.ingest import ingest_events
from bot.render.blocks import leaderboard_blocks
from bot.render.text import side_by_side
from bot.runtime.app import build_deps
from bot.store.embedded import EmbeddedRedis

DEMO_WORKSPACE = "demo"
DEMO_PEOPLE = 60
DEMO_DAYS = 30
OTLP_EVERY = 6  # every 6th person reports usage over OpenTelemetry
WEBHOOK_EVERY = 6  # and others' recent outcomes arrive as GitHub webhooks


def _progress(stream, done: int, total: int) -> None:
    """A redrawn bar on a terminal; a line per quarter when piped to a file or CI log."""
    if getattr(stream, "isatty", lambda: False)():
        bar = "#" * int(30 * done / total)
        end = "\n" if done == total else ""
        stream.write(f"\rIngesting [{bar:<30}] {done:,}/{total:,}{end}")
    elif done == total or (done * 4 // total) != ((done - 500) * 4 // total):
        stream.write(f"Ingesting: {done:,}/{total:,} reports\n")
    stream.flush()


def _otlp_leg(deps, events: list[dict], emails: dict[str, str], say) -> dict[str, int]:
    """The usage of every OTLP_EVERY-th person, through the OpenTelemetry SDK's exporter."""
    if not events:
        return {}
    try:
        sent = send_through_otlp(deps, events, emails)
    except ImportError:
        say("Skipped the OpenTelemetry leg: install opentelemetry-sdk and "
            "opentelemetry-exporter-otlp-proto-http (make install does).")
        return {}
    say(f"{len(sent)} people reported their usage as Claude Code does: "
        f"{sum(sent.values()):,} tokens in {len(events):,} sessions through the OpenTelemetry "
        "SDK's OTLP/HTTP exporter to POST /v1/metrics (protobuf, delta temporality).")
    return sent


@contextlib.contextmanager
def _demo_redis(keep_dir: Path | None) -> Iterator[str]:
    """The URL of the Redis the demo writes to: the data dir's (kept), or a temporary one."""
    if keep_dir is not None:
        server = EmbeddedRedis(keep_dir / "redis")
        if server.already_running():  # a `tokenboard serve` owns it: share it
            yield server.url
            return
        with server:
            yield server.url
        return
    with tempfile.TemporaryDirectory(prefix="tokenboard-demo-") as tmp:
        with EmbeddedRedis(Path(tmp), appendonly=False) as server:
            yield server.url


def _empty_workspace(client, workspace: str) -> None:
    """Delete every key of `workspace` (all share the prefix tb:{workspace}:)."""
    batch = []
    for key in client.scan_iter(match=f"tb:{{{workspace}}}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            client.unlink(*batch)
            batch = []
    if batch:
        client.unlink(*batch)


def run_demo(out_dir: Path = Path("demo-output"), people: int = DEMO_PEOPLE,
             days: int = DEMO_DAYS, timezone_name: str = "UTC", stream=sys.stdout,
             keep_dir: Path | None = None) -> dict:
    """Run the demo; return a summary (paths written, counts) for tests.

    `keep_dir`: the data dir whose embedded Redis keeps the demo's data afterwards (under
    the workspace "demo"); None: a temporary Redis, nothing kept.
    """
    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)

    def say(text: str) -> None:
        print(text, file=stream, flush=True)

    say("Starting an embedded Redis server…")
    with _demo_redis(keep_dir) as url:
        import redis

        settings = Settings(timezone=timezone_name, workspace=DEMO_WORKSPACE,
                            redis_url=url)
        client = redis.Redis.from_url(url)
        _empty_workspace(client, DEMO_WORKSPACE)  # a re-run starts afresh
        deps = build_deps(settings, client)
        now = datetime.now(UTC)
        org, events = generate_org(people, days, end=now.astimezone(settings.tz).date(),
                                   tz=settings.tz, not_after=now)
        # What users.info / users.lookupByEmail would have answered, cached as they would be.
        for person in org:
            deps.store.slack_cache.put_user(person.user, {
                "name": person.name, "real_name": person.name, "is_admin": "0", "is_owner": "0"})
            deps.store.slack_cache.put_email(person.email, person.user)
        say(f"Synthetic org: {len(org)} people over {days} days, {len(events):,} reports.")
        emails = {p.user: p.email for p in org}
        events, otlp_events = split_for_otlp(events, emails, OTLP_EVERY)
        events, hook_events = split_for_webhooks(events, list(emails), WEBHOOK_EVERY, 3,
                                                 now - timedelta(days=7))
        totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
        done = 0
        for batch in events_in_batches(events, 500):
            result = ingest_events(deps.store, deps.identities, batch, now=now, sender="demo")
            totals["accepted"] += result.counted
            totals["duplicates"] += len(result.duplicates)
            totals["rejected"] += len(result.rejected)
            done += len(batch)
            _progress(stream, done, len(events))
        otlp_sent = _otlp_leg(deps, otlp_events, emails, say)
        logins = {p.user: p.email.split("@")[0] for p in org}
        hooks_counted = send_as_github_webhooks(deps, hook_events, logins)
        say(f"{sum(hooks_counted.values())} outcomes of the last 7 days arrived as signed "
            "GitHub webhooks to POST /webhooks/github: "
            + ", ".join(f"{n} {kind}" for kind, n in hooks_counted.items()) + ".")
        # Send the first batch again: a retried batch must not count twice.
        retry = ingest_events(deps.store, deps.identities, events[:500], now=now, sender="demo")
        say(f"Counted {totals['accepted']:,} reports ({totals['rejected']} rejected); "
            f"re-sending the first batch counted {retry.counted} again "
            f"({len(retry.duplicates)} recognised as duplicates).")

        pb = deps.leaderboards.full_board("all")
        all_tokens = {r.user: r.raw for r in pb.board.raw}
        names = {p.user: p.name for p in org}
        say("")
        say(side_by_side(pb, names))
        personas = {p.user: p.persona for p in org}
        viewer = next((r.user for r in pb.board.raw if r.raw_rank > pb.config.board_size),
                      org[0].user)
        # exactly what this person would see: flags only if the configuration shows
        # them to this person (by default admins only, and nobody in the demo is one)
        blocks = leaderboard_blocks(pb, viewer, names,
                                    show_flags=deps.sees_flags(viewer, pb.config))
        board_path = out_dir / "leaderboard.json"
        board_path.write_text(json.dumps({"response_type": "ephemeral", "blocks": blocks},
                                         indent=2, ensure_ascii=False))
        from jobs.digest import DigestRunner

        yesterday = now.astimezone(settings.tz).date() - timedelta(days=1)
        built = DigestRunner(deps).build(yesterday)
        digest_path = out_dir / "digest.json"
        digest_path.write_text(json.dumps({"text": built.text, "blocks": built.blocks},
                                          indent=2, ensure_ascii=False))
        chart_path = out_dir / "digest.png"
        if built.png:
            chart_path.write_bytes(built.png)
        say("")
        say("Who is who (the demo knows each person's persona; tokenboard does not):")
        for label, rows in (("usage", pb.board.raw), ("outcomes", pb.board.outcome)):
            top = [personas[r.user] for r in rows[: pb.config.board_size]]
            mix = ", ".join(f"{top.count(p)} {p}" for p in sorted(set(top)))
            say(f"  top {pb.config.board_size} by {label}: {mix}")
        say(f"\nWrote the /leaderboard reply as Block Kit JSON to {board_path} "
            f"(as {names[viewer]} would see it).")
        say(f"Wrote the daily digest for {yesterday:%a %d %b} to {digest_path} and its "
            f"chart to {chart_path}.")
        if keep_dir is not None:
            say(f"The demo's data is kept in the embedded Redis under {keep_dir / 'redis'}, "
                f"as the workspace \"{DEMO_WORKSPACE}\" (any other workspace there is "
                "untouched). Explore it:")
            say(f"  tokenboard leaderboard --workspace {DEMO_WORKSPACE} --period all")
            say(f"  tokenboard digest --dry-run --workspace {DEMO_WORKSPACE}")
            say("(with REDIS_URL set, run them with REDIS_URL= so they read this Redis; "
                "`tokenboard demo --temporary` keeps nothing.)")
        say(f"Done in {time.monotonic() - started:.1f} s.")
        return {"board": pb, "paths": [board_path, digest_path, chart_path],
                "accepted": totals["accepted"], "rejected": totals["rejected"],
                "retry_accepted": retry.counted,
                "events": len(events), "org": org, "otlp_sent": otlp_sent,
                "all_tokens": all_tokens, "webhook_events": len(hook_events),
                "webhooks_counted": hooks_counted, "viewer": viewer}
