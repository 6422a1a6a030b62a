"""A local stand-in for the Slack Web API, used at the network edge only.

The real ``slack_sdk.WebClient`` talks to it over HTTP::

    with SlackStub() as stub:
        client = WebClient(token="xoxb-test", base_url=stub.url)
        client.chat_postMessage(channel="C1", text="hi")
        assert stub.calls("chat.postMessage")[0].args["text"] == "hi"

Routes on the server:
    /api/<method>        Web API methods (GET query string, form or JSON body)
    /response/<name>     a response_url; POSTed JSON is recorded (see ``responses``)
    /upload/v1/<file_id> upload URL handed out by files.getUploadURLExternal

The package: model.py (ids, limits, records, checks), methods.py (the Web API methods),
stub.py (SlackStub, what a test sets up and reads back), server.py (the HTTP side).
"""

from tests.slack_stub.model import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    MAX_FIELD_TEXT,
    MAX_FIELDS,
    MAX_HEADER_TEXT,
    MAX_MESSAGE_BLOCKS,
    MAX_MESSAGE_TEXT,
    MAX_MODAL_TITLE,
    MAX_SECTION_TEXT,
    MAX_VIEW_BLOCKS,
    TEAM_ID,
    Call,
)
from tests.slack_stub.stub import SlackStub

__all__ = ["APP_ID", "BOT_ID", "BOT_USER_ID", "MAX_FIELDS", "MAX_FIELD_TEXT", "MAX_HEADER_TEXT",
           "MAX_MESSAGE_BLOCKS", "MAX_MESSAGE_TEXT", "MAX_MODAL_TITLE", "MAX_SECTION_TEXT",
           "MAX_VIEW_BLOCKS", "TEAM_ID", "Call", "SlackStub"]
