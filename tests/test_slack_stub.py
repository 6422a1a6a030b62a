"""The Slack edge stub and request signing, exercised with the real slack_sdk client."""

import json
import re
import time
import urllib.request
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from tests.slack_signing import (
    event_body,
    interactive_body,
    sign,
    slash_command_body,
    url_verification_body,
)
from tests.slack_stub import SlackStub

SECRET = "test-signing-secret"


@pytest.fixture
def stub():
    with SlackStub() as s:
        s.add_user("U1", real_name="Ada Lovelace", display_name="ada", email="ada@example.com")
        s.add_user("U2", real_name="Grace Hopper", is_admin=True, tz="America/New_York")
        yield s


@pytest.fixture
def client(stub):
    return WebClient(token="xoxb-test", base_url=stub.url)


def api_error(fn, *args, **kwargs) -> SlackApiError:
    with pytest.raises(SlackApiError) as e:
        fn(*args, **kwargs)
    return e.value


def section(text="x", fields=()):
    block = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if fields:
        block["fields"] = [{"type": "mrkdwn", "text": f} for f in fields]
    return block


# -- Web API methods ---------------------------------------------------------


def test_url_shape(stub):
    assert stub.url.endswith("/api/") and stub.url.startswith("http://127.0.0.1:")
    assert stub.response_url("r1") == stub.url.replace("/api/", "/response/r1")


def test_auth_test(client, stub):
    r = client.auth_test()
    assert (r["team_id"], r["user_id"], r["bot_id"]) == ("T0TEST", "UBOT", "BBOT")
    assert r["team"] == "Test"
    (call,) = stub.calls("auth.test")
    assert call.headers["authorization"] == "Bearer xoxb-test"


def test_wrong_or_missing_token(stub):
    assert api_error(WebClient("xoxb-wrong", base_url=stub.url).auth_test).response[
        "error"
    ] == "invalid_auth"
    assert api_error(WebClient(base_url=stub.url).auth_test).response["error"] == "not_authed"


def test_users_info_and_lookup(client):
    user = client.users_info(user="U1")["user"]
    assert user["profile"]["display_name"] == "ada"
    assert user["tz"] == "Europe/Berlin" and user["is_admin"] is False
    assert client.users_info(user="U2")["user"]["is_admin"] is True
    assert api_error(client.users_info, user="UNOPE").response["error"] == "user_not_found"
    assert client.users_lookupByEmail(email="ADA@example.com")["user"]["id"] == "U1"
    err = api_error(client.users_lookupByEmail, email="x@example.com")
    assert err.response["error"] == "users_not_found"


def test_users_info_via_real_get_with_query_string(stub):
    # slack_sdk always POSTs, but the stub accepts GET with a query string too.
    req = urllib.request.Request(
        f"{stub.url}users.info?user=U1", headers={"Authorization": "Bearer xoxb-test"}
    )
    with urllib.request.urlopen(req) as resp:
        assert json.load(resp)["user"]["id"] == "U1"
    assert stub.calls("users.info")[0].args == {"user": "U1"}


def test_post_message_records_args_and_ts_increases(client, stub):
    first = client.chat_postMessage(channel="C1", text="hello", blocks=[section("*hi*")])
    second = client.chat_postMessage(channel="C1", text="again")
    assert first["channel"] == "C1" and first["message"]["blocks"][0]["type"] == "section"
    assert float(second["ts"]) > float(first["ts"])
    assert first["ts"] == "1732440000.000100"
    call = stub.calls("chat.postMessage")[0]
    assert call.args["blocks"][0]["text"]["text"] == "*hi*"  # sent as JSON, so still a list
    assert call.headers["content-type"].startswith("application/json")


def test_post_message_with_metadata(client):
    metadata = {"event_type": "ai_usage_reported", "event_payload": {"tokens": 12}}
    r = client.chat_postMessage(channel="C1", text="t", metadata=metadata)
    assert r["message"]["metadata"] == metadata


@pytest.mark.parametrize(
    "blocks",
    [
        [section()] * 51,
        [section("x" * 3001)],
        [section(fields=["f"] * 11)],
        [section(fields=["f" * 2001])],
        [{"text": "no type"}],
    ],
    ids=["51-blocks", "long-section", "11-fields", "long-field", "no-type"],
)
def test_invalid_message_blocks(client, blocks):
    err = api_error(client.chat_postMessage, channel="C1", text="t", blocks=blocks)
    assert err.response["error"] == "invalid_blocks"
    assert err.response["response_metadata"]["messages"]


