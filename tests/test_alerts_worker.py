"""The alerts worker end to end on a real TimescaleDB, delivering through apprise to a local JSON webhook:
pending → firing after its period, repeat interval, resolved once, restart safety, mute, failed deliveries.
The evaluator is driven one cycle at a time with an explicit ``now``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import text

from alerts.conditions import annualised_pct
from alerts.delivery import backoff, send_due
from alerts.evaluator import Evaluator
from db.alerts import create_rule, validate_rule
from db.engine import make_engine
from settings import get_settings
from tests.alert_helpers import Receiver, funding_row, write_funding_rows
from tests.conftest import role_url

EXCHANGE, SYMBOL = "binanceusdm", "BTC/USDT:USDT"
RATE, HOURS, LEVEL = 0.0005, 8.0, 30.0
T0 = datetime.now(UTC).replace(microsecond=0)
STEP = timedelta(seconds=15)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def alerts_engine(clean_db, db_url):
    with clean_db.begin() as conn:
        conn.execute(text("TRUNCATE alert_rules, alert_states, alert_deliveries, alert_events"))
    eng = make_engine(role_url(db_url, "alerts"), pool_size=2)
    yield eng
    eng.dispose()


def settings_with(channels: str):
    return replace(get_settings(), alert_channels=channels, dashboard_base_url="http://dash.example")


def add_rule(engine, **fields) -> int:
    raw = {"name": "BTC funding hot", "kind": "funding_above", "params": {"level_pct_per_year": LEVEL},
           "symbols": ["BTC"], **fields}
    with engine.begin() as conn:
        return create_rule(conn, validate_rule(raw)).id


def cycle(evaluator: Evaluator, engine, now: datetime) -> tuple[int, int]:
    evaluator.run_cycle(now)
    return send_due(engine, evaluator.channels, now)


def test_pending_firing_repeat_restart_resolved(clean_db, ingest_engine, alerts_engine, receiver):
    write_funding_rows(ingest_engine, [funding_row(T0 - timedelta(minutes=1), EXCHANGE, SYMBOL, RATE, HOURS),
                                       funding_row(T0 - timedelta(minutes=1), "okx", "ETH/USDT:USDT", RATE, HOURS)])
    rule_id = add_rule(clean_db, pending_evaluations=3, repeat_minutes=10)
    settings = settings_with(f"hook={receiver.url}")
    evaluator = Evaluator(alerts_engine, settings)

    assert cycle(evaluator, alerts_engine, T0) == (0, 0)
    assert cycle(evaluator, alerts_engine, T0 + STEP) == (0, 0)
    assert receiver.posts == []
    assert cycle(evaluator, alerts_engine, T0 + 2 * STEP) == (1, 0)  # third consecutive hold: firing
    body = receiver.posts[0][1]
    value = annualised_pct(RATE, HOURS)
    assert "FIRING: BTC funding hot — BTC/USDT · binanceusdm" in body["title"]
    assert f"{value:,.4g} % per year" in body["message"] and f"≥ {LEVEL:g} % per year" in body["message"]
    link = f"http://dash.example/?symbols={quote(SYMBOL, safe='/:')}&exchanges={EXCHANGE}"
    assert link in body["message"] and "ETH" not in body["title"]

    assert cycle(evaluator, alerts_engine, T0 + timedelta(minutes=5)) == (0, 0)  # before the repeat interval
    fired_at = T0 + 2 * STEP
    assert cycle(evaluator, alerts_engine, fired_at + timedelta(minutes=10)) == (1, 0)
    assert "STILL FIRING" in receiver.posts[1][1]["title"]

    restarted = Evaluator(alerts_engine, settings)  # a new process on the same database
    assert cycle(restarted, alerts_engine, fired_at + timedelta(minutes=11)) == (0, 0)

    calm = fired_at + timedelta(minutes=12)
    write_funding_rows(ingest_engine, [funding_row(calm, EXCHANGE, SYMBOL, RATE / 10, HOURS)])
    assert cycle(restarted, alerts_engine, calm + STEP) == (1, 0)
    assert "RESOLVED: BTC funding hot" in receiver.posts[2][1]["title"]
    assert cycle(restarted, alerts_engine, calm + 2 * STEP) == (0, 0)
    assert len(receiver.posts) == 3
    with alerts_engine.connect() as conn:
        transitions = conn.execute(text("SELECT from_state, to_state FROM alert_events WHERE rule_id = :r "
                                        "ORDER BY id"), {"r": rule_id}).all()
    assert [tuple(t) for t in transitions] == [("normal", "pending"), ("pending", "firing"), ("firing", "firing"),
                                               ("firing", "resolved")]


def test_mute_suppresses_notifications_but_keeps_the_state(clean_db, ingest_engine, alerts_engine, receiver):
    write_funding_rows(ingest_engine, [funding_row(T0 - timedelta(minutes=1), EXCHANGE, SYMBOL, RATE, HOURS)])
    rule_id = add_rule(clean_db, muted_until=(T0 + timedelta(hours=1)).isoformat(), repeat_minutes=1)
    evaluator = Evaluator(alerts_engine, settings_with(f"hook={receiver.url}"))
    for n in range(3):
        assert cycle(evaluator, alerts_engine, T0 + n * timedelta(minutes=2)) == (0, 0)
    with alerts_engine.connect() as conn:
        assert conn.execute(text("SELECT state FROM alert_states WHERE rule_id = :r"), {"r": rule_id}).scalar() \
            == "firing"
        assert conn.execute(text("SELECT count(*) FROM alert_deliveries")).scalar() == 0
    assert receiver.posts == []


@pytest.mark.parametrize("failure", ["status 500", "closed port"])
def test_failed_delivery_is_retried_with_backoff_and_counted(clean_db, ingest_engine, alerts_engine, receiver,
                                                            failure):
    write_funding_rows(ingest_engine, [funding_row(T0 - timedelta(minutes=1), EXCHANGE, SYMBOL, RATE, HOURS)])
    add_rule(clean_db)
    if failure == "status 500":
        receiver.status, url = 500, receiver.url
    else:
        url = "json://127.0.0.1:9/hook"  # discard port: nothing listens
    evaluator = Evaluator(alerts_engine, settings_with(f"hook={url}"))
    with clean_db.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM system_metrics WHERE metric = 'alert_delivery_failures'"))
        before = before.scalar()
    assert cycle(evaluator, alerts_engine, T0) == (0, 1)
    assert cycle(evaluator, alerts_engine, T0 + backoff(1) - timedelta(seconds=1)) == (0, 0)  # not yet due
    assert cycle(evaluator, alerts_engine, T0 + backoff(1)) == (0, 1)  # evaluation went on; retried
    with clean_db.connect() as conn:
        row = conn.execute(text("SELECT status, attempts, next_attempt_at, last_error FROM alert_deliveries")).one()
        failures = conn.execute(text("SELECT count(*) FROM system_metrics WHERE metric = 'alert_delivery_failures'"))
        assert failures.scalar() - before == 2
    assert (row.status, row.attempts) == ("pending", 2)
    assert row.next_attempt_at == T0 + backoff(1) + backoff(2)
    assert "127.0.0.1" not in row.last_error and "json://" not in row.last_error
    receiver.status = 200
    fixed = Evaluator(alerts_engine, settings_with(f"hook={receiver.url}"))
    assert cycle(fixed, alerts_engine, row.next_attempt_at) == (1, 0)
    refused = 2 if failure == "status 500" else 0  # the receiver saw (and refused) the failed attempts too
    assert len(receiver.posts) == refused + 1 and all("FIRING" in p[1]["title"] for p in receiver.posts)
