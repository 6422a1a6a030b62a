"""Named senders: the bearer tokens that /ingest, /v1/* (OTLP) and other report
endpoints accept, each known by a name that logs and App Home show instead of the token.

Two kinds of tokens:
- `INGEST_TOKENS` from the environment, as `name:token` pairs (a bare token is named
  `env-` + the first 8 hex digits of its SHA-256, never after the token itself);
- tokens made by `tokenboard tokens create NAME [--workspace W]`: printed once, Redis
  keeps only their SHA-256, among W's keys. The token names W (`tb.W.<secret>`), so any
  process finds it among W's tokens only and counts its reports in W (Deps.for_sender).
  `INGEST_TOKENS` and older tokens belong to TOKENBOARD_WORKSPACE.

A token made by the CLI may be personal: `tokens create NAME --user U…`, or the person's
own "Create my token" on App Home, makes one that belongs to that Slack user (its owner).
Its reports that name nobody count for the owner; a person has one personal token at a
time (making another replaces it). The token's format is the same; Redis keeps its owner
beside its SHA-256 (`tokens:owner`) and each person's token by name (`tokens:personal`).

Any of them can be revoked by name (`tokenboard tokens revoke NAME`) without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

import redis

from bot.core.settings import WORKSPACE
from bot.store.cached import Guard, VersionedCache
from bot.store.keys import Keys

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")  # a Slack user id: U012AB3CD, or W… (Grid)
PERSONAL_PREFIX = "personal-"  # then the user id: the name App Home gives a personal token
TOKEN_PREFIX = "tb."  # then the workspace, '.', and the secret (URL-safe base64: no '.')
USED_EVERY = 60.0  # seconds between "last used" writes per sender and process


class SenderError(ValueError):
    """A token command that cannot be done, with a message for the operator."""


def token_workspace(header: str) -> str | None:
    """The workspace named by a token of `tokenboard tokens create` (`tb.<workspace>.<secret>`)
    in an `Authorization: Bearer` header; None for any other token."""
    token = header.partition(" ")[2].strip()
    if not token.startswith(TOKEN_PREFIX):
        return None
    workspace, dot, secret = token[len(TOKEN_PREFIX):].rpartition(".")
    return workspace if dot and secret and WORKSPACE.match(workspace) else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _bearer_digest(header: str) -> bytes | None:
    """The SHA-256 (hex, as bytes) of the token of an `Authorization: Bearer` header."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return _digest(token).encode()


def parse_env_tokens(entries: tuple[str, ...] | list[str]) -> dict[str, str]:
    """INGEST_TOKENS entries → {name: token}. `name:token`, or a bare token."""
    named: dict[str, str] = {}
    for entry in entries:
        name, sep, token = entry.partition(":")
        if not (sep and NAME.match(name) and token):
            name, token = f"env-{_digest(entry)[:8]}", entry
        if name in named:
            raise SenderError(f"INGEST_TOKENS names {name!r} twice")
        named[name] = token
    return named


@dataclass(frozen=True)
class SenderInfo:
    name: str
    source: str  # "env", "cli" or "home" (a personal token its owner made on App Home)
    created: float | None
    last_used: float | None
    revoked: bool
    rate_limit: int | None = None  # its own requests a minute; None: the default
    owner: str | None = None  # the Slack user a personal token belongs to


@dataclass(frozen=True)
class Sender:
    """A token that was accepted: the sender's name (event ids are scoped to it), its own
    requests-a-minute limit (None: the default) and, for a personal token, its owner."""

    name: str
    rate: int | None = None
    owner: str | None = None


def check_user(user: str) -> str:
    """`user` if it is a Slack user id (U… or W…); SenderError otherwise."""
    if not USER_ID.match(user):
        raise SenderError(f"{user!r} is not a Slack user id like U012AB3CD (or W012AB3CD)")
    return user