def test_boundary_blocks_are_accepted(client):
    assert client.chat_postMessage(channel="C1", text="t", blocks=[section("x" * 3000)] * 50)["ok"]
    assert client.chat_postMessage(channel="C1", text="t",
                                   blocks=[section(fields=["f" * 2000] * 10)])["ok"]


def test_form_encoded_blocks_are_parsed(client, stub):
    client.api_call("chat.postMessage", params={"channel": "C1", "blocks": json.dumps([section()])})
    call = stub.calls("chat.postMessage")[0]
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert isinstance(call.args["blocks"], str)
    err = api_error(
        client.api_call,
        "chat.postMessage",
        params={"channel": "C1", "blocks": json.dumps([section()] * 51)},
    )
    assert err.response["error"] == "invalid_blocks"


def test_post_message_requires_text_or_blocks(client):
    with pytest.warns(UserWarning, match="text"):  # slack_sdk warns before sending
        assert api_error(client.chat_postMessage, channel="C1").response["error"] == "no_text"


def test_ephemeral_and_update(client, stub):
    r = client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert r["message_ts"]
    err = api_error(client.api_call, "chat.postEphemeral", json={"channel": "C1", "text": "x"})
    assert err.response["error"] == "invalid_arguments"
    ts = client.chat_postMessage(channel="C1", text="v1")["ts"]
    r = client.chat_update(channel="C1", ts=ts, text="v2")
    assert (r["ts"], r["text"]) == (ts, "v2")
    assert stub.calls("chat.update")[0].args["text"] == "v2"


def test_views_publish(client, stub):
    view = {"type": "home", "blocks": [section("board")]}
    assert client.views_publish(user_id="U1", view=view)["view"]["type"] == "home"
    assert stub.calls("views.publish")[0].args["view"] == view
    too_many = {"type": "home", "blocks": [section()] * 101}
    assert api_error(client.views_publish, user_id="U1", view=too_many).response[
        "error"
    ] == "invalid_arguments"
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": []}
    assert api_error(client.views_publish, user_id="U1", view=modal)
    # form-encoded views arrive as a JSON string
    client.api_call("views.publish", params={"user_id": "U1", "view": json.dumps(view)})


def test_views_open_push_update(client):
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Config"}, "blocks": []}
    view_id = client.views_open(trigger_id="123.456.abc", view=modal)["view"]["id"]
    client.views_push(trigger_id="123.456.abc", view=modal)
    assert client.views_update(view_id=view_id, view=modal)["view"]["id"] == view_id
    long_title = {**modal, "title": {"type": "plain_text", "text": "x" * 25}}
    err = api_error(client.views_open, trigger_id="1.2.3", view=long_title)
    assert err.response["error"] == "invalid_arguments"
    assert api_error(client.views_open, trigger_id="1.2.3", view={"type": "home", "blocks": []})
    assert api_error(client.views_open, trigger_id="", view=modal)


def test_conversations_info_and_join(client, stub):
    stub.member_channels.add("CIN")
    assert client.conversations_info(channel="CIN")["channel"]["is_member"] is True
    assert client.conversations_info(channel="COUT")["channel"]["is_member"] is False
    client.conversations_join(channel="COUT")
    assert client.conversations_info(channel="COUT")["channel"]["is_member"] is True


def test_files_upload_v2_end_to_end(client, stub):
    r = client.files_upload_v2(
        channel="C1", filename="board.csv", content="name,tokens\nada,12\n", title="Board"
    )
    file_id = r["file"]["id"]
    assert r["file"]["title"] == "Board" and r["file"]["size"] == 19
    assert stub.uploads() == {file_id: b"name,tokens\nada,12\n"}
    get_url = stub.calls("files.getUploadURLExternal")[0]
    assert get_url.args["filename"] == "board.csv" and get_url.args["length"] == "19"
    complete = stub.calls("files.completeUploadExternal")[0]
    assert complete.args["channel_id"] == "C1"
    assert json.loads(complete.args["files"])[0]["id"] == file_id


def test_files_upload_missing_scope(client, stub):
    stub.fail_next("files.getUploadURLExternal", error="missing_scope")
    err = api_error(client.files_upload_v2, channel="C1", filename="a.png", content=b"\x89PNG")
    assert err.response["error"] == "missing_scope"


