"""Admin page (``/admin``, admins only): API keys (create, shown once; revoke), their usage per UTC day, users.

The gate refuses ``/admin`` to non-admins, but Dash renders pages through its callback endpoint too, so the
layout and every callback check the role again (:func:`app.auth.require_role`). Keys are created and revoked in
the primary database (``app.auth.keys``); usage comes from ``api_key_usage`` (written every few seconds by each
worker, :mod:`app.limits`). Users are added with ``python -m app.users add NAME [--admin]``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dash
import dash_bootstrap_components as dbc
import flask
import pandas as pd
from dash import Input, Output, State, callback, dcc, html
from dash.exceptions import PreventUpdate
from sqlalchemy.exc import SQLAlchemyError

from app import inputs
from app.auth import accounts_connection, current_identity, require_role
from app.auth.keys import issue_key, revoke
from app.components import error_alert, grid
from app.format import utc
from db import accounts

dash.register_page(__name__, path="/admin", name="Admin", title="AlphaPulse · Admin", order=9)

P = "admin"
#: Days of usage shown per key.
USAGE_DAYS = 14
KEY_COLUMNS = (
    ("id", "Id"),
    ("prefix", "Key starts with"),
    ("label", "Label"),
    ("tier", "Tier"),
    ("user_name", "Owner"),
    ("created", "Created (UTC)"),
    ("revoked", "Revoked (UTC)"),
    ("today", "Requests today"),
    ("limited_today", "Refused today (429)"),
    ("total", "Requests, all days"),
)
USAGE_COLUMNS = (
    ("day", "Day (UTC)"),
    ("prefix", "Key"),
    ("label", "Label"),
    ("requests", "Requests"),
    ("limited", "Refused (429)"),
)
USER_COLUMNS = (("name", "User"), ("role", "Role"), ("created", "Created (UTC)"), ("last_signin", "Last sign-in (UTC)"))


def _stamp(value) -> str:
    return utc(value) if value is not None and pd.notna(value) else ""


def layout(**_query) -> html.Div:
    """The page for admins; a refusal for anybody else."""
    ident = current_identity() if flask.has_request_context() else None
    if ident is None or not ident.is_admin:
        return html.Div(dbc.Alert("The Admin page needs the admin role.", color="warning"), className="ap-page")
    owner = ident.name if ident.kind == "user" else None
    form = dbc.Row([
        dbc.Col(dbc.Input(id=f"{P}-label", placeholder="what the key is for", maxLength=80), md=4),
        dbc.Col(dbc.Select(id=f"{P}-tier", options=[{"label": t, "value": t} for t in accounts.TIERS],
                           value="free"), md=2),
        dbc.Col(dbc.Select(id=f"{P}-owner", value=owner, placeholder="owner"), md=3),
        dbc.Col(dbc.Button("Create key", id=f"{P}-create", color="dark"), md=3),
    ], className="g-2 mb-2")  # fmt: skip
    revoke_row = dbc.Row([
        dbc.Col(dbc.Select(id=f"{P}-revoke-key", placeholder="key to revoke"), md=6),
        dbc.Col(dbc.Button("Revoke key", id=f"{P}-revoke", color="danger", outline=True), md=3),
    ], className="g-2 my-2")  # fmt: skip
    return html.Div([
        html.H1("Admin", className="ap-title"),
        html.H2("New API key", className="ap-h2"), form, html.Div(id=f"{P}-created"),
        html.H2("API keys", className="ap-h2"), grid(f"{P}-keys", KEY_COLUMNS, height=300),
        revoke_row, html.Div(id=f"{P}-revoked"),
        html.H2(f"Usage per key and UTC day (last {USAGE_DAYS} days)", className="ap-h2"),
        grid(f"{P}-usage", USAGE_COLUMNS, height=300),
        html.H2("Users", className="ap-h2"),
        html.P("Add users with: python -m app.users add NAME [--admin]", className="text-muted small"),
        grid(f"{P}-users", USER_COLUMNS, height=220),
        dcc.Store(id=f"{P}-version", data=0),
    ], className="ap-page")  # fmt: skip


@callback(
    Output(f"{P}-created", "children"),
    Output(f"{P}-version", "data", allow_duplicate=True),
    Input(f"{P}-create", "n_clicks"),
    State(f"{P}-label", "value"),
    State(f"{P}-tier", "value"),
    State(f"{P}-owner", "value"),
    State(f"{P}-version", "data"),
    prevent_initial_call=True,
)
def _create(clicks, label, tier, owner, version):
    if not inputs.number(clicks, "admin-create.n_clicks", 0, 1e9):
        raise PreventUpdate
    require_role("admin")
    label, tier, owner = (
        inputs.text(v, f"admin-{n}.value") for v, n in ((label, "label"), (tier, "tier"), (owner, "owner"))
    )
    version = int(inputs.number(version, "admin-version.data", 0, 1e9, default=0))
    try:
        with accounts_connection() as conn:
            key, key_id = issue_key(conn, owner or "", label or "", tier or "")
    except ValueError as exc:
        return dbc.Alert(str(exc), color="warning"), dash.no_update
    except SQLAlchemyError as exc:
        return error_alert("Database", exc), dash.no_update
    shown = dbc.Alert([
        html.Div(f"Key {key_id} ({tier}) for {owner}: copy it now, it is not stored and will not be shown again."),
        html.Code(key, id=f"{P}-new-key", className="user-select-all"),
    ], color="success")  # fmt: skip
    return shown, (version or 0) + 1


@callback(
    Output(f"{P}-revoked", "children"),
    Output(f"{P}-version", "data", allow_duplicate=True),
    Input(f"{P}-revoke", "n_clicks"),
    State(f"{P}-revoke-key", "value"),
    State(f"{P}-version", "data"),
    prevent_initial_call=True,
)
def _revoke(clicks, key_id, version):
    key_id = inputs.text(key_id, "admin-revoke-key.value")
    if not inputs.number(clicks, "admin-revoke.n_clicks", 0, 1e9) or not key_id:
        raise PreventUpdate
    require_role("admin")
    version = int(inputs.number(version, "admin-version.data", 0, 1e9, default=0))
    try:
        with accounts_connection() as conn:
            done = revoke(conn, int(key_id))
    except (SQLAlchemyError, ValueError) as exc:
        return error_alert("Revoke", exc), dash.no_update
    message = (
        f"Key {key_id} revoked: requests with it are refused from now on."
        if done
        else f"Key {key_id} was revoked already."
    )
    return dbc.Alert(message, color="info"), (version or 0) + 1


@callback(
    Output(f"{P}-keys", "rowData"),
    Output(f"{P}-usage", "rowData"),
    Output(f"{P}-users", "rowData"),
    Output(f"{P}-revoke-key", "options"),
    Output(f"{P}-owner", "options"),
    Input(f"{P}-version", "data"),
)
def _tables(version):
    inputs.number(version, "admin-version.data", 0, 1e9, default=0)
    require_role("admin")
    today = datetime.now(UTC).date()
    with accounts_connection() as conn:
        keys = accounts.list_keys(conn, today)
        usage = accounts.usage_by_day(conn, today - timedelta(days=USAGE_DAYS - 1))
        users = accounts.list_users(conn)
    key_rows = [{**{c: r[c] for c in ("id", "prefix", "label", "tier", "user_name")},
                 "created": _stamp(r["created_at"]), "revoked": _stamp(r["revoked_at"]),
                 "today": int(r["today"]), "limited_today": int(r["limited_today"]), "total": int(r["total"])}
                for r in keys.to_dict("records")]  # fmt: skip
    usage_rows = [{**r, "day": r["day"].isoformat(), "requests": int(r["requests"]), "limited": int(r["limited"])}
                  for r in usage.drop(columns="key_id").to_dict("records")][::-1]  # fmt: skip
    user_rows = [{"name": u.name, "role": u.role, "created": _stamp(u.created_at),
                  "last_signin": _stamp(u.last_signin_at)} for u in users]  # fmt: skip
    valid = [{"label": f"{r['id']} · {r['prefix']}… · {r['label']} ({r['user_name']})", "value": str(r["id"])}
             for r in key_rows if not r["revoked"]]  # fmt: skip
    owners = [{"label": f"{u.name} ({u.role})", "value": u.name} for u in users]
    return key_rows, usage_rows, user_rows, valid, owners
