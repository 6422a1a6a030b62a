"""SlackStub: the stub's lifecycle (a threaded HTTP server on a free port), what a test
sets up (users, channels, usergroups, OAuth grants, faults, delays, hooks) and what it reads
back (calls, responses, uploads)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

from tests.slack_stub.methods import WebApiMethods
from tests.slack_stub.model import (
    APP_ID,
    BOT_USER_ID,
    TEAM_ID,
    Call,
    _ApiError,
    _Fault,
    _State,
    _token_of,
)
from tests.slack_stub.server import _Handler


class SlackStub(WebApiMethods):
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
