"""The alerts JSON API (``app.alerts_api``) in-process on the real test database: rule CRUD, mute, 400s naming the
field, 404s, roles (viewers read, admins write), CSRF on cookie writes, and the states/events listing against rows
written as the owner (the worker's tables are read-only to the app)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from app import create_app, with_database
from settings import get_settings
from tests.web_helpers import PASSWORD, SECRET, add_user, create_key

RULE = {"name": "BTC moves", "kind": "price_change", "params": {"window_minutes": 15, "pct": 2.5},
        "symbols": ["BTC"], "severity": "critical", "pending_evaluations": 2}


@pytest.fixture
def alerts_db(accounts_db, engine) -> str:
    """The session database with no users, keys, alert rules, states or events."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE alert_rules, alert_states, alert_events, alert_deliveries"))
    return accounts_db


def _app(db_url, **changes):
    return create_app(replace(with_database(get_settings(), db_url), secret_key=SECRET, **changes),
                      with_dashboard=False)


def _keyed(monkeypatch, db_url, name, admin, app=None):
    """A test client sending the API key of a new user ``name`` (tier pro: 300/min, above what a test asks)."""
    add_user(monkeypatch, db_url, name, admin=admin)
    _, key = create_key(monkeypatch, db_url, name, "pro")
    client = (app or _app(db_url)).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


def test_rule_create_edit_mute_delete(monkeypatch, alerts_db, engine):
    client = _keyed(monkeypatch, alerts_db, "ann", admin=True)
    created = client.post("/api/alerts/rules", json=RULE)
    assert created.status_code == 201
    rule = created.get_json()
    assert {k: rule[k] for k in RULE} == RULE and rule["muted_until"] is None and rule["enabled"] is True
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT name, kind, params, symbols FROM alert_rules WHERE id = :i"),
                              {"i": rule["id"]}).mappings().one()
    assert dict(stored) == {k: RULE[k] for k in ("name", "kind", "params", "symbols")}
    assert [r["id"] for r in client.get("/api/alerts/rules").get_json()["data"]] == [rule["id"]]
    assert client.get(f"/api/alerts/rules/{rule['id']}").get_json() == rule

    edited = client.patch(f"/api/alerts/rules/{rule['id']}", json={"severity": "info", "repeat_minutes": 30})
    assert edited.status_code == 200
    body = edited.get_json()
    assert (body["severity"], body["repeat_minutes"]) == ("info", 30)
    assert {k: body[k] for k in ("name", "kind", "params", "symbols")} == {k: rule[k] for k in
                                                                          ("name", "kind", "params", "symbols")}
    before = datetime.now(UTC)
    muted = client.post(f"/api/alerts/rules/{rule['id']}/mute", json={"minutes": 90}).get_json()
    until = datetime.fromisoformat(muted["muted_until"])
    assert before + timedelta(minutes=90) <= until <= datetime.now(UTC) + timedelta(minutes=90)
    until_text = "2030-01-02T03:04:05+02:00"
    muted = client.post(f"/api/alerts/rules/{rule['id']}/mute", json={"until": until_text}).get_json()
    assert datetime.fromisoformat(muted["muted_until"]) == datetime.fromisoformat(until_text)
    assert client.post(f"/api/alerts/rules/{rule['id']}/mute", json={"until": None}).get_json()["muted_until"] is None

    assert client.delete(f"/api/alerts/rules/{rule['id']}").status_code == 204
    assert client.get(f"/api/alerts/rules/{rule['id']}").status_code == 404
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alert_rules")).scalar() == 0


