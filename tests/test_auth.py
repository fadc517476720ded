"""Sign-in, roles, CSRF, security headers and start-up rules of the web app, in-process on a real database.

Users and keys are made through the real CLI (``python -m app.users``, run in-process); what is stored is read
back with SQL. Over real HTTP (gunicorn): the app refuses to start on a non-loopback address without a secret or
users, and requires sign-in there.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.request
from dataclasses import replace

import pytest
from sqlalchemy import text

from app import create_app, with_database
from app.auth import StartupError
from settings import get_settings
from settings.auth import is_loopback
from tests.web_helpers import PASSWORD, SECRET, add_user, cli, create_key, gunicorn


def _settings(db_url, **changes):
    return replace(with_database(get_settings(), db_url), secret_key=SECRET, **changes)


def _signed_in(app, name, password=PASSWORD):
    client = app.test_client()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    response = client.post("/login?next=/system", data={"csrf_token": token, "name": name, "password": password})
    return client, response


def test_passwords_and_keys_are_never_stored_in_clear(monkeypatch, accounts_db, engine):
    add_user(monkeypatch, accounts_db, "Alice", admin=True)
    key_id, key = create_key(monkeypatch, accounts_db, "alice", "pro")
    with engine.connect() as conn:
        user = conn.execute(text("SELECT * FROM users")).mappings().one()
        stored_key = conn.execute(text("SELECT * FROM api_keys")).mappings().one()
        dump = conn.execute(text("SELECT (SELECT json_agg(u)::text FROM users u) || "
                                 "(SELECT json_agg(k)::text FROM api_keys k)")).scalar()  # fmt: skip
    assert user["name"] == "alice" and user["role"] == "admin" and user["password_hash"].startswith("scrypt:")
    assert PASSWORD not in dump and key not in dump and key[10:] not in dump
    assert stored_key["key_hash"] == hashlib.sha256(key.encode()).hexdigest() and stored_key["id"] == key_id
    assert stored_key["prefix"] == key[:10] and stored_key["tier"] == "pro" and key.startswith("ap_")
    assert cli(monkeypatch, accounts_db, "add", "bob", stdin="short\n")[0] == 1  # too short: refused
    assert cli(monkeypatch, accounts_db, "add", "alice", stdin=PASSWORD + "\n")[0] == 1  # exists


def test_sign_in_page_sessions_and_sign_out(monkeypatch, accounts_db, engine):
    add_user(monkeypatch, accounts_db, "viewer1")
    app = create_app(_settings(accounts_db, auth_mode="required", secure_cookies="auto"), with_dashboard=False)
    anonymous = app.test_client()
    page = anonymous.get("/system?range=7d")
    assert page.status_code == 302 and page.headers["Location"] == "/login?next=/system%3Frange%3D7d"
    api = anonymous.get("/api/symbols")
    assert api.status_code == 401 and api.get_json()["status"] == 401 and "Bearer" in api.headers["WWW-Authenticate"]
    assert anonymous.get("/api/health").status_code != 401  # open for load balancers
    _, wrong = _signed_in(app, "viewer1", "not the password")
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.get_data(as_text=True)
    client, ok = _signed_in(app, "viewer1")
    assert ok.status_code == 302 and ok.headers["Location"] == "/system"
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie  # required -> Secure cookies
    assert client.get("/api/symbols").status_code == 200
    assert client.get("/admin").status_code == 403  # viewers are not admins
    with engine.connect() as conn:
        assert conn.execute(text("SELECT last_signin_at FROM users WHERE name = 'viewer1'")).scalar() is not None
    assert client.post("/logout").status_code == 403  # no CSRF token
    token = _csrf_of(client)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/api/symbols").status_code == 401


def _csrf_of(client) -> str:
    page = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def test_changing_a_password_signs_out_other_sessions(monkeypatch, accounts_db):
    add_user(monkeypatch, accounts_db, "carol")
    app = create_app(_settings(accounts_db, auth_mode="required"), with_dashboard=False)
    client, _ = _signed_in(app, "carol")
    assert client.get("/api/symbols").status_code == 200
    assert cli(monkeypatch, accounts_db, "password", "carol", stdin="another long password\n")[0] == 0
    assert client.get("/api/symbols").status_code == 401


def test_failed_sign_ins_are_limited_per_user_and_per_address(monkeypatch, accounts_db):
    add_user(monkeypatch, accounts_db, "dave")
    add_user(monkeypatch, accounts_db, "erin")
    app = create_app(_settings(accounts_db, auth_mode="required", signin_failure_limit="3 per 15 minutes"),
                     with_dashboard=False)  # fmt: skip
    assert [_signed_in(app, "dave", "wrong password!")[1].status_code for _ in range(3)] == [401, 401, 401]
    blocked = _signed_in(app, "dave")[1]  # the right password no longer helps
    assert blocked.status_code == 429 and 0 < int(blocked.headers["Retry-After"]) <= 900
    assert _signed_in(app, "erin")[1].status_code == 429  # same address: blocked too
    other_address = app.test_client()
    other_address.environ_base["REMOTE_ADDR"] = "127.0.0.9"
    token = re.search(r'value="([^"]+)"', other_address.get("/login").get_data(as_text=True)).group(1)
    erin = other_address.post("/login", data={"csrf_token": token, "name": "erin", "password": PASSWORD})
    assert erin.status_code == 302
    dave = other_address.post("/login", data={"csrf_token": token, "name": "dave", "password": PASSWORD})
    assert dave.status_code == 429  # dave's own limit holds from any address


def test_dash_callbacks_need_the_csrf_token_of_the_page(monkeypatch, accounts_db):
    app = create_app(_settings(accounts_db), with_dashboard=True)  # loopback: sign-in off, CSRF still on
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 200
    token = client.get_cookie("_csrf_token")
    assert token is not None and not token.http_only and token.same_site == "Strict"
    body = {
        "output": "view-query.data",
        "outputs": {"id": "view-query", "property": "data"},
        "inputs": [{"id": "url", "property": "search", "value": ""}],
        "changedPropIds": [],
        "state": [],
    }
    refused = client.post("/_dash-update-component", json=body)
    assert refused.status_code == 403 and "CSRF" in refused.get_json()["error"]
    passed = client.post("/_dash-update-component", json=body, headers={"X-CSRFToken": token.value})
    assert passed.status_code != 403


def test_security_headers_and_json_404_for_unknown_api_paths(accounts_db):
    client = create_app(_settings(accounts_db), with_dashboard=True).test_client()
    page = client.get("/")
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self' 'sha256-" in csp and "object-src 'none'" in csp
    for response in (page, client.get("/api/symbols")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin" and response.headers["X-Frame-Options"] == "DENY"
    for path in ("/api/nothing-here", "/api/", "/api/v2/prices"):
        missing = client.get(path)
        assert missing.status_code == 404 and missing.mimetype == "application/json", path
        assert missing.get_json()["status"] == 404
    assert client.get("/anomalies").status_code == 200  # pages still served by Dash


def test_start_up_rules(monkeypatch, accounts_db):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("10.1.2.3")
    exposed = _settings(accounts_db, dashboard_host="0.0.0.0")
    with pytest.raises(StartupError, match="ALPHAPULSE_SECRET_KEY is not set"):
        create_app(replace(exposed, secret_key=""), with_dashboard=False)
    with pytest.raises(StartupError, match="no user exists"):
        create_app(exposed, with_dashboard=False)
    with pytest.raises(StartupError, match="only on a loopback address"):
        create_app(replace(exposed, auth_mode="off"), with_dashboard=False)
    add_user(monkeypatch, accounts_db, "frank", admin=True)
    client = create_app(exposed, with_dashboard=False).test_client()
    assert client.get("/").status_code == 302 and client.get("/metrics").status_code == 401


def test_gunicorn_on_a_non_loopback_address(monkeypatch, accounts_db, tmp_path):
    """Refuses at once without a secret or users (before binding); with both, everything but /api/health and
    the sign-in page needs sign-in. The app binds every address (0.0.0.0); requests go to 127.0.0.1 only."""
    env = {"DATABASE_URL": accounts_db, "ALPHAPULSE_HOST": "0.0.0.0", "ALPHAPULSE_SECRET_KEY": ""}
    with pytest.raises(RuntimeError, match="ALPHAPULSE_SECRET_KEY is not set"), gunicorn(env, tmp_path / "a.log"):
        pass
    env["ALPHAPULSE_SECRET_KEY"] = SECRET
    with pytest.raises(RuntimeError, match="no user exists"), gunicorn(env, tmp_path / "b.log"):
        pass
    assert "Listening at" not in (tmp_path / "b.log").read_text()
    add_user(monkeypatch, accounts_db, "grace")
    with gunicorn(env, tmp_path / "c.log") as base:
        no_redirect = urllib.request.build_opener(_NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as page:
            no_redirect.open(base + "/", timeout=10)
        assert page.value.code == 302 and page.value.headers["Location"].startswith("/login")
        for path in ("/api/symbols", "/metrics", "/_dash-layout"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(base + path, timeout=10)
            assert refused.value.code == 401 and json.loads(refused.value.read())["status"] == 401
        assert urllib.request.urlopen(base + "/login", timeout=10).status == 200


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
