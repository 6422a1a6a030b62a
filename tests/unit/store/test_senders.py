"""bot.store.senders: personal tokens (a token that belongs to one Slack user) beside the
shared ones, on the session Redis: who a token is, one personal token a person, revoking."""

from __future__ import annotations

import pytest

from bot.store.senders import Sender, SenderError
from bot.store.store import Store
from tests.conftest import INGEST_TOKEN


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_a_personal_token_names_its_owner(store: Store) -> None:
    senders = store.senders((f"fleet:{INGEST_TOKEN}",))
    mine = senders.create("ana-laptop", owner="U0ANA")
    shared = senders.create("ci", rate_limit=5)
    assert mine.startswith(f"tb.{store.ws}.")
    assert senders.identify(bearer(mine)) == Sender("ana-laptop", None, "U0ANA")
    assert senders.identify(bearer(shared)) == Sender("ci", 5, None)
    assert senders.identify(bearer(INGEST_TOKEN)) == Sender("fleet", None, None)
    assert senders.personal("U0ANA") == "ana-laptop" and senders.personal("U0BOB") is None
    listed = {row.name: (row.source, row.owner, row.revoked) for row in senders.list()}
    assert listed == {"fleet": ("env", None, False), "ana-laptop": ("cli", "U0ANA", False),
                      "ci": ("cli", None, False)}


def test_a_new_personal_token_replaces_the_old_one(store: Store) -> None:
    senders = store.senders()
    first = senders.create("ana-laptop", owner="U0ANA")
    second = senders.create("ana-desktop", owner="U0ANA")  # another name: the first goes
    assert senders.identify(bearer(first)) is None
    assert senders.identify(bearer(second)) == Sender("ana-desktop", None, "U0ANA")
    assert senders.personal("U0ANA") == "ana-desktop"
    assert {r.name: r.revoked for r in senders.list()} == {"ana-laptop": True,
                                                           "ana-desktop": False}
    # App Home's "Create my token" keeps the name the person's token has
    name, third = senders.create_personal("U0ANA")
    assert name == "ana-desktop" and senders.identify(bearer(second)) is None
    assert senders.identify(bearer(third)) == Sender("ana-desktop", None, "U0ANA")
    info = senders.info("ana-desktop")
    assert info is not None and (info.owner, info.source, info.revoked) == ("U0ANA", "home",
                                                                            False)
    # someone without one gets `personal-<their id>`
    assert senders.create_personal("W0BOB")[0] == "personal-W0BOB"


def test_revoking_a_personal_token_refuses_it_and_forgets_whose_it_was(store: Store) -> None:
    senders = store.senders()
    name, token = senders.create_personal("U0ANA")
    assert senders.revoke(name)
    assert senders.identify(bearer(token)) is None and senders.personal("U0ANA") is None
    [row] = senders.list()
    assert (row.name, row.owner, row.revoked) == ("personal-U0ANA", "U0ANA", True)
    again_name, again = senders.create_personal("U0ANA")  # made again after a revoke
    assert again_name == name and senders.identify(bearer(again)).owner == "U0ANA"


def test_a_name_taken_by_another_token_or_person_is_refused(store: Store) -> None:
    senders = store.senders()
    senders.create("shared")
    senders.create("bobs", owner="U0BOB")
    with pytest.raises(SenderError, match="already exists; revoke it first"):
        senders.create("shared", owner="U0ANA")
    with pytest.raises(SenderError, match="already exists; revoke it first"):
        senders.create("bobs", owner="U0ANA")
    with pytest.raises(SenderError, match="already exists; revoke it first"):
        senders.create("bobs")  # a shared token cannot take over a personal one's name
    assert senders.personal("U0ANA") is None and senders.personal("U0BOB") == "bobs"


@pytest.mark.parametrize("user", ["u0ana", "C0CHANNEL", "U0", "ana@example.com", "U0 ANA"])
def test_the_owner_must_be_a_slack_user_id(store: Store, user: str) -> None:
    with pytest.raises(SenderError, match="is not a Slack user id like U012AB3CD"):
        store.senders().create("x", owner=user)
    assert store.senders().list() == []