BAD_RULES = [
    ("name", {"name": ""}),
    ("kind", {"kind": "funding_sideways"}),
    ("params", {"params": [1, 2]}),
    ("params.pct", {"params": {"window_minutes": 15, "pct": -1}}),
    ("params.window_minutes", {"params": {"window_minutes": 5000, "pct": 1}}),
    ("params.speed", {"params": {"window_minutes": 15, "pct": 1, "speed": 3}}),
    ("params.metric", {"kind": "anomaly_z", "params": {"metric": "mood", "min_abs_z": 4}}),
    ("exchanges", {"exchanges": "binance"}),
    ("symbols", {"symbols": ["NOT A SYMBOL/"]}),
    ("pending_evaluations", {"pending_evaluations": 0}),
    ("repeat_minutes", {"repeat_minutes": 2.5}),
    ("severity", {"severity": "loud"}),
    ("muted_until", {"muted_until": "tomorrow"}),
    ("channels", {"channels": ["nowhere"]}),
    ("enabled", {"enabled": "yes"}),
    ("colour", {"colour": "red"}),
]


@pytest.mark.parametrize(("field", "change"), BAD_RULES, ids=[f for f, _ in BAD_RULES])
def test_bad_rule_fields_get_400_naming_the_field(monkeypatch, alerts_db, field, change):
    client = _keyed(monkeypatch, alerts_db, "ann", admin=True)
    bad = client.post("/api/alerts/rules", json={**RULE, **change})
    assert bad.status_code == 400 and bad.get_json()["parameter"] == field
    rule_id = client.post("/api/alerts/rules", json=RULE).get_json()["id"]
    patched = client.patch(f"/api/alerts/rules/{rule_id}", json=change)
    assert patched.status_code == 400 and patched.get_json()["parameter"] == field
    assert client.get(f"/api/alerts/rules/{rule_id}").get_json()["severity"] == RULE["severity"]  # unchanged


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/alerts/rules", "not json", "body"),
    ("/api/alerts/rules/{id}/mute", {"minutes": 0}, "minutes"),
    ("/api/alerts/rules/{id}/mute", {"minutes": True}, "minutes"),
    ("/api/alerts/rules/{id}/mute", {"until": "2030-01-01T00:00:00"}, "until"),
    ("/api/alerts/rules/{id}/mute", {"until": 5}, "until"),
    ("/api/alerts/rules/{id}/mute", {"until": None, "minutes": 5}, "until"),
])  # fmt: skip
def test_bad_bodies_and_mutes_get_400(monkeypatch, alerts_db, path, body, field):
    client = _keyed(monkeypatch, alerts_db, "ann", admin=True)
    rule_id = client.post("/api/alerts/rules", json=RULE).get_json()["id"]
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    bad = client.post(path.format(id=rule_id), **kwargs)
    assert bad.status_code == 400 and bad.get_json()["parameter"] == field


@pytest.mark.parametrize("query", ["state=normal", "severity=loud", "limit=0", "limit=x", "since=yesterday",
                                   "colour=red"])
def test_bad_alert_filters_get_400(monkeypatch, alerts_db, query):
    client = _keyed(monkeypatch, alerts_db, "ann", admin=False)
    bad = client.get(f"/api/alerts?{query}")
    assert bad.status_code == 400 and bad.get_json()["parameter"] == query.split("=")[0]


def test_unknown_rule_ids_get_json_404(monkeypatch, alerts_db):
    client = _keyed(monkeypatch, alerts_db, "ann", admin=True)
    rule_id = client.post("/api/alerts/rules", json=RULE).get_json()["id"]
    for missing in (str(rule_id + 1), "abc", "99999999999999999999999"):
        path = f"/api/alerts/rules/{missing}"
        answers = [client.get(path), client.patch(path, json={"severity": "info"}), client.delete(path),
                   client.post(f"{path}/mute", json={"minutes": 5})]
        assert [(a.status_code, a.get_json()["parameter"]) for a in answers] == [(404, "id")] * 4


def _session(app, name):
    client = app.test_client()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      client.get("/login").get_data(as_text=True)).group(1)
    signed = client.post("/login", data={"csrf_token": token, "name": name, "password": PASSWORD})
    assert signed.status_code == 302
    return client, token


