"""The wire format of usage and outcome reports, validated strictly.

Unknown fields are errors rather than silently ignored: a sender who misspells
`tokens` should hear about it instead of having its usage dropped. Types are strict
(pydantic strict mode): `"tokens": "100"` or `"tokens": true` is an error, not 100 or 1;
the one coercion kept is an integer where a float is expected (`"cost_usd": 1`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.core.counts import Outcome, Usage, fingerprint, fingerprint_of
from bot.core.tools import usage_fields
from bot.core.window import outside_window
from bot.sources.strict_json import OutOfRange

MAX_EVENTS = 1000
MAX_TOKENS_PER_REPORT = 100_000_000  # more than any single tool run; beyond this is a bug
MAX_COST_PER_REPORT = 100_000.0
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
EPOCH = re.compile(r"\d+(\.\d+)?")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_ts(value: Any) -> datetime:
    """ISO 8601 with an offset, or epoch seconds → an aware UTC datetime."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("ts has no UTC offset")
        return value.astimezone(UTC)
    if isinstance(value, bool):
        raise ValueError("ts must be ISO 8601 with an offset or epoch seconds")
    if isinstance(value, int | float):
        if not 0 < value < 32503680000:
            raise ValueError("ts epoch seconds out of range")
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        text = value.strip()
        if EPOCH.fullmatch(text):
            return parse_ts(float(text))
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"ts {value[:100]!r} is not ISO 8601 or epoch seconds") from None
        if parsed.tzinfo is None:
            raise ValueError(f"ts {value[:100]!r} has no UTC offset (add Z or +HH:MM)")
        try:
            return parsed.astimezone(UTC)
        except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 is after year 9999 in UTC
            raise ValueError(f"ts {value[:100]!r} is outside the years 1–9999 in UTC") from None
    raise ValueError("ts must be ISO 8601 with an offset or epoch seconds")


class _Report(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=200)
    user: str | None = None
    email: str | None = None
    ts: datetime
    team: str | None = Field(default=None, max_length=80)

    @field_validator("ts", mode="before")
    @classmethod
    def _ts(cls, value: Any) -> datetime:
        return parse_ts(value)

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        # Ids are compared exactly: "x" and " x\n" would otherwise be one id after the
        # whitespace strip every other text field gets.
        if isinstance(value, str) and value != value.strip():
            raise ValueError("id must not start or end with whitespace")
        if isinstance(value, str) and CONTROL.search(value):
            raise ValueError("id must not contain control characters")
        return value

    @field_validator("user")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        if value is not None and not USER_ID.match(value):
            raise ValueError(f"user {value!r} is not a Slack user id like U012AB3CD")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not EMAIL.match(value):
            raise ValueError(f"email {value!r} is not an email address")
        return value.lower() if value else value

    @model_validator(mode="after")
    def _who(self) -> _Report:
        if not self.user and not self.email:
            raise ValueError("either user (a Slack user id) or email is required")
        if self.user and self.email:
            raise ValueError("give user or email, not both")
        return self


class UsageReport(_Report):
    type: Literal["usage"]
    tool: str = Field(min_length=1, max_length=80)
    tokens: int = Field(ge=0, le=MAX_TOKENS_PER_REPORT)
    cost_usd: float = Field(default=0.0, ge=0, le=MAX_COST_PER_REPORT, allow_inf_nan=False)
    input_tokens: int | None = Field(default=None, ge=0, le=MAX_TOKENS_PER_REPORT)
    output_tokens: int | None = Field(default=None, ge=0, le=MAX_TOKENS_PER_REPORT)
    requests: int = Field(default=1, ge=0, le=1_000_000)
    model: str | None = Field(default=None, min_length=1, max_length=120)


class OutcomeReport(_Report):
    type: Literal["outcome"]
    kind: str = Field(min_length=1, max_length=32)
    count: int = Field(default=1, ge=1, le=10_000)
    ref: str | None = Field(default=None, max_length=2000)


Report = Annotated[UsageReport | OutcomeReport, Field(discriminator="type")]
_adapter: TypeAdapter[UsageReport | OutcomeReport] = TypeAdapter(Report)


class ReportError(ValueError):
    """A report that cannot be counted, with a message fit for the sender."""


def validate_report(
    raw: Any, *, now: datetime, retention_days: int, known_kinds: frozenset[str] | set[str],
    owner: str | None = None
) -> UsageReport | OutcomeReport:
    """Validate one wire event; raise ReportError with every problem in one line.

    `owner`: the Slack user of the personal token the report came with: a report naming
    nobody (no `user`, no `email`) is theirs, and one whose `user` is someone else is
    refused (an `email` is resolved later, `bot.intake.identities.for_owner`)."""
    if not isinstance(raw, dict):
        raise ReportError(f"event must be a JSON object, got {_json_type(raw)}")
    if owner is not None and raw.get("user") is None and raw.get("email") is None:
        raw = {**raw, "user": owner}
    unusable = _unusable_value(raw)
    if unusable:
        raise ReportError(unusable)
    if raw.get("type") not in ("usage", "outcome"):
        raise ReportError(f"type must be 'usage' or 'outcome', got {repr(raw.get('type'))[:100]}")
    try:
        report = _adapter.validate_python(raw)
    except ValidationError as exc:
        raise ReportError(describe(exc)) from None
    outside = outside_window(report.ts, now, retention_days)
    if outside == "future":
        raise ReportError(f"ts {report.ts.isoformat()} is in the future")
    if outside == "old":
        raise ReportError(
            f"ts {report.ts.isoformat()} is older than the {retention_days}-day retention window"
        )
    if isinstance(report, OutcomeReport) and report.kind not in known_kinds:
        raise ReportError(
            f"unknown outcome kind {report.kind!r}; known kinds: {', '.join(sorted(known_kinds))}"
        )
    if owner is not None and report.user is not None and report.user != owner:
        raise ReportError(f"user {report.user} is not {owner}, whose personal token this "
                          "is; a personal token reports only for its owner")
    return report


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null", OutOfRange: "an out-of-range number"
            }.get(type(value), type(value).__name__)