class Senders:
    """Authenticate bearer tokens to sender names; create, list and revoke tokens."""

    def __init__(self, client: redis.Redis, keys: Keys, env_tokens: tuple[str, ...] = ()
                 ) -> None:
        self.r = client
        self.keys = keys
        self.env = {name: _digest(token).encode()
                    for name, token in parse_env_tokens(env_tokens).items()}
        self._used: dict[str, float] = {}
        self.version_key = keys.key("tokens", "version")
        self.cache: VersionedCache[bytes, tuple] = VersionedCache(
            client, self.version_key, self._read, self._parse)

    def _read(self, pipe: redis.client.Pipeline, digests: list[bytes]) -> None:
        pipe.hmget(self.keys.key("tokens"), digests)
        pipe.hmget(self.keys.key("tokens", "owner"), digests)
        pipe.smembers(self.keys.key("tokens", "revoked"))
        pipe.hgetall(self.keys.key("tokens", "rate"))

    @staticmethod
    def _parse(replies: list, digests: list[bytes]) -> dict[bytes, tuple]:
        """digest → (name or None, owner or None, revoked names, rates)."""
        found, owners, revoked, rates = replies
        return {d: (f.decode() if f else None, o, frozenset(revoked), rates)
                for d, f, o in zip(digests, found, owners, strict=True)}

    def identify(self, header: str) -> Sender | None:
        """The sender of an `Authorization: Bearer <token>` header (its name, own rate
        limit and, for a personal token, owner), or None when the token is refused.

        Environment tokens are compared in constant time against every entry; tokens made
        by the CLI are found by their SHA-256. Revocation is checked in Redis; a Redis
        error propagates (the caller answers 503) unless an environment token matched and
        Redis cannot say whether it was revoked, in which case it is still refused.
        """
        given = _bearer_digest(header)
        if given is None:
            return None
        return self._named(self._env_name(given),
                           *self._parse(self._fetch([given]), [given])[given])

    def _fetch(self, digests: list[bytes]) -> list:
        pipe = self.r.pipeline(transaction=False)
        self._read(pipe, digests)
        return pipe.execute()

    def identify_cached(self, header: str) -> tuple[Sender | None, Guard | None]:
        """`identify`, from what this process read before at the tokens' current version
        (`bot.store.cached`), with the guard that the counting call checks: a token
        created, revoked or given another rate since moves the version, and the report
        is then authenticated afresh."""
        given = _bearer_digest(header)
        if given is None:
            return None, None
        values, guard = self.cache.get([given])
        sender = self._named(self._env_name(given), *values[given])
        return sender, guard if sender is not None else None

    def _env_name(self, given: bytes) -> str | None:
        """The INGEST_TOKENS name whose token has digest `given`, compared in constant time
        against every entry (no early exit)."""
        env_name = None
        for name, expected in self.env.items():
            if hmac.compare_digest(given, expected):
                env_name = name
        return env_name

    def _named(self, env_name: str | None, found: str | None, owner: bytes | None,
               revoked: frozenset[bytes], rates: dict[bytes, bytes]) -> Sender | None:
        name = env_name or found
        if name is None or name.encode() in revoked:
            return None
        self._touch(name)
        rate = rates.get(name.encode())
        return Sender(name, int(rate) if rate is not None else None,
                      owner.decode() if owner and env_name is None else None)

    def _touch(self, name: str) -> None:
        now = time.time()
        if now - self._used.get(name, 0.0) < USED_EVERY:
            return
        self._used[name] = now
        self.r.hset(self.keys.key("tokens", "used"), name, round(now, 3))

    def create(self, name: str, rate_limit: int | None = None,
               owner: str | None = None, source: str = "cli") -> str:
        """A new token for `name` (returned once; only its SHA-256 is stored).
        `rate_limit`: its own requests a minute (e.g. one token shared by a whole fleet
        of laptops exporting OpenTelemetry); None keeps INGEST_RATE_LIMIT. `owner`: the
        Slack user a personal token belongs to; their earlier personal token, if any, is
        revoked (one a person), and a name already theirs is given a new token. `source`:
        where it was made, "cli" or "home" (App Home)."""
        if not NAME.match(name):
            raise SenderError(f"sender name {name!r} must be 1-40 characters of letters, "
                              "digits, '_', '.' and '-'")
        if owner is not None:
            check_user(owner)
        if name in self.env:
            raise SenderError(f"{name!r} is already the name of a token in INGEST_TOKENS")
        meta_key = self.keys.key("token", name)
        old, current_owner = self.r.hmget(meta_key, "hash", "user")
        if old and not self.r.sismember(self.keys.key("tokens", "revoked"), name) and (
                owner is None or current_owner != owner.encode()):
            raise SenderError(f"a token named {name!r} already exists; revoke it first")
        previous = self.personal(owner) if owner is not None else None
        token = f"{TOKEN_PREFIX}{self.keys.ws}.{secrets.token_urlsafe(32)}"
        digest = _digest(token)
        meta = {"hash": digest, "created": round(time.time(), 3), "source": source}
        if owner is not None:
            meta["user"] = owner
        pipe = self.r.pipeline(transaction=True)
        if old:
            pipe.hdel(self.keys.key("tokens"), old)
            pipe.hdel(self.keys.key("tokens", "owner"), old)
        if previous is not None and previous != name:
            self._revoke_in(pipe, previous)
        pipe.hset(self.keys.key("tokens"), digest, name)
        if owner is not None:
            pipe.hset(self.keys.key("tokens", "owner"), digest, owner)
            pipe.hset(self.keys.key("tokens", "personal"), owner, name)
        pipe.delete(meta_key)
        pipe.hset(meta_key, mapping=meta)
        pipe.srem(self.keys.key("tokens", "revoked"), name)
        if rate_limit is None:
            pipe.hdel(self.keys.key("tokens", "rate"), name)
        else:
            pipe.hset(self.keys.key("tokens", "rate"), name, rate_limit)
        pipe.incr(self.version_key)
        pipe.execute()
        return token

    def create_personal(self, user: str) -> tuple[str, str]:
        """(name, token) of a new personal token for `user`, replacing their earlier one
        (which keeps its name, so a rotated token goes on with the same sender)."""
        name = self.personal(check_user(user)) or f"{PERSONAL_PREFIX}{user}"
        return name, self.create(name, owner=user, source="home")

    def personal(self, user: str) -> str | None:
        """The name of `user`'s personal token, None when they have none (or it was
        revoked)."""
        name = self.r.hget(self.keys.key("tokens", "personal"), user)
        return name.decode() if name else None

    def info(self, name: str) -> SenderInfo | None:
        """One token made by the CLI or App Home, as `list` shows it; None if unknown."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hmget(self.keys.key("token", name), "hash", "created", "user", "source")
        pipe.sismember(self.keys.key("tokens", "revoked"), name)
        pipe.hget(self.keys.key("tokens", "used"), name)
        pipe.hget(self.keys.key("tokens", "rate"), name)
        (digest, created, user, source), revoked, used, rate = pipe.execute()
        if digest is None:
            return None
        return SenderInfo(name, (source or b"cli").decode(),
                          float(created) if created else None,
                          float(used) if used else None, bool(revoked),
                          int(rate) if rate is not None else None,
                          user.decode() if user else None)

    def revoke(self, name: str) -> bool:
        """Refuse `name`'s token from now on; False if no sender has that name."""
        meta_key = self.keys.key("token", name)
        digest = self.r.hget(meta_key, "hash")
        if name not in self.env and digest is None:
            return False
        pipe = self.r.pipeline(transaction=True)
        self._revoke_in(pipe, name)
        pipe.execute()
        return True

    def _revoke_in(self, pipe: redis.client.Pipeline, name: str) -> None:
        """Queue on `pipe` what revoking `name` writes (its token, owner and place as its
        owner's personal token, read now, are forgotten; the name is marked revoked)."""
        digest, user = self.r.hmget(self.keys.key("token", name), "hash", "user")
        if digest:
            pipe.hdel(self.keys.key("tokens"), digest)
            pipe.hdel(self.keys.key("tokens", "owner"), digest)
        if user and self.personal(user.decode()) == name:
            pipe.hdel(self.keys.key("tokens", "personal"), user)
        pipe.sadd(self.keys.key("tokens", "revoked"), name)
        pipe.incr(self.version_key)

    def list(self) -> list[SenderInfo]:
        revoked = {m.decode() for m in self.r.smembers(self.keys.key("tokens", "revoked"))}
        used = {k.decode(): float(v) for k, v in
                self.r.hgetall(self.keys.key("tokens", "used")).items()}
        rates = {k.decode(): int(v) for k, v in
                 self.r.hgetall(self.keys.key("tokens", "rate")).items()}
        out = [SenderInfo(name, "env", None, used.get(name), name in revoked)
               for name in self.env]
        cli_names = sorted({m.decode() for m in self.r.hvals(self.keys.key("tokens"))}
                           | (revoked - set(self.env)))
        pipe = self.r.pipeline(transaction=False)
        for name in cli_names:
            pipe.hmget(self.keys.key("token", name), "created", "user", "source")
        for name, (created, user, source) in zip(cli_names, pipe.execute(), strict=True):
            out.append(SenderInfo(name, (source or b"cli").decode(),
                                  float(created) if created else None,
                                  used.get(name), name in revoked, rates.get(name),
                                  user.decode() if user else None))
        return out
