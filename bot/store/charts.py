"""Charts uploaded to Slack, remembered so they are drawn and uploaded once: each
person's App Home rank chart (signature and file id; off while uploads are refused) and
each period's slope chart drawn in the background (JSON, shared by every process)."""

from __future__ import annotations

from bot.core.periods import Bucket
from bot.store.workspace import WorkspaceRedis


class Charts:
    def __init__(self, ws: WorkspaceRedis) -> None:
        self.ws = ws

    # -- a person's App Home rank chart ---------------------------------------------------
    def rank_chart(self, user: str) -> tuple[str | None, str | None]:
        """(signature of the ranks drawn, Slack file id) of `user`'s chart."""
        sig, file_id = self.ws.r.hmget(self.ws.keys.rank_chart(user), "sig", "file")
        return (sig.decode() if sig is not None else None,
                file_id.decode() if file_id else None)

    def put_rank_chart(self, user: str, signature: str, file_id: str, ttl: int) -> None:
        key = self.ws.keys.rank_chart(user)
        self.ws.r.hset(key, mapping={"sig": signature, "file": file_id})
        self.ws.r.expire(key, ttl)

    def forget_rank_chart(self, user: str) -> None:
        self.ws.r.delete(self.ws.keys.rank_chart(user))

    def uploads_off(self) -> bool:
        """Slack refused a chart upload recently (e.g. no files:write)."""
        return bool(self.ws.r.exists(self.ws.keys.rank_chart_off()))

    def turn_uploads_off(self, why: str, ttl: int) -> None:
        self.ws.r.set(self.ws.keys.rank_chart_off(), why, ex=ttl)

    # -- a period's shared slope chart ----------------------------------------------------
    def board_chart(self, bucket: Bucket) -> str | None:
        """The JSON kept for `bucket`'s chart drawn in the background."""
        raw = self.ws.r.get(self.ws.keys.board_chart(bucket.scope, bucket.name))
        return raw.decode() if raw is not None else None

    def put_board_chart(self, bucket: Bucket, document: str, ttl: int) -> None:
        self.ws.r.set(self.ws.keys.board_chart(bucket.scope, bucket.name), document, ex=ttl)

    def board_charts(self) -> dict[str, str]:
        """Every period's kept chart: key → JSON (for `forget_board_chart`)."""
        r = self.ws.r
        out = {}
        for key in r.scan_iter(match=self.ws.keys.board_chart("*", "*")):
            raw = r.get(key)
            if raw is not None:
                out[key.decode()] = raw.decode()
        return out

    def forget_board_chart(self, key: str) -> None:
        """Drop one period's kept chart (a key from `board_charts`)."""
        self.ws.r.delete(key)
