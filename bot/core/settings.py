"""Process settings, read once from the environment and `.env`.

Everything tunable at deploy time lives here so that the rest of the code takes a
`Settings` object and never reads `os.environ` itself (tests build their own).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import load_dotenv

from bot.core.channel_ids import channel_problem

DEFAULT_SLACK_API_URL = "https://slack.com/api/"


class SettingsError(Exception):
    """A configuration problem worth one line to the operator, not a traceback."""


# A workspace name as Redis keys take it (bot.store.keys builds keys from it).
WORKSPACE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_app_token: str = ""
    slack_api_url: str = DEFAULT_SLACK_API_URL
    redis_url: str = ""
    redis_cluster: bool | None = None  # None: ask the server (INFO cluster)
    redis_wait_replicas: int = 0  # replicas that must have a report before it is acknowledged
    data_dir: Path = Path(".tokenboard")
    ingest_tokens: tuple[str, ...] = ()
    port: int = 3000
    timezone: str = "UTC"
    workspace: str = "default"
    retention_days: int = 400
    max_body_bytes: int = 2_000_000
    otlp_max_bytes: int = 16 * 1024 * 1024
    github_webhook_secret: str = ""
    gitlab_webhook_token: str = ""
    pagerduty_webhook_secret: str = ""
    admin_user_ids: tuple[str, ...] = ()
    digest_channel: str = ""
    digest_time: str = "09:00"
    digest_grace_hours: float = 6.0
    slack_max_body_bytes: int = 1_048_576
    ingest_rate_limit: int = 600
    redis_timeout_ms: int = 1000
    http_connection_limit: int = 4000
    http_idle_timeout: int = 10
    web_concurrency: int = 0  # web worker processes; 0: one per core
    web_threads: int = 8  # threads per web worker process
    serve_jobs: str = "auto"  # auto: serve runs the jobs while no worker runs; off: never
    # on: serve and worker move data of an older storage layout at start (one process, the
    # others wait); off: they refuse to start until `tokenboard migrate` has run
    migrate_on_start: str = "on"
    public_url: str = ""  # https://tokenboard.example.com: what senders are told to use
    # vendors' admin reports (bot.connectors): a connector whose key is unset is off
    anthropic_admin_key: str = ""
    anthropic_api_url: str = "https://api.anthropic.com"
    github_token: str = ""
    copilot_org: str = ""
    github_api_url: str = "https://api.github.com"
    cursor_admin_key: str = ""
    cursor_api_url: str = "https://api.cursor.com"
    openai_admin_key: str = ""
    openai_api_url: str = "https://api.openai.com"
    slack_client_id: str = ""  # with the secret and no bot token: "Add to Slack" installs
    slack_client_secret: str = ""
    slack_redirect_uri: str = ""
    uninstall_grace_days: int = 7  # an uninstalled workspace's data is deleted after this

    @property
    def oauth(self) -> bool:
        """Installable in many workspaces ("Add to Slack") rather than one bot token."""
        return bool(self.slack_client_id and self.slack_client_secret
                    and not self.slack_bot_token)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def require(self, *names: str) -> None:
        """Raise a one-line SettingsError naming the first missing variable."""
        for name in names:
            if not getattr(self, name.lower()):
                raise SettingsError(f"{name} is not set (see .env.example)")


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _int(env: dict[str, str], name: str, default: int, minimum: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def check_workspace(value: str, name: str = "--workspace") -> str:
    """A workspace name as Redis keys take it: a Slack team id like T012AB3CD, or a name
    such as `demo` (letters, digits, '_' and '-', at most 64)."""
    if not WORKSPACE.match(value):
        raise SettingsError(f"{name} must be a Slack team id like T012AB3CD or a name of "
                            f"letters, digits, '_' and '-' (at most 64), got {value!r}")
    return value


def _flag(env: dict[str, str], name: str) -> bool | None:
    """true/false (also 1/0, yes/no); None when unset."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return None
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _hours(env: dict[str, str], name: str, default: float) -> float:
    """A number of hours, decimals allowed (1.5), at least 0."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of hours (e.g. 6 or 1.5), got {raw!r}"
                            ) from None
    if not math.isfinite(value) or value < 0:
        raise SettingsError(f"{name} must be a number of hours, at least 0, got {raw!r}")
    return value


def _channel(env: dict[str, str]) -> str:
    """DIGEST_CHANNEL: a channel id, or a name the digest looks up (bot.slack.channels)."""
    value = env.get("DIGEST_CHANNEL", "").strip()
    problem = channel_problem(value) if value else None
    if problem:
        raise SettingsError(f"DIGEST_CHANNEL: {problem}")
    return value


def load_settings(env: dict[str, str] | None = None, dotenv_path: str | None = ".env") -> Settings:
    """Build Settings from `env` (default: os.environ after loading `.env`)."""
    if env is None:
        if dotenv_path and Path(dotenv_path).exists():
            load_dotenv(dotenv_path, override=False)
        env = dict(os.environ)
    timezone = env.get("TOKENBOARD_TIMEZONE", "").strip() or "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"TOKENBOARD_TIMEZONE={timezone!r} is not an IANA time zone (e.g. Europe/Berlin)"
        ) from None
    digest_time = env.get("DIGEST_TIME", "").strip() or "09:00"
    _check_hhmm("DIGEST_TIME", digest_time)
    api_url = env.get("SLACK_API_URL", "").strip() or DEFAULT_SLACK_API_URL
    if not api_url.endswith("/"):
        api_url += "/"
    return Settings(
        slack_bot_token=env.get("SLACK_BOT_TOKEN", "").strip(),
        slack_signing_secret=env.get("SLACK_SIGNING_SECRET", "").strip(),
        slack_app_token=env.get("SLACK_APP_TOKEN", "").strip(),
        slack_api_url=api_url,
        redis_url=env.get("REDIS_URL", "").strip(),
        redis_cluster=_flag(env, "REDIS_CLUSTER"),
        redis_wait_replicas=_int(env, "REDIS_WAIT_REPLICAS", 0, minimum=0),
        data_dir=Path(env.get("TOKENBOARD_DATA_DIR", "").strip() or ".tokenboard"),
        ingest_tokens=_split(env.get("INGEST_TOKENS", "")),
        port=_int(env, "PORT", 3000),
        timezone=timezone,
        workspace=check_workspace(env.get("TOKENBOARD_WORKSPACE", "").strip() or "default",
                                  "TOKENBOARD_WORKSPACE"),
        retention_days=_int(env, "TOKENBOARD_RETENTION_DAYS", 400),
        otlp_max_bytes=_otlp_max(env),
        github_webhook_secret=env.get("GITHUB_WEBHOOK_SECRET", "").strip(),
        gitlab_webhook_token=env.get("GITLAB_WEBHOOK_TOKEN", "").strip(),
        pagerduty_webhook_secret=env.get("PAGERDUTY_WEBHOOK_SECRET", "").strip(),
        admin_user_ids=_split(env.get("ADMIN_USER_IDS", "")),
        digest_channel=_channel(env),
        digest_time=digest_time,
        digest_grace_hours=_hours(env, "DIGEST_GRACE_HOURS", 6.0),
        slack_max_body_bytes=_int(env, "SLACK_MAX_BODY_BYTES", 1_048_576, minimum=1),
        ingest_rate_limit=_int(env, "INGEST_RATE_LIMIT", 600, minimum=0),
        redis_timeout_ms=_int(env, "REDIS_TIMEOUT_MS", 1000, minimum=1),
        http_connection_limit=_int(env, "HTTP_CONNECTION_LIMIT", 4000, minimum=10),
        http_idle_timeout=_int(env, "HTTP_IDLE_TIMEOUT", 10, minimum=1),
        web_concurrency=_int(env, "WEB_CONCURRENCY", 0, minimum=0),
        web_threads=_int(env, "WEB_THREADS", 8, minimum=1),
        serve_jobs=_choice(env, "SERVE_JOBS", ("auto", "off")),
        migrate_on_start=_choice(env, "MIGRATE_ON_START", ("on", "off")),
        public_url=_public_url(env.get("PUBLIC_URL", "")),
        anthropic_admin_key=env.get("ANTHROPIC_ADMIN_KEY", "").strip(),
        anthropic_api_url=_base_url(env, "ANTHROPIC_API_URL", "https://api.anthropic.com"),
        github_token=env.get("GITHUB_TOKEN", "").strip(),
        copilot_org=env.get("COPILOT_ORG", "").strip(),
        github_api_url=_base_url(env, "GITHUB_API_URL", "https://api.github.com"),
        cursor_admin_key=env.get("CURSOR_ADMIN_KEY", "").strip(),
        cursor_api_url=_base_url(env, "CURSOR_API_URL", "https://api.cursor.com"),
        openai_admin_key=env.get("OPENAI_ADMIN_KEY", "").strip(),
        openai_api_url=_base_url(env, "OPENAI_API_URL", "https://api.openai.com"),
        slack_client_id=env.get("SLACK_CLIENT_ID", "").strip(),
        slack_client_secret=env.get("SLACK_CLIENT_SECRET", "").strip(),
        slack_redirect_uri=env.get("SLACK_REDIRECT_URI", "").strip(),
        uninstall_grace_days=_int(env, "UNINSTALL_GRACE_DAYS", 7, minimum=0),
    )


def _base_url(env: dict[str, str], name: str, default: str) -> str:
    """A vendor API's scheme://host[:port], nothing after it (the client adds the paths)."""
    from urllib.parse import urlsplit

    raw = env.get(name, "").strip()
    if not raw:
        return default
    parts = urlsplit(raw)
    if (parts.scheme not in ("http", "https") or not parts.hostname
            or parts.path not in ("", "/") or parts.query or parts.fragment):
        raise SettingsError(f"{name} must be scheme://host:port only, like "
                            f"http://127.0.0.1:8081, got {raw!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _choice(env: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (the first is the default), case-insensitive."""
    value = env.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _public_url(raw: str) -> str:
    """PUBLIC_URL without a trailing slash; http(s) with a host, nothing after the path."""
    from urllib.parse import urlsplit

    value = raw.strip().rstrip("/")
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError("PUBLIC_URL must be the public base URL, like "
                            f"https://tokenboard.example.com, got {raw.strip()!r}")
    return value


def _otlp_max(env: dict[str, str]) -> int:
    value = _int(env, "OTLP_MAX_BYTES", 16 * 1024 * 1024)
    if not 1024 <= value <= 64 * 1024 * 1024:
        raise SettingsError("OTLP_MAX_BYTES must be between 1024 and 67108864 (64 MiB, the "
                            f"OTLP spec's recommendation), got {value}")
    return value


def _check_hhmm(name: str, value: str) -> None:
    hh, sep, mm = value.partition(":")
    if not (sep and hh.isdigit() and mm.isdigit() and 0 <= int(hh) < 24 and 0 <= int(mm) < 60):
        raise SettingsError(f"{name} must be HH:MM (24-hour), got {value!r}")