def test_unknown_method(client):
    assert api_error(client.api_call, "nope.nothing").response["error"] == "unknown_method"


# -- fault injection ---------------------------------------------------------


def test_rate_limited_then_retried(stub):
    client = WebClient(
        token="xoxb-test",
        base_url=stub.url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    stub.fail_next("chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "1"})
    started = time.monotonic()
    assert client.chat_postMessage(channel="C1", text="hi")["ok"] is True
    assert time.monotonic() - started >= 1
    assert len(stub.calls("chat.postMessage")) == 2


def test_rate_limited_without_retry_handler(client, stub):
    stub.fail_next("chat.postMessage", error="ratelimited", status=429)
    err = api_error(client.chat_postMessage, channel="C1", text="hi")
    assert err.response.status_code == 429
    assert err.response["error"] == "ratelimited"
    assert err.response.headers["Retry-After"] == "1"


def test_server_error_and_repeated_faults(client, stub):
    stub.fail_next("auth.test", error="internal_error", status=500)
    assert api_error(client.auth_test).response.status_code == 500
    assert client.auth_test()["ok"]
    stub.fail_next("chat.postMessage", error="not_in_channel", times=2)
    for _ in range(2):
        assert api_error(client.chat_postMessage, channel="C1", text="x").response[
            "error"
        ] == "not_in_channel"
    assert client.chat_postMessage(channel="C1", text="x")["ok"]


def test_calls_and_clear(client, stub):
    client.auth_test()
    client.users_info(user="U1")
    assert [c.method for c in stub.calls()] == ["auth.test", "users.info"]
    stub.fail_next("auth.test", error="fatal_error")
    stub.clear()
    assert stub.calls() == []
    assert client.auth_test()["ok"]  # pending faults are cleared too


# -- response_url ------------------------------------------------------------


def test_response_url_records_posts(stub):
    webhook = WebhookClient(stub.response_url("cmd1"))
    assert webhook.send(text="working on it", response_type="ephemeral").status_code == 200
    WebhookClient(stub.response_url("cmd2")).send(text="other", replace_original=True)
    assert stub.responses("cmd1") == [{"text": "working on it", "response_type": "ephemeral"}]
    assert [r["text"] for r in stub.responses()] == ["working on it", "other"]


# -- signing -----------------------------------------------------------------


def test_signature_verifies():
    body = slash_command_body(text="week", user_id="U1")
    headers = sign(body, SECRET)
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(body, headers)
    assert verifier.is_valid(
        body.encode(), headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )


def test_signature_fails_when_tampered_or_stale():
    body = event_body({"type": "app_home_opened", "user": "U1", "tab": "home"})
    verifier = SignatureVerifier(SECRET)
    headers = sign(body, SECRET)
    assert not verifier.is_valid_request(body.replace("U1", "U2"), headers)
    assert not verifier.is_valid_request(body, sign(body, "other-secret"))
    stale = sign(body, SECRET, timestamp=int(time.time()) - 6 * 60)
    assert not verifier.is_valid_request(body, stale)


def test_request_bodies_look_like_slacks():
    form = parse_qs(slash_command_body(text="me", user_id="U1", response_url="http://r/1"))
    assert form["command"] == ["/leaderboard"] and form["text"] == ["me"]
    assert form["response_url"] == ["http://r/1"]
    again = parse_qs(slash_command_body(text="me", user_id="U1", response_url="http://r/1"))
    assert re.fullmatch(r"\d+\.\d+\.[0-9a-f]+", form["trigger_id"][0])
    assert again["trigger_id"] != form["trigger_id"]  # one per command, as Slack issues them
    for key in ("token", "team_id", "team_domain", "channel_id", "channel_name", "user_name",
                "api_app_id", "is_enterprise_install"):
        assert key in form, key

    envelope = json.loads(event_body({"type": "app_home_opened"}, event_id="Ev9"))
    assert envelope["type"] == "event_callback" and envelope["event_id"] == "Ev9"
    assert envelope["authorizations"][0]["team_id"] == "T0TEST" and envelope["api_app_id"]

    payload = {"type": "block_actions", "actions": [{"action_id": "period"}]}
    assert json.loads(parse_qs(interactive_body(payload))["payload"][0]) == payload
    assert json.loads(url_verification_body("abc")) == {
        "token": "verification-token",
        "challenge": "abc",
        "type": "url_verification",
    }
