"""The Web API methods the stub answers (auth, users, conversations, chat, views, files,
usergroups, OAuth and Socket Mode), each as Slack answers it: WebApiMethods, mixed into
SlackStub."""

from __future__ import annotations

from tests.slack_stub.model import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    MAX_MESSAGE_BLOCKS,
    MAX_MESSAGE_TEXT,
    MAX_MODAL_TITLE,
    MAX_VIEW_BLOCKS,
    TEAM_ID,
    _ApiError,
    _as_json,
    _check_blocks,
    _require,
    _text_of,
    _token_of,
)


class WebApiMethods:
    """SlackStub's answers to /api/<method>: `_dispatch` and what it builds on."""

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
