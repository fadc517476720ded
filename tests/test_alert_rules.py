"""Alert rules: validation (``db.alerts.validate_rule``) and CRUD on a real database as the app role, which owns
``alert_rules``; the alerts role reads them and may not write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from db.alerts import (
    KINDS,
    RuleError,
    create_rule,
    delete_rule,
    get_rule,
    list_rules,
    set_muted,
    update_rule,
    validate_rule,
)
from db.engine import make_engine
from tests.conftest import role_url

GOOD_PARAMS = {
    "funding_above": {"level_pct_per_year": 30},
    "funding_below": {"level_pct_per_year": -10.5},
    "funding_spread": {"level_pct_per_year": 20},
    "anomaly_z": {"metric": "premium", "min_abs_z": 8},
    "price_change": {"window_minutes": 15, "pct": 2.5},
    "premium": {"level_bp": 50},
    "feed_stale": {"multiple": 3},
}


def rule_dict(kind: str = "price_change", **extra) -> dict:
    return {"name": f"{kind} rule", "kind": kind, "params": dict(GOOD_PARAMS[kind]), **extra}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_validates_with_defaults(kind):
    rule = validate_rule(rule_dict(kind))
    assert rule.kind == kind and rule.params.keys() == GOOD_PARAMS[kind].keys()
    assert (rule.pending_evaluations, rule.repeat_minutes, rule.severity, rule.enabled) == (1, None, "warning", True)
    assert rule.exchanges is None and rule.symbols is None and rule.channels is None


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"kind": "nope"}, "kind"),
        ({"name": " "}, "name"),
        ({"params": {"window_minutes": 0, "pct": 1}}, "params.window_minutes"),
        ({"params": {"window_minutes": 1441, "pct": 1}}, "params.window_minutes"),
        ({"params": {"window_minutes": 1.5, "pct": 1}}, "params.window_minutes"),
        ({"params": {"window_minutes": 5, "pct": 0}}, "params.pct"),
        ({"params": {"window_minutes": 5, "pct": float("nan")}}, "params.pct"),
        ({"params": {"window_minutes": 5, "pct": "2"}}, "params.pct"),
        ({"params": {"window_minutes": 5, "pct": 1, "x": 1}}, "params.x"),
        ({"params": [1]}, "params"),
        ({"symbols": []}, "symbols"),
        ({"symbols": ["BTC/USD:BTC"]}, "symbols"),
        ({"exchanges": "okx"}, "exchanges"),
        ({"pending_evaluations": 0}, "pending_evaluations"),
        ({"repeat_minutes": 0}, "repeat_minutes"),
        ({"severity": "loud"}, "severity"),
        ({"muted_until": "2026-01-01T00:00:00"}, "muted_until"),
        ({"enabled": "yes"}, "enabled"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_fields_are_named(patch, field):
    with pytest.raises(RuleError) as info:
        validate_rule({**rule_dict(), **patch})
    assert info.value.field == field and info.value.message


def test_anomaly_metric_must_be_stored_and_feed_multiple_at_least_one():
    with pytest.raises(RuleError, match="params.metric"):
        validate_rule(rule_dict("anomaly_z", params={"metric": "volume", "min_abs_z": 5}))
    with pytest.raises(RuleError, match="params.multiple"):
        validate_rule(rule_dict("feed_stale", params={"multiple": 0.5}))


def test_symbols_normalised_coins_kept_and_channels_checked():
    rule = validate_rule(rule_dict(symbols=["btc", "ETHUSDT", "SOL/USDT"], channels=["desk"]), channels=["desk"])
    assert rule.symbols == ("BTC", "ETH/USDT:USDT", "SOL/USDT:USDT")
    with pytest.raises(RuleError, match="channels") as info:
        validate_rule(rule_dict(channels=["desk", "pager"]), channels=["desk"])
    assert "pager" in info.value.message


@pytest.fixture
def app_engine(db_url, engine):
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE alert_rules"))
    eng = make_engine(role_url(db_url, "app"), pool_size=1)
    yield eng
    eng.dispose()


def test_crud_as_the_app_role(app_engine):
    wanted = validate_rule(rule_dict(exchanges=["okx"], symbols=["BTC"], repeat_minutes=30, channels=["desk"]))
    with app_engine.begin() as conn:
        stored = create_rule(conn, wanted)
    assert stored.id is not None and stored.created_at is not None
    assert {**stored.to_dict(), "id": None, "created_at": None, "updated_at": None} == wanted.to_dict()
    with app_engine.begin() as conn:
        assert get_rule(conn, stored.id) == stored
        changed = validate_rule({**wanted.to_dict(), "name": "renamed", "enabled": False})
        updated = update_rule(conn, stored.id, changed)
        assert updated.name == "renamed" and not updated.enabled and updated.updated_at >= stored.updated_at
        assert [r.id for r in list_rules(conn)] == [stored.id] and list_rules(conn, enabled_only=True) == []
        assert update_rule(conn, stored.id + 1000, changed) is None


def test_mute_and_delete(app_engine):
    with app_engine.begin() as conn:
        stored = create_rule(conn, validate_rule(rule_dict()))
        until = datetime.now(UTC) + timedelta(hours=1)
        assert set_muted(conn, stored.id, until).muted_until == until
        assert set_muted(conn, stored.id, None).muted_until is None
        with pytest.raises(RuleError, match="muted_until"):
            set_muted(conn, stored.id, datetime(2026, 1, 1))
    with app_engine.begin() as conn:
        assert delete_rule(conn, stored.id) and get_rule(conn, stored.id) is None
        assert not delete_rule(conn, stored.id) and set_muted(conn, stored.id, None) is None


def test_the_alerts_role_reads_rules_and_cannot_write_them(app_engine, db_url):
    with app_engine.begin() as conn:
        stored = create_rule(conn, validate_rule(rule_dict()))
    alerts = make_engine(role_url(db_url, "alerts"), pool_size=1)
    try:
        with alerts.connect() as conn:
            assert get_rule(conn, stored.id) == stored
        with pytest.raises(DBAPIError, match="permission denied"), alerts.begin() as conn:
            delete_rule(conn, stored.id)
    finally:
        alerts.dispose()
