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
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

TEAM_ID = "T0TEST"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
APP_ID = "A0TEST"

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_MODAL_TITLE = 24
MAX_MESSAGE_TEXT = 40000


@dataclass
class Call:
    """One request to /api/<method>. ``headers`` keys are lower-case."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]


def _token_of(args: dict, headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    return auth[len("Bearer ") :] if auth.startswith("Bearer ") else args.get("token")


@dataclass
class _Fault:
    error: str
    status: int
    headers: dict[str, str]
    times: int


@dataclass
class _State:
    users: dict[str, dict] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    responses: list[tuple[str, Any]] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    pending_files: dict[str, dict] = field(default_factory=dict)
    completed: set[str] = field(default_factory=set)  # uploaded, completed, not deleted
    not_ready: set[str] = field(default_factory=set)  # completed but still "processing"
    faults: dict[str, list[_Fault]] = field(default_factory=dict)
    history: dict[str, list[dict]] = field(default_factory=dict)  # channel -> messages
    channels: dict[str, dict] = field(default_factory=dict)  # id -> conversations.list entry
    delays: dict[str, float] = field(default_factory=dict)  # method -> seconds per call
    in_flight: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)  # most calls of a method at once
    usergroups: dict[str, dict] = field(default_factory=dict)  # id -> usergroups.list entry
    seq: int = 0


class _ApiError(Exception):
    def __init__(self, error: str, *messages: str):
        super().__init__(error)
        self.error = error
        self.messages = list(messages)


def _require(args: dict, *names: str) -> None:
    for name in names:
        if args.get(name) in (None, ""):
            raise _ApiError("invalid_arguments", f"[ERROR] missing required field: {name}")


def _as_json(value: Any, name: str) -> Any:
    """Form-encoded calls carry structured args (blocks, view...) as JSON strings."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise _ApiError("invalid_arguments", f"[ERROR] {name} is not valid JSON") from None
    return value


def _text_of(obj: Any) -> str:
    return obj.get("text", "") if isinstance(obj, dict) else ""


def _check_blocks(blocks: Any, limit: int, pointer: str) -> str | None:
    """Return a Slack-style error message for invalid blocks, or None."""
    if not isinstance(blocks, list):
        return f"[ERROR] must be an array [json-pointer:{pointer}]"
    if len(blocks) > limit:
        return f"[ERROR] must be less than {limit + 1} items [json-pointer:{pointer}]"
    for i, block in enumerate(blocks):
        at = f"{pointer}/{i}"
        if not isinstance(block, dict) or not block.get("type"):
            return f"[ERROR] missing required field: type [json-pointer:{at}]"
        if block["type"] == "section":
            text, fields = _text_of(block.get("text")), block.get("fields") or []
            if not text and not fields:
                return f"[ERROR] must provide text or fields [json-pointer:{at}]"
            if len(text) > MAX_SECTION_TEXT:
                return f"[ERROR] must be less than 3001 characters [json-pointer:{at}/text/text]"
            if len(fields) > MAX_FIELDS:
                return f"[ERROR] must be less than 11 items [json-pointer:{at}/fields]"
            for j, f in enumerate(fields):
                if len(_text_of(f)) > MAX_FIELD_TEXT:
                    return (
                        "[ERROR] must be less than 2001 characters "
                        f"[json-pointer:{at}/fields/{j}/text]"
                    )
        elif block["type"] == "header" and len(_text_of(block.get("text"))) > MAX_HEADER_TEXT:
            return f"[ERROR] must be less than 151 characters [json-pointer:{at}/text/text]"
    return None


