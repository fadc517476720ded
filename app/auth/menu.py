"""The navigation bar's user menu: who is signed in, the Admin link for admins, and the sign-out form."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import flask
from dash import dcc, html
from flask_wtf.csrf import generate_csrf

from app.auth.identity import current_identity


def user_menu() -> html.Div:
    """Built per page load (in the request): the requester's name and role, an Admin link for admins, and for a
    signed-in user a sign-out button (a POST form carrying the CSRF token). Empty outside a request."""
    ident = current_identity() if flask.has_request_context() else None
    if ident is None:
        return html.Div(id="user-menu")
    items = []
    if ident.is_admin:
        items.append(dbc.NavLink("Admin", href="/admin", id="admin-link", className="ap-user-link"))
    if ident.kind == "user":
        items += [
            html.Span(f"{ident.name} · {ident.role}", id="user-name", className="ap-user-name"),
            html.Form([
                dcc.Input(type="hidden", name="csrf_token", value=generate_csrf(), id="sign-out-token"),
                html.Button("Sign out", type="submit", id="sign-out", className="btn btn-outline-light btn-sm"),
            ], action="/logout", method="POST", className="d-inline ms-2"),
        ]  # fmt: skip
    else:
        items.append(html.Span("sign-in off (loopback)", className="ap-user-name"))
    return html.Div(items, id="user-menu", className="ap-user-menu ms-auto d-flex align-items-center gap-2")
