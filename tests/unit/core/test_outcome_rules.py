"""bot.core.outcome_rules: the rules against cheap outcomes are validated and described."""

from __future__ import annotations

import pytest

from bot.core.config import BoardConfig, describe_changes
from bot.intake.scoring import ConfigInvalid, validate_config


def test_rules_are_validated_and_described() -> None:
    with pytest.raises(ConfigInvalid) as err:
        validate_config({"review_quick_minutes": 7, "deploy_nonprod_fraction": 2})
    assert set(err.value.problems) == {"review_quick_minutes", "deploy_nonprod_fraction"}
    assert "0 (off), 1, 2, 3, 5, 10" in err.value.problems["review_quick_minutes"]
    new = BoardConfig(review_quick_minutes=10, deploy_environments=["Production EU"])
    assert new.deploy_environments == ["production_eu"]
    assert describe_changes(BoardConfig(), new) == [
        "review quick minutes 5 → 10", "deploy environments production, prod, live → "
        "production_eu"]
