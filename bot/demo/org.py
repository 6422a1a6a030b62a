"""A synthetic organisation for the offline demo: people, personas and a month of events.

Pure and deterministic: the same arguments (and seed) always give the same people and
the same events, in the `/ingest` wire format (see `bot.sources.reports`). Five personas make
the point of the app visible when the raw board and the outcome board sit side by side:

- steady_builder:   moderate tokens, a steady trickle of PRs, reviews and tickets;
- heavy_productive: the top token users, and the most PRs and deploys to show for it;
- token_burner:     as many tokens as the heavy users (loops running round the clock,
                    many small requests) and almost nothing shipped;
- light_user:       few tokens, some outcomes;
- outcome_spammer:  moderate tokens and dozens of trivial commits and reviews a day,
                    rarely a PR.

Usage is reported in aggregates (a handful of sessions per person per day), not one
event per request, so 60 people x 30 days is a few tens of thousands of events.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

PERSONAS = ("steady_builder", "heavy_productive", "token_burner", "light_user", "outcome_spammer")

# Share of the organisation in each persona (sums to 1).
PERSONA_SHARES = {
    "steady_builder": 0.40,
    "heavy_productive": 0.15,
    "token_burner": 0.15,
    "light_user": 0.15,
    "outcome_spammer": 0.15,
}

OUTCOME_KINDS = ("pr_merged", "deploy", "incident_resolved", "ticket_resolved", "review", "commit")

# tool -> (USD per 1M input tokens, USD per 1M output tokens)
TOOLS = {
    "meshclaw": (3.0, 15.0),
    "codepilot": (1.25, 10.0),
    "chatassist": (0.5, 1.5),
}

MALLORY_NAME = "<!channel> Mallory"  # a display name that must be escaped, never pinged
EMAIL_DOMAIN = "example.com"
GIT = "https://git.example.com/acme"
REPOS = ("api", "web", "billing", "infra", "mobile", "search", "auth", "data-pipeline")

FIRST_NAMES = (
    "Aisha", "Mateo", "Priya", "Kenji", "Olga", "Tunde", "Sofia", "Liam", "Mei", "Diego",
    "Fatima", "Noah", "Ingrid", "Ravi", "Chloé", "Kwame", "Yuki", "Elena", "Omar", "Hannah",
    "Jin", "Amara", "Lucas", "Zainab", "Mikhail", "Ana", "Tariq", "Freya", "Hiroshi", "Nia",
    "Carlos", "Leila", "Sven", "Adaeze", "Wei", "Isabela", "Arjun", "Maja", "Kofi", "Emily",
    "Santiago", "Ayesha", "Finn", "Thandiwe", "Dmitri", "Lucía", "Hamid", "Saoirse", "Minh",
    "Grace", "Bongani", "Camille", "Ibrahim", "Astrid", "Rahul", "Valentina", "Seo-yeon",
    "Malik", "Nadia", "Tomás",
)
LAST_NAMES = (
    "Okafor", "García", "Sharma", "Tanaka", "Ivanova", "Adeyemi", "Rossi", "Murphy", "Chen",
    "Hernández", "Khan", "Williams", "Larsen", "Patel", "Dubois", "Mensah", "Sato", "Popescu",
    "Haddad", "Schmidt", "Park", "Nwosu", "Silva", "Bello", "Kuznetsov", "Costa", "Aziz",
    "Johansson", "Nakamura", "Achieng", "Moreno", "Farahani", "Nilsson", "Eze", "Zhang",
    "Oliveira", "Iyer", "Kowalski", "Boateng", "O'Brien", "Ramírez", "Siddiqui", "Walsh",
    "Dlamini", "Volkov", "Fernández", "Rahimi", "Kelly", "Nguyen", "Thompson", "Ndlovu",
    "Martin", "Yusuf", "Berg", "Gupta", "Romano", "Kim", "Abdullah", "Novak", "Santos",
)


MAX_PEOPLE = len(FIRST_NAMES) * len(LAST_NAMES)  # every display name is unique


@dataclass(frozen=True)
class DemoPerson:
    user: str  # Slack-like id, "U0DEMO001"
    name: str  # display name
    email: str
    persona: str  # one of PERSONAS


@dataclass(frozen=True)
class _Profile:
    """How one persona behaves on an ordinary working day."""

    tokens: tuple[int, int]  # daily token range on a working day
    sessions: tuple[int, int]  # usage events per working day
    tokens_per_request: tuple[int, int]
    output_share: tuple[float, float]  # output tokens / tokens
    outcomes: dict[str, float]  # mean count per working day, by kind
    weekend_chance: float  # chance of working on a Saturday or Sunday
    around_the_clock: bool = False


PROFILES: dict[str, _Profile] = {
    "steady_builder": _Profile(
        tokens=(50_000, 300_000), sessions=(3, 6), tokens_per_request=(4_000, 15_000),
        output_share=(0.15, 0.30),
        outcomes={"pr_merged": 0.8, "deploy": 0.25, "incident_resolved": 0.05,
                  "ticket_resolved": 1.0, "review": 1.5, "commit": 3.0},
        weekend_chance=0.08,
    ),
    "heavy_productive": _Profile(
        tokens=(1_000_000, 3_000_000), sessions=(6, 12), tokens_per_request=(8_000, 30_000),
        output_share=(0.15, 0.30),
        outcomes={"pr_merged": 3.0, "deploy": 1.5, "incident_resolved": 0.2,
                  "ticket_resolved": 1.2, "review": 2.0, "commit": 6.0},
        weekend_chance=0.15,
    ),
    "token_burner": _Profile(
        tokens=(1_500_000, 4_000_000), sessions=(20, 36), tokens_per_request=(1_000, 3_000),
        output_share=(0.30, 0.55),
        outcomes={"commit": 0.03},
        weekend_chance=1.0, around_the_clock=True,
    ),
    "light_user": _Profile(
        tokens=(2_000, 30_000), sessions=(1, 2), tokens_per_request=(1_500, 6_000),
        output_share=(0.15, 0.35),
        outcomes={"pr_merged": 0.3, "deploy": 0.05, "ticket_resolved": 0.5, "review": 0.8,
                  "commit": 1.0},
        weekend_chance=0.03,
    ),
    "outcome_spammer": _Profile(
        tokens=(60_000, 250_000), sessions=(3, 6), tokens_per_request=(2_000, 8_000),
        output_share=(0.20, 0.40),
        outcomes={"pr_merged": 0.05, "review": 16.0, "commit": 24.0},
        weekend_chance=0.10,
    ),
}


def generate_org(
    people: int = 60,
    days: int = 30,
    *,
    end: dt.date,
    seed: int = 7,
    tz: dt.tzinfo = dt.UTC,
    not_after: dt.datetime | None = None,
) -> tuple[list[DemoPerson], list[dict[str, Any]]]:
    """Return the people and the events (dicts in the /ingest wire format), for the `days`
    days ending at `end` inclusive.

    Days are calendar days in `tz` (the workspace time zone; UTC unless given): working
    hours are local, every `ts` is UTC. Events later than `not_after` (an aware instant,
    e.g. "now", since the API rejects reports from the future) are left out. Events are
    sorted by time. With 5 or more people every persona is present.
    """
    if not 1 <= people <= MAX_PEOPLE:
        raise ValueError(f"people must be between 1 and {MAX_PEOPLE}")
    if days < 1:
        raise ValueError("days must be at least 1")
    if not_after is not None and not_after.tzinfo is None:
        raise ValueError("not_after must be an aware datetime")

    rng = random.Random(seed)
    org = _make_people(people, rng)
    start = end - dt.timedelta(days=days - 1)

    # A few people report epoch seconds instead of ISO 8601, and ~5% report usage by email.
    epoch_users = {p.user for p in rng.sample(org, max(1, round(people * 0.05)))}
    email_users = {p.user for p in rng.sample(org, max(1, round(people * 0.05)))}

    timed: list[tuple[dt.datetime, str, dict[str, Any]]] = []
    for person in org:
        # Each person gets their own stream, so adding people never reshuffles the others.
        prng = random.Random(f"{seed}:{person.user}")
        profile = PROFILES[person.persona]
        tools = _tool_preference(prng)
        for offset in range(days):
            day = start + dt.timedelta(days=offset)
            for when, body in _person_day(person, profile, day, tz, tools, prng):
                ident, kind = body.pop("id"), body.pop("type")
                who = (
                    {"email": person.email}
                    if kind == "usage" and person.user in email_users
                    else {"user": person.user}
                )
                ts: int | str = (
                    int(when.timestamp()) if person.user in epoch_users
                    else when.strftime("%Y-%m-%dT%H:%M:%SZ")
                )
                event = {"id": ident, "type": kind, **who, "ts": ts, **body}
                timed.append((when, ident, event))

    timed.sort(key=lambda item: (item[0], item[1]))
    return org, [
        event for when, _, event in timed if not_after is None or when <= not_after
    ]


def events_in_batches(events: Iterable[dict[str, Any]], size: int = 500) -> Iterator[list[dict]]:
    """Yield lists of at most `size` events, in order (the API takes up to 1000 a request)."""
    if size < 1:
        raise ValueError("size must be at least 1")
    batch: list[dict[str, Any]] = []
    for event in events:
        batch.append(event)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- people ---------------------------------------------------------------------------


def _user_id(index: int) -> str:
    """U + 8 characters: U0DEMO001 ... U0DEMO999, then U0DEM1000 ... U0DEM9999."""
    return f"U0DEMO{index:03d}" if index < 1000 else f"U0DEM{index:04d}"


def _persona_counts(people: int) -> dict[str, int]:
    """Largest-remainder split of `people` over PERSONA_SHARES; each persona at least one
    when there are enough people."""
    exact = {p: people * PERSONA_SHARES[p] for p in PERSONAS}
    counts = {p: int(exact[p]) for p in PERSONAS}
    by_remainder = sorted(PERSONAS, key=lambda p: (-(exact[p] - counts[p]), PERSONAS.index(p)))
    for persona in by_remainder[: people - sum(counts.values())]:
        counts[persona] += 1
    if people >= len(PERSONAS):
        for persona in PERSONAS:
            while counts[persona] == 0:
                donor = max(PERSONAS, key=lambda p: counts[p])
                counts[donor] -= 1
                counts[persona] += 1
    return counts


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum() or ch == "-")


def _make_people(people: int, rng: random.Random) -> list[DemoPerson]:
    personas = [p for p in PERSONAS for _ in range(_persona_counts(people)[p])]
    rng.shuffle(personas)

    pairs = [(f, last) for f in FIRST_NAMES for last in LAST_NAMES]
    rng.shuffle(pairs)
    names = [f"{first} {last}" for first, last in pairs[:people]]

    # One burner (so she shows on the raw board) is called "<!channel> Mallory".
    burners = [i for i, p in enumerate(personas) if p == "token_burner"]
    mallory = rng.choice(burners) if burners else rng.randrange(people)
    names[mallory] = MALLORY_NAME

    org: list[DemoPerson] = []
    emails: set[str] = set()
    for i, (name, persona) in enumerate(zip(names, personas, strict=True), start=1):
        if name == MALLORY_NAME:
            local = "mallory"
        else:
            first, last = name.split(" ", 1)
            local = f"{_ascii(first)}.{_ascii(last)}"
        email, n = f"{local}@{EMAIL_DOMAIN}", 1
        while email in emails:
            n += 1
            email = f"{local}{n}@{EMAIL_DOMAIN}"
        emails.add(email)
        org.append(DemoPerson(user=_user_id(i), name=name, email=email, persona=persona))
    return org


# --- events ---------------------------------------------------------------------------


def _tool_preference(rng: random.Random) -> list[float]:
    """Per-person weights over TOOLS: most people favour one tool."""
    weights = [rng.uniform(0.1, 1.0) for _ in TOOLS]
    weights[rng.randrange(len(weights))] += 3.0
    return weights


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; fine for the small means used here."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, mean**0.5)))
    limit, k, p = pow(2.718281828459045, -mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _local_time(day: dt.date, seconds: int, tz: dt.tzinfo) -> dt.datetime:
    """`seconds` after local midnight of `day` in `tz`, as an aware UTC datetime, kept on
    the same local calendar day whatever daylight saving does."""
    wall = dt.datetime.combine(day, dt.time(), tzinfo=tz) + dt.timedelta(seconds=seconds)
    instant = wall.astimezone(dt.UTC)
    if instant.astimezone(tz).date() != day:  # a DST gap pushed it over midnight
        instant -= dt.timedelta(hours=1)
    return instant


def _working_second(rng: random.Random) -> int:
    """A moment in local working hours, bunched around late morning and mid-afternoon."""
    hour = rng.choice((9, 10, 10, 11, 11, 12, 13, 14, 14, 15, 15, 16, 16, 17))
    return hour * 3600 + rng.randrange(3600)


def _person_day(
    person: DemoPerson,
    profile: _Profile,
    day: dt.date,
    tz: dt.tzinfo,
    tool_weights: list[float],
    rng: random.Random,
) -> list[tuple[dt.datetime, dict[str, Any]]]:
    weekend = day.weekday() >= 5
    if weekend and rng.random() >= profile.weekend_chance:
        return []
    # Weekend work is lighter, except for loops that never stop.
    scale = 0.35 if weekend and not profile.around_the_clock else 1.0
    scale *= rng.uniform(0.75, 1.25)  # good days and slow days

    out: list[tuple[dt.datetime, dict[str, Any]]] = []
    n = 0

    def new_id() -> str:
        nonlocal n
        n += 1
        return f"demo-{person.user}-{day.isoformat()}-{n}"

    def moment() -> dt.datetime:
        seconds = rng.randrange(86_400) if profile.around_the_clock else _working_second(rng)
        return _local_time(day, seconds, tz)

    # Usage: a handful of sessions sharing the day's tokens.
    sessions = max(1, round(rng.randint(*profile.sessions) * (scale if scale < 1 else 1)))
    day_tokens = round(rng.randint(*profile.tokens) * scale)
    shares = [rng.uniform(0.5, 1.5) for _ in range(sessions)]
    total_share = sum(shares)
    tool_names = list(TOOLS)
    for share in shares:
        tokens = max(100, round(day_tokens * share / total_share))
        output_tokens = round(tokens * rng.uniform(*profile.output_share))
        input_tokens = tokens - output_tokens
        requests = max(1, round(tokens / rng.randint(*profile.tokens_per_request)))
        tool = rng.choices(tool_names, weights=tool_weights)[0]
        price_in, price_out = TOOLS[tool]
        cost = (input_tokens * price_in + output_tokens * price_out) / 1_000_000
        out.append((moment(), {
            "id": new_id(),
            "type": "usage",
            "tool": tool,
            "tokens": tokens,
            "cost_usd": round(cost, 4),
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "requests": requests,
        }))

    # Outcomes: one event per thing done (a push of several commits counts them together).
    for kind in OUTCOME_KINDS:
        mean = profile.outcomes.get(kind, 0.0) * scale
        remaining = _poisson(rng, mean)
        while remaining > 0:
            count = 1
            if kind == "commit" and person.persona != "outcome_spammer" and remaining > 1:
                count = rng.randint(1, min(3, remaining))
            remaining -= count
            out.append((moment(), {
                "id": new_id(),
                "type": "outcome",
                "kind": kind,
                "count": count,
                "ref": _ref(kind, rng),
            }))
    return out


def _ref(kind: str, rng: random.Random) -> str:
    repo = f"{GIT}/{rng.choice(REPOS)}"
    number = rng.randint(100, 9_999)
    if kind == "pr_merged":
        return f"{repo}/pull/{number}"
    if kind == "review":
        return f"{repo}/pull/{number}#pullrequestreview-{rng.randint(10_000, 999_999)}"
    if kind == "commit":
        return f"{repo}/commit/{rng.getrandbits(40):010x}"
    if kind == "deploy":
        return f"{repo}/deployments/{number}"
    if kind == "incident_resolved":
        return f"{GIT}/incidents/issues/{number}"
    return f"{repo}/issues/{number}"
