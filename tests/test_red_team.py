"""Red team: an org of 60 people over a week, everything sent as GitHub and PagerDuty
send it (signed, through the real HTTP routes). A tenth plays each of the two strongest
strategies (an approval ring; cheap outcomes combined), three people each play the
others, and every gamer also does some ordinary reviewed work:

- ring: six people approve each other's pull requests seconds after they are opened and
  merge them themselves, six a day each;
- cheap: closing issues they opened minutes earlier, redeploying one commit to production
  again and again, triggering low-urgency incidents themselves and resolving them moments
  later (each of those alone too: tickets, redeploys, incidents);
- already handled before these rules: tiny pull requests, self-merges without review,
  revert and re-merge;
- two more: deploying every commit to throw-away preview environments, and drive-by
  reviews (a comment on every pull request within a minute of its opening).

Honest builders (24 in three teams) open 2-4 pull requests a day of real size, each
approved by a teammate 15 minutes to 3 hours later; some close an issue with "Fixes #N";
one of each team deploys the day's merge to production; one monitoring-triggered incident
a day is resolved by whoever is on call.

Asserted: with the default rules no gamer reaches the outcome top 10 and honest builders
hold it; with the new rules turned off (fractions 1, thresholds 0), gamers take the top;
switching the rules back on and rescoring re-ranks the same past back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from bot.core.config import BoardConfig
from bot.core.periods import ALL
from bot.intake.scoring import rebuild_scores, save_configuration
from tests.conftest import App, http

pytestmark = pytest.mark.slow  # the app's HTTP server, a week of signed deliveries

GH_SECRET, PD_SECRET = "red-gh", "red-pd"
DAYS = 7
REPO = "acme/app"
HONEST = [f"honest{i:02d}" for i in range(24)]
TEAMS = [HONEST[i::3] for i in range(3)]
GROUPS = {"ring": 6, "cheap": 6, "tickets": 3, "redeploy": 3, "incidents": 3, "tiny": 3,
          "selfmerge": 3, "revert": 3, "preview": 3, "driveby": 3}
GAMERS = {f"{g}{i}": g for g, n in GROUPS.items() for i in range(n)}
PEOPLE = HONEST + list(GAMERS)
RULES_OFF = {
    "pr_quick_approval_fraction": 1.0, "review_quick_minutes": 0, "review_tiny_lines": 0,
    "review_pair_cap": 0, "review_reciprocal_min": 0, "ticket_self_quick_minutes": 0,
    "ticket_unlinked_fraction": 1.0, "deploy_nonprod_fraction": 1.0,
    "deploy_redeploy_fraction": 1.0, "incident_self_fraction": 1.0,
    "incident_quick_minutes": 0, "incident_low_urgency_fraction": 1.0,
    "counterweight_failed_deploy": 0.0, "counterweight_incident": 0.0}


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def user(login: str) -> dict:
    return {"login": login, "id": int(hashlib.sha1(login.encode()).hexdigest()[:8], 16),
            "type": "User"}


def slack_id(login: str) -> str:
    return "U0" + login.upper()


class Org:
    """Sends the org's week, in time order, to the app."""

    def __init__(self, app: App, seed: int = 19) -> None:
        self.app = app
        self.rng = random.Random(seed)
        self.ids = count(1000)
        self.sends: list[tuple[datetime, str, str, dict]] = []  # (when, source, event, doc)

    # -- deliveries ------------------------------------------------------------------------
    def gh(self, when: datetime, event: str, doc: dict) -> None:
        doc.setdefault("repository", {"full_name": REPO})
        self.sends.append((when, "github", event, doc))

    def pd(self, when: datetime, doc: dict) -> None:
        self.sends.append((when, "pagerduty", "", doc))

    def flush(self) -> None:
        for _when, source, event, doc in sorted(self.sends, key=lambda s: s[0]):
            body = json.dumps(doc).encode()
            if source == "github":
                sig = "sha256=" + hmac.new(GH_SECRET.encode(), body, hashlib.sha256).hexdigest()
                headers = {"X-GitHub-Event": event, "X-Hub-Signature-256": sig,
                           "X-GitHub-Delivery": str(uuid.uuid4())}
            else:
                sig = "v1=" + hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()
                headers = {"X-PagerDuty-Signature": sig}
            answer = http("POST", f"{self.app.url}/webhooks/{source}", body,
                          {"Content-Type": "application/json", **headers})
            assert answer.status == 200, (answer.status, answer.body[:200])
        self.sends.clear()

    # -- what people do ------------------------------------------------------------------
    def pull_request(self, author: str, opened: datetime, lines: int,
                     approvers: list[tuple[str, float]], merged_by: str | None = None,
                     merge_after: float = 5.0, body: str = "", title: str = "Change",
                     state: str = "approved") -> int:
        """Opened at `opened`; each (reviewer, minutes after opening) reviews; merged
        `merge_after` minutes after the last review. Returns the PR number."""
        pr_id, number = next(self.ids), next(self.ids)
        pr = {"id": pr_id, "number": number, "user": user(author), "title": title,
              "body": body, "created_at": iso(opened), "updated_at": iso(opened),
              "html_url": f"https://github.com/{REPO}/pull/{number}"}
        sized = {**pr, "additions": lines - lines // 3, "deletions": lines // 3}
        self.gh(opened, "pull_request", {"action": "opened", "pull_request": sized})
        last = opened
        for reviewer, minutes in approvers:
            when = opened + timedelta(minutes=minutes)
            last = max(last, when)
            self.gh(when, "pull_request_review", {
                "action": "submitted", "pull_request": pr,
                "review": {"id": next(self.ids), "user": user(reviewer), "state": state,
                           "submitted_at": iso(when)}})
        if merged_by is not None:
            when = last + timedelta(minutes=merge_after)
            self.gh(when, "pull_request", {"action": "closed", "pull_request": {
                **sized, "merged": True, "merged_at": iso(when), "closed_at": iso(when),
                "merged_by": user(merged_by), "merge_commit_sha": f"{number:040x}"}})
        return number

    def ordinary(self, person: str, day: datetime) -> None:
        """One pull request of real size reviewed by an honest builder, one review given."""
        reviewer = self.rng.choice(HONEST)
        self.pull_request(person, day + timedelta(minutes=self.rng.randrange(60, 300)),
                          self.rng.randint(40, 300), [(reviewer, self.rng.randint(20, 120))],
                          merged_by=person)
        author = self.rng.choice(HONEST)
        self.pull_request(author, day + timedelta(minutes=self.rng.randrange(60, 300)),
                          self.rng.randint(40, 300), [(person, self.rng.randint(20, 120))])

    def issue(self, closer: str, opener: str, opened: datetime, closed: datetime) -> None:
        number = next(self.ids)
        self.gh(closed, "issues", {"action": "closed", "sender": user(closer), "issue": {
            "id": next(self.ids), "number": number, "user": user(opener),
            "state": "closed", "state_reason": "completed", "created_at": iso(opened),
            "closed_at": iso(closed), "html_url": f"https://github.com/{REPO}/issues/{number}"}})

    def deploy(self, who: str, when: datetime, sha: str, environment: str = "production",
               state: str = "success") -> None:
        self.gh(when, "deployment_status", {
            "deployment_status": {"id": next(self.ids), "state": state,
                                  "created_at": iso(when), "environment": environment},
            "deployment": {"id": next(self.ids), "sha": sha, "environment": environment,
                           "creator": user(who),
                           "production_environment": environment == "production"}})

    def incident(self, triggered_by: str | None, resolver: str, when: datetime,
                 minutes: float, urgency: str) -> None:
        incident = f"PINC{next(self.ids)}"
        data = {"id": incident, "type": "incident", "title": "Something is wrong",
                "urgency": urgency, "created_at": iso(when),
                "html_url": f"https://acme.pagerduty.com/incidents/{incident}"}
        agent = ({"id": f"P{triggered_by.upper()}", "type": "user_reference"}
                 if triggered_by else {"id": "PMONITOR", "type": "service_reference"})
        self.pd(when, {"event": {"id": str(uuid.uuid4()), "event_type": "incident.triggered",
                                 "resource_type": "incident", "occurred_at": iso(when),
                                 "agent": agent, "data": {**data, "status": "triggered"}}})
        done = when + timedelta(minutes=minutes)
        self.pd(done, {"event": {"id": str(uuid.uuid4()), "event_type": "incident.resolved",
                                 "resource_type": "incident", "occurred_at": iso(done),
                                 "agent": {"id": f"P{resolver.upper()}",
                                           "type": "user_reference"},
                                 "data": {**data, "status": "resolved"}}})

    # -- the week ------------------------------------------------------------------------
    def week(self, start: datetime) -> None:
        rng = self.rng
        for d in range(DAYS):
            day = start + timedelta(days=d)
            self.honest_day(day, d)
            for person, group in GAMERS.items():
                self.ordinary(person, day)
                getattr(self, f"play_{group}")(person, day, d)
            self.flush()
        assert rng  # (deterministic: one seed)

    def honest_day(self, day: datetime, d: int) -> None:
        rng = self.rng
        for team in TEAMS:
            merged: list[int] = []
            for person in team:
                for _ in range(rng.randint(2, 4)):
                    reviewer = rng.choice([p for p in team if p != person])
                    fixes = rng.random() < 0.3
                    issue_no = next(self.ids)
                    number = self.pull_request(
                        person, day + timedelta(minutes=rng.randrange(0, 420)),
                        rng.randint(30, 400), [(reviewer, rng.randint(15, 180))],
                        merged_by=person, body=f"Fixes #{issue_no}" if fixes else "")
                    merged.append(number)
                    if fixes:  # closed by the merge, opened by a colleague days ago
                        closed = day + timedelta(hours=11)
                        self.gh(closed, "issues", {
                            "action": "closed", "sender": user(person), "issue": {
                                "id": next(self.ids), "number": issue_no,
                                "user": user(rng.choice(team)), "state": "closed",
                                "state_reason": "completed",
                                "created_at": iso(closed - timedelta(days=3)),
                                "closed_at": iso(closed)}})
            self.deploy(team[d % len(team)], day + timedelta(hours=12), f"{max(merged):040x}")
        on_call = HONEST[d % len(HONEST)]
        self.incident(None, on_call, day + timedelta(hours=rng.randint(1, 10)),
                      rng.randint(20, 90), "high")

    def play_ring(self, person: str, day: datetime, _d: int) -> None:
        ring = [p for p, g in GAMERS.items() if g == "ring"]
        for _ in range(6):
            partner = self.rng.choice([p for p in ring if p != person])
            self.pull_request(person, day + timedelta(minutes=self.rng.randrange(0, 480)),
                              self.rng.randint(12, 40), [(partner, 0.3)], merged_by=person,
                              merge_after=0.2)

    def play_tickets(self, person: str, day: datetime, _d: int, n: int = 8) -> None:
        for _ in range(n):
            opened = day + timedelta(minutes=self.rng.randrange(0, 480))
            self.issue(person, person, opened, opened + timedelta(minutes=self.rng.randint(1, 9)))

    def play_redeploy(self, person: str, day: datetime, _d: int, n: int = 8) -> None:
        sha = hashlib.sha1(person.encode()).hexdigest()  # one commit, all week
        for k in range(n):
            self.deploy(person, day + timedelta(minutes=30 * k + 7), sha)

    def play_incidents(self, person: str, day: datetime, _d: int, n: int = 5) -> None:
        for k in range(n):
            self.incident(person, person, day + timedelta(minutes=45 * k + 3),
                          self.rng.uniform(0.5, 4), "low")

    def play_cheap(self, person: str, day: datetime, d: int) -> None:
        self.play_tickets(person, day, d, n=5)
        self.play_redeploy(person, day, d, n=5)
        self.play_incidents(person, day, d, n=5)

    def play_tiny(self, person: str, day: datetime, _d: int) -> None:
        for _ in range(8):
            self.pull_request(person, day + timedelta(minutes=self.rng.randrange(0, 480)),
                              self.rng.randint(1, 9), [(self.rng.choice(HONEST), 30)],
                              merged_by=person)

    def play_selfmerge(self, person: str, day: datetime, _d: int) -> None:
        for _ in range(4):
            self.pull_request(person, day + timedelta(minutes=self.rng.randrange(0, 480)),
                              self.rng.randint(40, 200), [], merged_by=person)

    def play_revert(self, person: str, day: datetime, _d: int) -> None:
        for _ in range(3):
            opened = day + timedelta(minutes=self.rng.randrange(0, 300))
            number = self.pull_request(person, opened, 120, [(self.rng.choice(HONEST), 30)],
                                       merged_by=person)
            again = opened + timedelta(hours=2)
            self.pull_request(person, again, 120, [], merged_by=person,
                              title=f'Revert "Change {number}"',
                              body=f"Reverts {REPO}#{number}")
            self.pull_request(person, again + timedelta(minutes=30), 120,
                              [(self.rng.choice(HONEST), 30)], merged_by=person)

    def play_preview(self, person: str, day: datetime, _d: int) -> None:
        for k in range(8):
            sha = hashlib.sha1(f"{person}{day}{k}".encode()).hexdigest()
            self.deploy(person, day + timedelta(minutes=40 * k + 5), sha, f"preview-{k}")

    def play_driveby(self, person: str, day: datetime, _d: int) -> None:
        for _ in range(10):
            author = self.rng.choice(HONEST)
            self.pull_request(author, day + timedelta(minutes=self.rng.randrange(0, 480)),
                              self.rng.randint(30, 300), [(person, 0.5)], state="commented")


@pytest.fixture
def org(app: App) -> App:
    app.deps.settings = replace(app.deps.settings, github_webhook_secret=GH_SECRET,
                                pagerduty_webhook_secret=PD_SECRET)
    for login in PEOPLE:
        app.deps.identities.link(slack_id(login), f"github:{login}")
        app.deps.identities.link(slack_id(login), f"pagerduty:P{login.upper()}")
    return app


def top(app: App, n: int = 10) -> list[tuple[str, float]]:
    key = app.deps.store.keys.board("points", ALL)
    rows = app.deps.store.r.zrevrange(key, 0, -1, withscores=True)
    by_slack = {slack_id(p): p for p in PEOPLE}
    return [(by_slack[m.decode()], round(s, 1)) for m, s in rows][:n]


def rescore(app: App, **changes: object) -> None:
    store = app.deps.store
    save_configuration(store, store.configs.load().model_copy(update=changes), by="U0ADMIN")
    rebuild_scores(store)


@pytest.mark.slow
def test_no_gaming_strategy_reaches_the_outcome_top_10(org: App) -> None:
    start = (datetime.now(UTC) - timedelta(days=DAYS + 1)).replace(
        hour=7, minute=0, second=0, microsecond=0)
    Org(org).week(start)

    with_rules = top(org)
    gamers_in = [p for p, _ in with_rules if p in GAMERS]
    assert gamers_in == [], with_rules
    assert sum(p in HONEST for p, _ in with_rules) >= 8

    defaults = BoardConfig()
    rescore(org, **RULES_OFF)  # the past re-ranked without the new rules
    without = top(org)
    assert sum(p in GAMERS for p, _ in without) >= 8, without
    assert {GAMERS[p] for p, _ in without[:5]} == {"cheap"}, without
    assert "ring" in {GAMERS.get(p) for p, _ in without}, without
    # self-resolved incidents alone come right after them, above every honest builder
    best_honest = next(i for i, (p, _) in enumerate(top(org, 60)) if p in HONEST)
    assert {GAMERS[p] for p, _ in top(org, best_honest)} == {"cheap", "ring", "incidents"}

    rescore(org, **{k: getattr(defaults, k) for k in RULES_OFF})  # and back, past included
    assert top(org) == with_rules