def test_roles_sign_in_and_csrf(monkeypatch, alerts_db):
    add_user(monkeypatch, alerts_db, "ann", admin=True)
    app = _app(alerts_db, auth_mode="required")
    viewer_key = _keyed(monkeypatch, alerts_db, "vic", admin=False, app=app)
    anonymous = app.test_client()
    assert anonymous.get("/api/alerts/rules").status_code == 401
    assert anonymous.get("/api/alerts").status_code == 401
    assert anonymous.post("/api/alerts/rules", json=RULE).status_code in (401, 403)
    assert viewer_key.get("/api/alerts/rules").status_code == 200
    assert viewer_key.post("/api/alerts/rules", json=RULE).status_code == 403  # viewers read only

    viewer, viewer_token = _session(app, "vic")
    assert viewer.get("/api/alerts").status_code == 200
    assert viewer.post("/api/alerts/rules", json=RULE, headers={"X-CSRFToken": viewer_token}).status_code == 403
    admin, token = _session(app, "ann")
    refused = admin.post("/api/alerts/rules", json=RULE)  # a cookie session without the token: CSRF
    assert refused.status_code == 403 and "CSRF" in refused.get_json()["error"]
    created = admin.post("/api/alerts/rules", json=RULE, headers={"X-CSRFToken": token})
    assert created.status_code == 201
    path = f"/api/alerts/rules/{created.get_json()['id']}"
    assert admin.delete(path).status_code == 403  # no token
    assert viewer_key.delete(path).status_code == 403
    assert admin.delete(path, headers={"X-CSRFToken": token}).status_code == 204


def test_alerts_lists_states_and_events_written_by_the_worker(monkeypatch, alerts_db, engine):
    client = _keyed(monkeypatch, alerts_db, "ann", admin=False)
    admin = _keyed(monkeypatch, alerts_db, "bob", admin=True)
    ids = {sev: admin.post("/api/alerts/rules", json={**RULE, "name": f"{sev} rule", "severity": sev}).get_json()["id"]
           for sev in ("info", "critical")}
    now = datetime.now(UTC).replace(microsecond=0)
    states = [(ids["critical"], "binance|BTC/USDT:USDT", "firing", 3.5), (ids["info"], "coin|ETH", "pending", 1.2),
              (ids["info"], "okx|ETH/USDT:USDT", "normal", 0.1)]
    events = [(ids["critical"], "binance|BTC/USDT:USDT", now - timedelta(minutes=m), "pending", "firing", m)
              for m in (1, 30, 90)]
    with engine.begin() as conn:  # as the owner: the worker's tables are read-only to the app
        for rid, subject, state, value in states:
            conn.execute(text("INSERT INTO alert_states (rule_id, subject, state, pending_count, since, last_value) "
                              "VALUES (:r, :s, :st, 1, :t, :v)"), {"r": rid, "s": subject, "st": state, "t": now,
                                                                    "v": value})
        for rid, subject, time, frm, to, value in events:
            conn.execute(text("INSERT INTO alert_events (rule_id, subject, time, from_state, to_state, value, message)"
                              " VALUES (:r, :s, :t, :f, :to, :v, 'm')"),
                         {"r": rid, "s": subject, "t": time, "f": frm, "to": to, "v": value})
    body = client.get("/api/alerts").get_json()
    assert [(s["rule_id"], s["subject"], s["state"], s["last_value"]) for s in body["states"]] == [
        s for s in states if s[2] != "normal"]  # firing first
    assert [e["value"] for e in body["events"]] == sorted(e[5] for e in events)  # newest first
    since = now - timedelta(hours=1)
    recent = client.get(f"/api/alerts?since={since:%Y-%m-%dT%H:%M:%SZ}&state=firing&limit=1").get_json()
    assert [s["state"] for s in recent["states"]] == ["firing"]
    assert [e["value"] for e in recent["events"]] == [min(e[5] for e in events if e[2] >= since)]
    info = client.get("/api/alerts?severity=info").get_json()
    assert [s["rule_id"] for s in info["states"]] == [ids["info"]] and info["events"] == []
