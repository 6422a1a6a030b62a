"""Claims that expire: one process at a time does a piece of work (a digest, a pull), and
gives the claim back only if it is still its own (`lua/release.lua`)."""

from __future__ import annotations

import redis

from bot.store.lua import Call, Script

RELEASE = Script("release")


def release_call(*, claim: str, owner: str) -> Call:
    """lua/release.lua: delete `claim` if `owner` still holds it."""
    return Call([claim], [owner])


def take(client: redis.Redis, claim: str, owner: str, ttl: int) -> bool:
    """Take `claim` for `ttl` seconds unless someone holds it (expires if we die)."""
    return bool(client.set(claim, owner, nx=True, ex=ttl))


def give_back(client: redis.Redis, claim: str, owner: str) -> bool:
    """Give `claim` back, only if `owner` still holds it."""
    return bool(RELEASE.run(client, release_call(claim=claim, owner=owner)))