def _unusable_value(raw: dict[str, Any]) -> str | None:
    """A field whose value no model may see: a number out of range (kept by the strict
    JSON reader as a marker) or text that is not valid Unicode (a lone surrogate from a
    `\\ud800` escape, which Redis could not store)."""
    for key, value in raw.items():
        kind = type(value)  # the usual field: an ASCII name, a number, null or ASCII text
        if key.isascii() and (kind in _PLAIN or (kind is str and value.isascii())):
            continue
        if isinstance(value, OutOfRange):
            return f"{_printable(key)}: number {value!r} is out of range"
        if isinstance(value, str) and not value.isascii() and not _is_unicode(value):
            return f"{_printable(key)}: text is not valid Unicode (unpaired surrogate escape)"
        if not key.isascii() and not _is_unicode(key):
            return (f"{_printable(key)}: field name is not valid Unicode (unpaired "
                    "surrogate escape)")
    return None


_PLAIN = frozenset({int, float, bool, type(None)})


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(key: str) -> str:
    return key[:100].encode("utf-8", "backslashreplace").decode("utf-8")


def describe(exc: ValidationError) -> str:
    """Pydantic's errors as '<field>: <reason>; ...' without the tagged-union noise."""
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if p not in ("usage", "outcome")]
        field = ".".join(loc) or "event"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{field}: {msg}")
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------
# In the counting model (`bot.core.counts`)


def report_fingerprint(report: UsageReport | OutcomeReport) -> str:
    """The fingerprint of a wire report's content, its id left out: every other field
    (defaults included) as `model_dump(mode="json")` gives it, sorted by name, `model`
    left out when None (as before it was a field). Built from the attributes with the
    text `fingerprint` would hash (`repr` of the sorted items: a template per report type
    and `%r` of each value), `ts` written as pydantic writes a UTC time (`…Z`): the same
    value, for less work."""
    ts = report.ts
    if ts.tzinfo is not UTC:  # not from parse_ts: as pydantic dumps it
        return fingerprint(sorted(_content(report).items()))
    text = ts.isoformat()
    values = report.__dict__
    names, template = _TEMPLATES[type(report), values.get("model", "") is None]
    stamp = text[:-6] + "Z" if text.endswith("+00:00") else text
    return fingerprint_of(template % tuple([stamp if name == "ts" else values[name]
                                            for name in names]))


def _content(report: UsageReport | OutcomeReport) -> dict[str, Any]:
    content = report.model_dump(mode="json", exclude={"id"})
    if content.get("model", "") is None:
        del content["model"]
    return content


def _template(names: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    """`repr(([(name, value), ...],))` with a `%r` for each value (what `fingerprint`
    hashes)."""
    return names, "([" + ", ".join(f"({name!r}, %r)" for name in names) + "],)"


# The fields a fingerprint covers, in sorted order, and its text's template, per report
# type and whether `model` is left out.
_TEMPLATES = {(cls, no_model): _template(tuple(sorted(
    set(cls.model_fields) - {"id", *(("model",) if no_model else ())})))
    for cls in (UsageReport, OutcomeReport) for no_model in (False, True)}


def usage_from_report(report: UsageReport) -> Usage:
    """A usage report in the counting model: tokens, cost and requests (the raw boards'
    fields), the token types it gives, and its tokens and cost per tool and model
    (`bot.core.tools`)."""
    fields: list[tuple[str, float]] = [("tokens", report.tokens),
                                       ("cost", float(report.cost_usd)),
                                       ("requests", report.requests)]
    if report.input_tokens:
        fields.append(("input_tokens", report.input_tokens))
    if report.output_tokens:
        fields.append(("output_tokens", report.output_tokens))
    fields += usage_fields(report.tool, tokens=report.tokens, cost=float(report.cost_usd),
                           model=report.model)
    return Usage(id=report.id, ts=report.ts, fields=tuple(fields),
                 fingerprint=report_fingerprint(report))


def outcome_from_report(report: OutcomeReport) -> Outcome:
    """An outcome report in the counting model."""
    return Outcome(id=report.id, ts=report.ts, kind=report.kind, count=report.count,
                   ref=report.ref, fingerprint=report_fingerprint(report))


def as_counts(report: UsageReport | OutcomeReport) -> Usage | Outcome:
    """A validated report in the counting model (what the store counts)."""
    if isinstance(report, UsageReport):
        return usage_from_report(report)
    return outcome_from_report(report)