class SlackStub:
    """Threaded HTTP server that answers a subset of the Slack Web API like Slack does."""

    def __init__(self, token: str = "xoxb-test"):
        self.token = token
        self.member_channels: set[str] = set()
        self.refused_tokens: dict[str, str] = {}  # token -> error every call answers
        self.app_token = ""  # the app-level token apps.connections.open accepts
        self.socket_url = ""  # the WebSocket URL it answers (Socket Mode)
        self.team_tokens: dict[str, str] = {}  # bot tokens issued by oauth.v2.access → team
        self.client_id, self.client_secret = "", ""  # the app's, for oauth.v2.access
        self._codes: dict[str, dict] = {}
        self._hooks: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()
        self._state = _State()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> SlackStub:
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            self._server.daemon_threads = True
            self._server.stub = self  # type: ignore[attr-defined]
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # fast shutdown() in fixtures
                name="slack-stub",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> SlackStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root(self) -> str:
        if self._server is None:
            raise RuntimeError("SlackStub is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    @property
    def url(self) -> str:
        """base_url for WebClient (ends with '/')."""
        return self.root + "api/"

    def response_url(self, name: str) -> str:
        return f"{self.root}response/{name}"

    # -- test setup --------------------------------------------------------

    def add_user(
        self,
        id: str,
        real_name: str = "",
        display_name: str = "",
        email: str | None = None,
        is_admin: bool = False,
        is_owner: bool = False,
        tz: str = "Europe/Berlin",
        is_bot: bool = False,
        deleted: bool = False,
    ) -> dict:
        offset = ZoneInfo(tz).utcoffset(datetime.now())
        profile = {
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": display_name,
            "display_name_normalized": display_name,
        }
        if email:
            profile["email"] = email
        user = {
            "id": id,
            "team_id": TEAM_ID,
            "name": (display_name or real_name or id).lower().replace(" ", "."),
            "deleted": deleted,
            "real_name": real_name,
            "tz": tz,
            "tz_label": tz,
            "tz_offset": int(offset.total_seconds()) if offset else 0,
            "is_admin": is_admin,
            "is_owner": is_owner,
            "is_primary_owner": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "profile": profile,
        }
        with self._lock:
            self._state.users[id] = user
        return user

    def add_channel(self, id: str, name: str, is_private: bool = False) -> dict:
        """A channel conversations.list answers with (in pages of `limit`)."""
        channel = {"id": id, "name": name, "is_channel": not is_private,
                   "is_group": is_private, "is_private": is_private, "is_archived": False}
        with self._lock:
            self._state.channels[id] = channel
        return channel

    def add_usergroup(self, id: str, handle: str, users: list[str], name: str = "",
                      disabled: bool = False) -> dict:
        """A user group (usergroups.list, usergroups.users.list); again to change it."""
        group = {"id": id, "team_id": TEAM_ID, "is_usergroup": True, "is_subteam": True,
                 "name": name or handle.title(), "description": "", "handle": handle,
                 "is_external": False, "date_create": 1_700_000_000,
                 "date_update": 1_700_000_000, "date_delete": 1_700_000_100 if disabled else 0,
                 "auto_type": None, "created_by": "U0ADMIN", "updated_by": "U0ADMIN",
                 "deleted_by": "U0ADMIN" if disabled else None,
                 "prefs": {"channels": [], "groups": []}, "users": list(users),
                 "user_count": len(users)}
        with self._lock:
            self._state.usergroups[id] = group
        return group

    def remove_usergroup(self, id: str) -> None:
        with self._lock:
            self._state.usergroups.pop(id, None)

    def fail_next(
        self,
        method: str,
        error: str = "not_in_channel",
        status: int = 200,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` answer ``{"ok": false, "error": error}``.

        ``method`` is a Web API method name, or "upload" (the upload URL) or
        "response_url". A 429 without explicit headers gets ``Retry-After: 1``.
        """
        if status == 429 and headers is None:
            headers = {"Retry-After": "1"}
        with self._lock:
            self._state.faults.setdefault(method, []).append(
                _Fault(error, status, dict(headers or {}), times)
            )

    def app_credentials(self, client_id: str, client_secret: str) -> None:
        """The Client ID and Secret oauth.v2.access accepts."""
        self.client_id, self.client_secret = client_id, client_secret

    def authorize(self, code: str, team_id: str, team_name: str = "",
                  enterprise_id: str | None = None, user_id: str = "U0INSTALLER",
                  is_enterprise_install: bool = False, rotating: bool = False) -> None:
        """What a person who clicked "Allow" in `team_id` brings back: `code`, which
        oauth.v2.access exchanges (once) for a bot token of that team (`rotating`: with a
        refresh token, as when the app has token rotation on)."""
        with self._lock:
            self._codes[code] = {"team_id": team_id, "team_name": team_name or team_id,
                                 "enterprise_id": enterprise_id, "user_id": user_id,
                                 "is_enterprise_install": is_enterprise_install,
                                 "rotating": rotating}

    def team_calls(self, team_id: str, method: str | None = None) -> list[Call]:
        """Calls made with a bot token of `team_id` (issued by oauth.v2.access)."""
        tokens = {t for t, team in self.team_tokens.items() if team == team_id}
        return [c for c in self.calls(method) if _token_of(c.args, c.headers) in tokens]

    def _oauth_access(self, args: dict, headers: dict[str, str]) -> dict:
        client_id, secret = args.get("client_id", ""), args.get("client_secret", "")
        auth = headers.get("authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if (client_id, secret) != (self.client_id, self.client_secret) or not client_id:
            raise _ApiError("invalid_client_id" if client_id != self.client_id
                            else "bad_client_secret")
        with self._lock:
            if args.get("grant_type") == "refresh_token":
                grant = self._codes.pop("refresh:" + args.get("refresh_token", ""), None)
            else:
                grant = self._codes.pop(args.get("code", ""), None)
            if grant is None:
                raise _ApiError("invalid_refresh_token" if args.get("grant_type")
                                else "invalid_code")
            token = f"xoxb-{grant['team_id']}-{len(self.team_tokens) + 1}"
            self.team_tokens[token] = grant["team_id"]
            refresh = ""
            if grant.get("rotating"):  # token rotation on: a refresh token, 12 h tokens
                refresh = f"xoxe-{grant['team_id']}-{len(self.team_tokens)}"
                self._codes["refresh:" + refresh] = grant
        enterprise = ({"id": grant["enterprise_id"], "name": "Org"}
                      if grant["enterprise_id"] else None)
        return {"access_token": token, "token_type": "bot", "scope": args.get("scope", ""),
                "bot_user_id": BOT_USER_ID, "app_id": APP_ID,
                "team": None if grant["is_enterprise_install"] else {
                    "id": grant["team_id"], "name": grant["team_name"]},
                "enterprise": enterprise,
                "is_enterprise_install": grant["is_enterprise_install"],
                "authed_user": {"id": grant["user_id"]},
                **({"refresh_token": refresh, "expires_in": 43200} if refresh else {})}

    def refuse_token(self, token: str, error: str = "invalid_auth") -> None:
        """Answer every call made with `token` with ``{"ok": false, "error": error}``
        (e.g. ``token_revoked``); any other token but ``self.token`` gets invalid_auth."""
        with self._lock:
            self.refused_tokens[token] = error

    def files(self) -> set[str]:
        """Ids of the files uploaded, completed and not deleted."""
        with self._lock:
            return set(self._state.completed)

    def still_processing(self, file_id: str, processing: bool = True) -> None:
        """Make image blocks showing `file_id` invalid (as Slack answers while it is
        still processing a fresh upload) until called again with False."""
        with self._lock:
            (self._state.not_ready.add if processing else self._state.not_ready.discard)(file_id)

    def slow(self, method: str, seconds: float) -> None:
        """Answer every call of ``method`` after ``seconds`` (faults included), so a
        test can see how many calls a client makes at once (``peak``)."""
        with self._lock:
            self._state.delays[method] = seconds

    # -- inspection --------------------------------------------------------

    def peak(self, method: str) -> int:
        """The most calls of ``method`` that were being answered at the same time."""
        with self._lock:
            return self._state.peak.get(method, 0)

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._state.calls if method is None or c.method == method]

    def responses(self, name: str | None = None) -> list[Any]:
        """Bodies POSTed to response_url(name) (all names when None), oldest first."""
        with self._lock:
            return [body for n, body in self._state.responses if name is None or n == name]

    def uploads(self) -> dict[str, bytes]:
        """file_id -> bytes POSTed to the upload URL."""
        with self._lock:
            return dict(self._state.uploads)

    def clear(self) -> None:
        """Forget recorded calls, responses, uploads and pending faults (users stay)."""
        with self._lock:
            s = self._state
            s.calls.clear()
            s.responses.clear()
            self.team_tokens.clear()
            self._codes.clear()
            s.uploads.clear()
            s.pending_files.clear()
            s.completed.clear()
            s.not_ready.clear()
            s.history.clear()
            s.channels.clear()
            s.usergroups.clear()
            s.faults.clear()
            s.delays.clear()
            s.in_flight.clear()
            s.peak.clear()
            self._hooks.clear()
            self.refused_tokens.clear()
            self.app_token = self.socket_url = ""

    # -- internals ---------------------------------------------------------

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            queue = self._state.faults.get(method)
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    def _next_ts(self) -> str:
        with self._lock:
            self._state.seq += 1
            micros = self._state.seq * 100
        return f"{1732440000 + micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._state.seq += 1
            return f"{prefix}0TEST{self._state.seq:05d}"

    def _enter(self, method: str) -> float:
        with self._lock:
            s = self._state
            s.in_flight[method] = s.in_flight.get(method, 0) + 1
            s.peak[method] = max(s.peak.get(method, 0), s.in_flight[method])
            return s.delays.get(method, 0.0)

    def _leave(self, method: str) -> None:
        with self._lock:
            self._state.in_flight[method] -= 1

    def _record(self, call: Call) -> None:
        with self._lock:
            self._state.calls.append(call)
            hook = self._hooks.pop(call.method, None)
        if hook is not None:
            hook()

    def socket_mode(self, app_token: str, url: str) -> None:
        """Answer `apps.connections.open` (app-level token only) with `url`."""
        with self._lock:
            self.app_token, self.socket_url = app_token, url

    def on_next_call(self, method: str, hook: Callable[[], None]) -> None:
        """Run `hook` (once) when `method` is next called, before it is answered: lets a
        test make something happen in the middle of the app's own work."""
        with self._lock:
            self._hooks[method] = hook

    def _check_auth(self, method: str, args: dict, headers: dict[str, str]) -> None:
        token = _token_of(args, headers)
        if not token:
            raise _ApiError("not_authed")
        if token in self.refused_tokens:
            raise _ApiError(self.refused_tokens[token])
        # apps.connections.open takes the app-level token, every other method a bot's
        if method == "apps.connections.open":
            if token != self.app_token or not token:
                raise _ApiError("not_allowed_token_type" if token == self.token
                                or token in self.team_tokens else "invalid_auth")
            return
        if token == self.app_token:
            raise _ApiError("not_allowed_token_type")
        if token != self.token and token not in self.team_tokens:
            raise _ApiError("invalid_auth")

    def _user(self, user_id: str) -> dict:
        with self._lock:
            user = self._state.users.get(user_id)
        if user is None:
            raise _ApiError("user_not_found")
        return user

    def _message(self, args: dict, ts: str) -> dict:
        text = args.get("text") or ""
        if len(text) > MAX_MESSAGE_TEXT:
            raise _ApiError("msg_too_long")
        message = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "text": text, "ts": ts}
        if args.get("blocks") is not None:
            blocks = _as_json(args["blocks"], "blocks")
            problem = _check_blocks(blocks, MAX_MESSAGE_BLOCKS, "/blocks")
            if problem:
                raise _ApiError("invalid_blocks", problem)
            message["blocks"] = blocks
        elif not text and not args.get("attachments"):
            raise _ApiError("no_text")
        if args.get("metadata") is not None:
            message["metadata"] = _as_json(args["metadata"], "metadata")
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        return message

    def _view(self, args: dict, allowed: tuple[str, ...]) -> dict:
        view = _as_json(args.get("view"), "view")
        if not isinstance(view, dict):
            raise _ApiError("invalid_arguments", "[ERROR] view must be an object")
        if view.get("type") not in allowed:
            raise _ApiError(
                "invalid_arguments", f"[ERROR] view type must be one of {', '.join(allowed)}"
            )
        problem = _check_blocks(view.get("blocks", []), MAX_VIEW_BLOCKS, "/view/blocks")
        if problem:
            raise _ApiError("invalid_arguments", problem)
        for i, block in enumerate(view.get("blocks", [])):  # image blocks of uploaded files
            slack_file = block.get("slack_file") if block.get("type") == "image" else None
            if slack_file is None:
                continue
            with self._lock:
                ready = (slack_file.get("id") in self._state.completed
                         and slack_file["id"] not in self._state.not_ready)
            if not ready:
                raise _ApiError("invalid_arguments", "[ERROR] invalid slack file "
                                f"[json-pointer:/view/blocks/{i}/slack_file]")
        if view["type"] == "modal":
            title = _text_of(view.get("title"))
            if not title:
                raise _ApiError("invalid_arguments", "[ERROR] missing required field: title")
            if len(title) > MAX_MODAL_TITLE:
                raise _ApiError(
                    "invalid_arguments",
                    "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]",
                )
        view_id = args.get("view_id") or self._next_id("V")
        return {"id": view_id, "team_id": TEAM_ID, "app_id": APP_ID, "hash": f"h{view_id}", **view}

    def _dispatch(self, method: str, args: dict, headers: dict[str, str] | None = None
                  ) -> dict:
        if method == "apps.connections.open":
            return {"url": self.socket_url}
        if method == "auth.test":
            return {
                "url": "https://test.slack.com/",
                "team": "Test",
                "user": "tokenboard",
                "team_id": self.team_tokens.get(_token_of(args, headers or {}) or "", TEAM_ID),
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if method == "users.info":
            _require(args, "user")
            return {"user": self._user(args["user"])}
        if method == "users.lookupByEmail":
            _require(args, "email")
            with self._lock:
                found = [
                    u
                    for u in self._state.users.values()
                    if u["profile"].get("email", "").lower() == args["email"].lower()
                ]
            if not found:
                raise _ApiError("users_not_found")
            return {"user": found[0]}
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            _require(args, "channel")
            if method == "chat.postEphemeral":
                _require(args, "user")
                ts = self._next_ts()
                self._message(args, ts)
                return {"message_ts": ts}
            if method == "chat.update":
                _require(args, "ts")
                message = self._message(args, args["ts"])
                return {"channel": args["channel"], "ts": args["ts"], "text": message["text"],
                        "message": message}
            ts = self._next_ts()
            message = self._message(args, ts)
            with self._lock:
                self._state.history.setdefault(args["channel"], []).append(message)
            return {"channel": args["channel"], "ts": ts, "message": message}
        if method == "conversations.history":
            _require(args, "channel")
            oldest = float(args.get("oldest") or 0)
            with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
            with self._lock:
                messages = list(self._state.history.get(args["channel"], []))
            found = []
            for m in reversed(messages):  # newest first, like Slack
                if float(m["ts"]) < oldest:
                    continue
                found.append(m if with_metadata else {k: v for k, v in m.items()
                                                      if k != "metadata"})
            return {"messages": found, "has_more": False}
        if method == "conversations.list":
            start = int(args.get("cursor") or 0)
            limit = int(args.get("limit") or 100)
            with self._lock:
                listed = list(self._state.channels.values())
            page = listed[start:start + limit]
            more = start + limit < len(listed)
            return {"channels": page,
                    "response_metadata": {"next_cursor": str(start + limit) if more else ""}}
        if method == "usergroups.list":
            # like Slack: disabled groups only with include_disabled, users only with
            # include_users, user_count always
            disabled = str(args.get("include_disabled", "")).lower() in ("1", "true")
            with_users = str(args.get("include_users", "")).lower() in ("1", "true")
            with self._lock:
                groups = [dict(g) for g in self._state.usergroups.values()
                          if disabled or not g["date_delete"]]
            for g in groups:
                if not with_users:
                    g.pop("users")
            return {"usergroups": groups}
        if method == "usergroups.users.list":
            _require(args, "usergroup")
            disabled = str(args.get("include_disabled", "")).lower() in ("1", "true")
            with self._lock:
                group = self._state.usergroups.get(args["usergroup"])
            if group is None or (group["date_delete"] and not disabled):
                raise _ApiError("no_such_subteam")
            return {"users": list(group["users"])}
        if method == "views.publish":
            _require(args, "user_id", "view")
            return {"view": self._view(args, ("home",))}
        if method in ("views.open", "views.push"):
            _require(args, "trigger_id", "view")
            return {"view": self._view(args, ("modal",))}
        if method == "views.update":
            _require(args, "view")
            if not (args.get("view_id") or args.get("external_id")):
                raise _ApiError("invalid_arguments", "[ERROR] view_id or external_id is required")
            return {"view": self._view(args, ("modal", "home"))}
        if method in ("conversations.info", "conversations.join"):
            channel = args.get("channel")
            if not channel:
                raise _ApiError("channel_not_found")
            with self._lock:
                if method == "conversations.join":
                    self.member_channels.add(channel)
                is_member = channel in self.member_channels
            info = {"id": channel, "name": channel.lower(), "is_channel": True,
                    "is_private": False, "is_archived": False, "is_member": is_member}
            return {"channel": info}
        if method == "files.getUploadURLExternal":
            _require(args, "filename", "length")
            file_id = self._next_id("F")
            with self._lock:
                self._state.pending_files[file_id] = {
                    "filename": args["filename"],
                    "length": int(args["length"]),
                }
            return {"upload_url": f"{self.root}upload/v1/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            _require(args, "files")
            wanted = _as_json(args["files"], "files")
            files = []
            with self._lock:
                for f in wanted:
                    pending = self._state.pending_files.get(f.get("id"))
                    if pending is None or f["id"] not in self._state.uploads:
                        raise _ApiError("file_not_found")
                    files.append({
                        "id": f["id"],
                        "name": pending["filename"],
                        "title": f.get("title") or pending["filename"],
                        "size": len(self._state.uploads[f["id"]]),
                        "channels": [c for c in [args.get("channel_id")] if c],
                        "permalink": f"https://test.slack.com/files/{BOT_USER_ID}/{f['id']}",
                    })
                    self._state.completed.add(f["id"])
            return {"files": files}
        if method == "files.delete":
            _require(args, "file")
            with self._lock:
                if args["file"] not in self._state.completed:
                    raise _ApiError("file_not_found")
                self._state.completed.discard(args["file"])
                self._state.uploads.pop(args["file"], None)
            return {}
        raise _ApiError("unknown_method")


class _Handler(BaseHTTPRequestHandler):
    server_version = "SlackStub/1.0"

    @property
    def stub(self) -> SlackStub:
        return self.server.stub  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output quiet
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        if isinstance(body, (dict, list)):
            data, ctype = json.dumps(body).encode(), "application/json; charset=utf-8"
        else:
            data, ctype = str(body).encode(), "text/plain; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _args(self, query: str, raw: bytes) -> dict[str, Any]:
        args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        ctype = (self.headers.get("Content-Type") or "").lower()
        if raw and ctype.startswith("application/json"):
            body = json.loads(raw)
            if isinstance(body, dict):
                args.update(body)
        elif raw:
            args.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        return args

    def _fault(self, key: str) -> bool:
        fault = self.stub._take_fault(key)
        if fault is None:
            return False
        self._send(fault.status, {"ok": False, "error": fault.error}, fault.headers)
        return True

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        path, raw = parts.path, self._body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        if path.startswith("/api/"):
            method = path[len("/api/") :]
            try:
                args = self._args(parts.query, raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                args = {"_raw": raw}
            self.stub._record(Call(method, args, headers))
            delay = self.stub._enter(method)
            try:
                if delay:
                    time.sleep(delay)
                if self._fault(method):
                    return
                try:
                    if method == "oauth.v2.access":  # the app's credentials, not a token
                        result = {"ok": True, **self.stub._oauth_access(args, headers)}
                    else:
                        self.stub._check_auth(method, args, headers)
                        result = {"ok": True, **self.stub._dispatch(method, args, headers)}
                except _ApiError as e:
                    result = {"ok": False, "error": e.error}
                    if e.messages:
                        result["response_metadata"] = {"messages": e.messages}
                self._send(200, result)
            finally:
                self.stub._leave(method)
        elif path.startswith("/response/") and self.command == "POST":
            if self._fault("response_url"):
                return
            try:
                body: Any = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = dict(parse_qsl(raw.decode("utf-8", "replace")))
            with self.stub._lock:
                self.stub._state.responses.append((path[len("/response/") :], body))
            self._send(200, {"ok": True})
        elif path.startswith("/upload/v1/") and self.command == "POST":
            if self._fault("upload"):
                return
            file_id = path[len("/upload/v1/") :]
            with self.stub._lock:
                known = file_id in self.stub._state.pending_files
                if known:
                    self.stub._state.uploads[file_id] = raw
            if known:
                self._send(200, f"OK - {len(raw)}")
            else:
                self._send(404, "not found")
        else:
            self._send(404, {"ok": False, "error": "unknown_method"})
