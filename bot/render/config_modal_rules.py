"""The configuration page of the rules against cheap outcomes (`bot.core.outcome_rules`),
pushed on top of the main modal: Block Kit out, validated settings back. Pure.

Block ids are the setting names (`review_quick_minutes`, `deploy_environments`, …); every
input's action id is `value`. Thresholds are chosen from their ladders (so a change can
re-rank the past exactly); fractions are typed, 0 to 1.
"""

from __future__ import annotations

import json
import math

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.core.config import BoardConfig
from bot.core.outcome_rules import ladder_choices

RULES_CALLBACK = "config_rules"
RULES_ACTION = "config_open_rules"
# (section title, [(setting, label)]) in the order shown
SECTIONS: list[tuple[str, list[tuple[str, str]]]] = [
    ("Reviews that are reviews", [
        ("review_quick_minutes", "A review given within this many minutes of the pull "
                                 "request's opening or last push is quick"),
        ("review_quick_fraction", "A quick review counts as (0–1)"),
        ("pr_quick_approval_fraction", "A merge approved only by quick reviews counts as "
                                       "(0–1)"),
        ("review_tiny_lines", "A review of a pull request with fewer changed lines than "
                              "this is tiny"),
        ("review_tiny_fraction", "A tiny review counts as (0–1)"),
        ("review_pair_cap", "Reviews of one author by one reviewer that count per week "
                            "(0 = no cap)"),
        ("review_reciprocal_min", "Reviews traded both ways in a week before they are "
                                  "discounted (0 = off)"),
        ("review_reciprocal_fraction", "A traded review past that counts as (0–1)"),
    ]),
    ("Tickets that were work", [
        ("ticket_self_quick_minutes", "An issue closed by its opener within this many "
                                      "minutes is self-made"),
        ("ticket_self_quick_fraction", "A self-made ticket counts as (0–1)"),
        ("ticket_unlinked_fraction", "A ticket no merged pull request closes counts as "
                                     "(0–1)"),
    ]),
    ("Deploys that shipped something", [
        ("deploy_environments", "Production environments besides those the source marks "
                                "production (comma-separated names)"),
        ("deploy_nonprod_fraction", "A deploy elsewhere counts as (0–1)"),
        ("deploy_redeploy_fraction", "A redeploy of the same commit to the same "
                                     "environment counts as (0–1)"),
    ]),
    ("Incidents that were incidents", [
        ("incident_self_fraction", "Resolved by whoever triggered it counts as (0–1)"),
        ("incident_quick_minutes", "An incident resolved within this many minutes is "
                                   "quick"),
        ("incident_quick_fraction", "A quick incident counts as (0–1)"),
        ("incident_low_urgency_fraction", "A low-urgency incident counts as (0–1)"),
    ]),
    ("Counterweights", [
        ("counterweight_failed_deploy", "Share of a merge taken back when its commit "
                                        "fails to deploy (0–1)"),
        ("counterweight_incident", "Share of a merge taken back when an incident names it "
                                   "(0–1)"),
    ]),
]
THRESHOLDS = ("review_quick_minutes", "review_tiny_lines", "review_pair_cap",
              "review_reciprocal_min", "ticket_self_quick_minutes", "incident_quick_minutes")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _input(config: BoardConfig, name: str, label: str) -> InputBlock:
    value = getattr(config, name)
    if name in THRESHOLDS:
        unit = ("minutes" if name.endswith("minutes") else "lines" if name.endswith("lines")
                else "reviews")
        options = [Option(value=str(v), label=f"{v} {unit}" if v else "0 (off)")
                   for v in ladder_choices(name)]
        return InputBlock(block_id=name, label=label, element=StaticSelectElement(
            action_id="value", options=options,
            initial_option=next(o for o in options if o.value == str(value))))
    if name == "deploy_environments":
        return InputBlock(block_id=name, label=label, optional=True,
                          element=PlainTextInputElement(
                              action_id="value", max_length=1000,
                              initial_value=", ".join(value) or None))
    return InputBlock(block_id=name, label=label, element=PlainTextInputElement(
        action_id="value", max_length=6, initial_value=_num(value)))


def rules_view(config: BoardConfig, version: int = -1) -> dict:
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(
        text="Outcomes that are cheap to make count as a fraction (several rules on one "
             "outcome multiply). Every change applies to the past too: saving rescores the "
             "retained days, and people see in `/leaderboard me` what was discounted and "
             "why."))]
    for title, fields in SECTIONS:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"*{title}*")))
        blocks += [_input(config, name, label[:2000]) for name, label in fields]
    blocks.append(ContextBlock(elements=[MarkdownTextObject(
        text="Thresholds are chosen from fixed steps so the past can be rescored exactly.")]))
    return View(type="modal", callback_id=RULES_CALLBACK, title="Rules against gaming",
                submit="Save", close="Back", blocks=blocks,
                private_metadata=json.dumps({"page": "rules", "version": version})).to_dict()


def _submitted(values: dict, name: str) -> str | None:
    element = (values.get(name) or {}).get("value") or {}
    if element.get("type") == "static_select":
        option = element.get("selected_option")
        return option["value"] if option else None
    return (element.get("value") or "").strip() if name in values else None


def parse_rules(values: dict, config: BoardConfig) -> tuple[BoardConfig, dict[str, str]]:
    """The settings the page asks for, laid over `config`, and {block_id: error}."""
    errors: dict[str, str] = {}
    update: dict[str, object] = {}
    for _title, fields in SECTIONS:
        for name, _label in fields:
            text = _submitted(values, name)
            if text is None:
                continue
            if name == "deploy_environments":
                update[name] = [e.strip() for e in text.split(",") if e.strip()]
                continue
            if name in THRESHOLDS:
                if not text.isdigit() or int(text) not in ladder_choices(name):
                    errors[name] = "Choose one of the listed values."
                else:
                    update[name] = int(text)
                continue
            try:
                number = float(text)
                if not math.isfinite(number) or not 0 <= number <= 1:
                    raise ValueError
            except ValueError:
                errors[name] = "A fraction from 0 to 1, e.g. 0.5."
                continue
            update[name] = number
    try:
        new = BoardConfig.model_validate({**config.model_dump(), **update})
    except ValueError as exc:  # an environment name without a letter or digit
        errors.setdefault("deploy_environments", str(exc).splitlines()[-1][:150])
        new = config
    return new, errors
