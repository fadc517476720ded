"""Alerts page (``/alerts``): the rules (create, edit, mute, unmute, delete), what fires now and the history.

Rules are validated server-side by ``db.alerts.validate_rule`` (the API's validator too); a refused field's message
is shown next to it. Everybody who may open the dashboard reads the page; writing needs the ``admin`` role (the
app's roles are viewer and admin; see :mod:`app.alerts_api`), checked in every writing callback. Rules are read
and written on the primary database (``app.auth.accounts_connection``: a saved rule is listed at once); states
and events are the alerts worker's, read-only here. Tables refresh on the navigation bar's alerts tick
(``ALPHAPULSE_ALERT_EVAL_SECONDS``), which also updates the firing count badge (:func:`_badge`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, dcc, html
from dash.exceptions import PreventUpdate
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import Forbidden

from app import inputs
from app.alerts_form import ERRORS, FORM_KEYS, PARAMS, form_values, raw_rule
from app.alerts_text import KIND_WORDS, condition, scope, subject
from app.api import settings
from app.auth import accounts_connection, require_role
from app.cache import shared_cache
from app.components import error_alert, grid
from app.dashboard import ALERTS_BADGE_ID as BADGE_ID
from app.dashboard import ALERTS_TICK_ID as TICK_ID
from app.format import utc
from db.alerts import (
    ANOMALY_METRICS,
    KINDS,
    SEVERITIES,
    RuleError,
    create_rule,
    delete_rule,
    get_rule,
    list_rules,
    set_muted,
    update_rule,
    validate_rule,
)
from db.alerts.status import current_states, firing_count, recent_events

dash.register_page(__name__, path="/alerts", name="Alerts", title="AlphaPulse · Alerts", order=3)

P = "alerts"
MUTE_CHOICES = ((15, "15 min"), (60, "1 hour"), (480, "8 hours"), (1440, "24 hours"), (10080, "7 days"))
EVENT_LIMIT = 200
RULE_COLUMNS = (("id", "Id"), ("name", "Name", 140), ("kind", "Kind"), ("condition", "Condition", 260),
                ("scope", "Scope", 160), ("severity", "Severity"), ("state", "State"),
                ("muted", "Muted until (UTC)", 140))  # fmt: skip
FIRING_COLUMNS = (("rule", "Rule", 140), ("severity", "Severity"), ("subject", "Subject", 150), ("state", "State"),
                  ("since", "Since (UTC)", 150), ("value", "Last value (rule's unit)"))  # fmt: skip
EVENT_COLUMNS = (("time", "Time (UTC)", 150), ("rule", "Rule", 140), ("subject", "Subject", 150),
                 ("change", "Transition", 140), ("value", "Value (rule's unit)"), ("message", "Message", 220))


def _field(key: str, label: str, control) -> dbc.Col:
    return dbc.Col([dbc.Label(label, html_for=f"{P}-f-{key}", className="small mb-0"), control,
                    html.Div(id=f"{P}-err-{key}", className="ap-field-error text-danger small")],
                   xs=12, md=4, lg=3, id=f"{P}-wrap-{key}")  # fmt: skip


def _param_control(key: str):
    if key == "metric":
        return dbc.Select(id=f"{P}-f-params-{key}", options=[{"label": m, "value": m} for m in ANOMALY_METRICS])
    return dbc.Input(id=f"{P}-f-params-{key}", type="number", inputMode="decimal")


def _form() -> html.Div:
    kinds = [{"label": KIND_WORDS[k][0], "value": k} for k in KINDS]
    fields = [
        _field("name", "Name", dbc.Input(id=f"{P}-f-name", maxLength=120)),
        _field("kind", "Kind", dbc.Select(id=f"{P}-f-kind", options=kinds, value="funding_above")),
        *(_field(f"params-{k}", label, _param_control(k)) for k, label in PARAMS.items()),
        _field("exchanges", "Exchanges (comma list; blank: all)", dbc.Input(id=f"{P}-f-exchanges")),
        _field("symbols", "Symbols or coins (BTC/USDT, ETH; blank: all)", dbc.Input(id=f"{P}-f-symbols")),
        _field("pending_evaluations", "Pending period (evaluations)",
               dbc.Input(id=f"{P}-f-pending_evaluations", type="number", min=1, value=1)),
        _field("repeat_minutes", "Repeat while firing (minutes; blank: never)",
               dbc.Input(id=f"{P}-f-repeat_minutes", type="number", min=1)),
        _field("severity", "Severity", dbc.Select(id=f"{P}-f-severity", value="warning",
                                                  options=[{"label": s, "value": s} for s in SEVERITIES])),
    ]  # fmt: skip
    buttons = [dbc.Button("Save rule", id=f"{P}-save", color="dark", className="me-2"),
               dbc.Button("New rule", id=f"{P}-new", color="secondary", outline=True)]
    return html.Div([html.Div(id=f"{P}-editing", className="small text-muted"), dbc.Row(fields, className="g-2"),
                     html.Div(buttons, className="my-2"), html.Div(id=f"{P}-err-form"),
                     dcc.Store(id=f"{P}-edit-id")])  # fmt: skip


def layout(**_query) -> html.Div:
    """The page (readable by every signed-in role; the form's writes need admin)."""
    actions = dbc.Row([
        dbc.Col(dbc.Select(id=f"{P}-rule", placeholder="choose a rule"), xs=12, md=4),
        dbc.Col(dbc.Select(id=f"{P}-mute-for", value="60",
                           options=[{"label": f"mute {t}", "value": str(m)} for m, t in MUTE_CHOICES]), xs=6, md=2),
        dbc.Col([dbc.Button(label, id=f"{P}-{action}", color=color, outline=True, className="me-1 mb-1")
                 for action, label, color in (("edit", "Edit", "dark"), ("mute", "Mute", "warning"),
                                              ("unmute", "Unmute", "secondary"), ("delete", "Delete", "danger"))],
                xs=12, md=6),
    ], className="g-2 my-2")  # fmt: skip
    return html.Div([
        html.H1("Alerts", className="ap-title"),
        html.H2("Firing and pending now", className="ap-h2"), grid(f"{P}-firing", FIRING_COLUMNS, height=220),
        html.H2("Rules", className="ap-h2"), grid(f"{P}-rules", RULE_COLUMNS, height=280),
        actions, html.Div(id=f"{P}-action-result"),
        html.H2("New or edited rule", className="ap-h2"), _form(),
        html.H2(f"History of transitions (newest {EVENT_LIMIT})", className="ap-h2"),
        grid(f"{P}-events", EVENT_COLUMNS, height=320),
        dcc.Store(id=f"{P}-version", data=0),
    ], className="ap-page")  # fmt: skip


@callback([Output(f"{P}-wrap-params-{k}", "style") for k in PARAMS], Input(f"{P}-f-kind", "value"))
def _param_visibility(kind):
    kind = inputs.choice(kind, "alerts-f-kind.value", KINDS, default="funding_above")
    return [None if k in KINDS[kind] else {"display": "none"} for k in PARAMS]


def _form_value(key: str, value):
    name = f"alerts-f-{key}.value"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return inputs.number(value, name, -1e12, 1e12)
    return inputs.text(value, name)


@callback(
    [Output(f"{P}-err-{k.replace('.', '-')}", "children") for k in ERRORS],
    Output(f"{P}-version", "data", allow_duplicate=True),
    Input(f"{P}-save", "n_clicks"),
    [State(f"{P}-f-{k}", "value") for k in FORM_KEYS],
    State(f"{P}-edit-id", "data"),
    State(f"{P}-version", "data"),
    prevent_initial_call=True,
)
def _save(clicks, *values):
    if not inputs.number(clicks, "alerts-save.n_clicks", 0, 1e9):
        raise PreventUpdate
    *form, edit_id, version = values
    raw = raw_rule({k: _form_value(k, v) for k, v in zip(FORM_KEYS, form, strict=True)})
    edit_id = inputs.number(edit_id, "alerts-edit-id.data", 1, 1e18)
    version = int(inputs.number(version, "alerts-version.data", 0, 1e9, default=0))
    errors = dict.fromkeys(ERRORS)
    try:
        require_role("admin")
        rule = validate_rule(raw)
        with accounts_connection() as conn:
            stored = update_rule(conn, int(edit_id), rule) if edit_id else create_rule(conn, rule)
        if stored is None:
            raise RuleError("form", f"rule {int(edit_id)} no longer exists")
    except RuleError as exc:
        errors[exc.field if exc.field in errors else "form"] = exc.message
        return [*errors.values(), dash.no_update]
    except Forbidden:
        errors["form"] = dbc.Alert("Saving rules needs the admin role.", color="warning")
        return [*errors.values(), dash.no_update]
    except SQLAlchemyError as exc:
        errors["form"] = error_alert("Database", exc)
        return [*errors.values(), dash.no_update]
    errors["form"] = dbc.Alert(f"Rule {stored.id} “{stored.name}” saved.", color="success", id=f"{P}-saved")
    return [*errors.values(), version + 1]


def utc_now() -> datetime:
    """Now, aware UTC."""
    return datetime.now(UTC)


@callback(
    [Output(f"{P}-f-{k}", "value") for k in FORM_KEYS],
    Output(f"{P}-edit-id", "data"),
    Output(f"{P}-editing", "children"),
    Input(f"{P}-edit", "n_clicks"),
    Input(f"{P}-new", "n_clicks"),
    State(f"{P}-rule", "value"),
    prevent_initial_call=True,
)
def _load(edit_clicks, new_clicks, rule_id):
    inputs.number(edit_clicks, "alerts-edit.n_clicks", 0, 1e9)
    inputs.number(new_clicks, "alerts-new.n_clicks", 0, 1e9)
    rule_id = inputs.text(rule_id, "alerts-rule.value")
    if ctx.triggered_id != f"{P}-edit" or not rule_id or not rule_id.isdigit():
        return [*form_values(None), None, "Creating a new rule."]
    with accounts_connection() as conn:
        rule = get_rule(conn, int(rule_id))
    if rule is None:
        raise PreventUpdate
    return [*form_values(rule), rule.id, f"Editing rule {rule.id} “{rule.name}”: Save replaces it."]


@callback(
    Output(f"{P}-action-result", "children"),
    Output(f"{P}-version", "data", allow_duplicate=True),
    Input(f"{P}-mute", "n_clicks"),
    Input(f"{P}-unmute", "n_clicks"),
    Input(f"{P}-delete", "n_clicks"),
    State(f"{P}-rule", "value"),
    State(f"{P}-mute-for", "value"),
    State(f"{P}-version", "data"),
    prevent_initial_call=True,
)
def _act(mute, unmute, delete, rule_id, mute_for, version):
    for clicks, name in ((mute, "mute"), (unmute, "unmute"), (delete, "delete")):
        inputs.number(clicks, f"alerts-{name}.n_clicks", 0, 1e9)
    rule_id = inputs.text(rule_id, "alerts-rule.value")
    minutes = int(inputs.choice(mute_for, "alerts-mute-for.value", [str(m) for m, _ in MUTE_CHOICES], "60"))
    version = int(inputs.number(version, "alerts-version.data", 0, 1e9, default=0))
    if not rule_id or not rule_id.isdigit() or ctx.triggered_id is None:
        raise PreventUpdate
    action, rid = ctx.triggered_id.removeprefix(f"{P}-"), int(rule_id)
    try:
        require_role("admin")
        with accounts_connection() as conn:
            if action == "delete":
                done = delete_rule(conn, rid)
            else:
                until = utc_now() + timedelta(minutes=minutes) if action == "mute" else None
                done = set_muted(conn, rid, until) is not None
    except Forbidden:
        return dbc.Alert("Changing rules needs the admin role.", color="warning"), dash.no_update
    except SQLAlchemyError as exc:
        return error_alert("Database", exc), dash.no_update
    words = {"mute": f"muted for {minutes} min", "unmute": "unmuted", "delete": "deleted"}[action]
    message = f"Rule {rid} {words}." if done else f"Rule {rid} no longer exists."
    return dbc.Alert(message, color="info" if done else "warning"), version + 1


def _value(value) -> str:
    return "" if value is None else f"{value:.6g}"


@callback(
    Output(f"{P}-rules", "rowData"),
    Output(f"{P}-firing", "rowData"),
    Output(f"{P}-events", "rowData"),
    Output(f"{P}-rule", "options"),
    Input(f"{P}-version", "data"),
    Input(TICK_ID, "n_intervals"),
)
def _tables(version, ticks):
    inputs.number(version, "alerts-version.data", 0, 1e9, default=0)
    inputs.number(ticks, f"{TICK_ID}.n_intervals", 0, 1e12, default=0)
    with accounts_connection() as conn:
        rules = list_rules(conn)
        states = current_states(conn)
        events = recent_events(conn, None, EVENT_LIMIT)
    names = {r.id: r.name for r in rules}
    per_rule: dict[int, list[str]] = {}
    for s in states:
        per_rule.setdefault(s["rule_id"], []).append(s["state"])
    rule_rows = [{"id": r.id, "name": r.name, "kind": KIND_WORDS[r.kind][0], "condition": condition(r),
                  "scope": scope(r), "severity": r.severity,
                  "state": _state_words(per_rule.get(r.id, []), r.enabled),
                  "muted": utc(r.muted_until) if r.muted_until and r.muted_until > utc_now() else ""}
                 for r in rules]  # fmt: skip
    firing = [{"rule": s["rule_name"], "severity": s["severity"], "subject": subject(s["subject"]),
               "state": s["state"], "since": utc(s["since"]), "value": _value(s["last_value"])} for s in states]
    history = [{"time": utc(e["time"], seconds=True), "rule": names.get(e["rule_id"], f"rule {e['rule_id']} (deleted)"),
                "subject": subject(e["subject"]), "change": f"{e['from_state']} → {e['to_state']}",
                "value": _value(e["value"]), "message": e["message"]} for e in events]  # fmt: skip
    options = [{"label": f"{r.id} · {r.name}", "value": str(r.id)} for r in rules]
    return rule_rows, firing, history, options


def _state_words(states: list[str], enabled: bool) -> str:
    if not enabled:
        return "disabled"
    counts = [f"{states.count(s)} {s}" for s in ("firing", "pending") if s in states]
    return ", ".join(counts) or "normal"


@callback(Output(BADGE_ID, "children"), Output(BADGE_ID, "style"), Input(TICK_ID, "n_intervals"))
def _badge(ticks):
    """The navigation bar's count of (rule, subject) pairs firing now; hidden at zero. Every open tab asks on each
    tick, so the count goes through the shared cache (one query per ``ALPHAPULSE_CACHE_LIVE_SECONDS`` for all tabs
    and workers)."""
    inputs.number(ticks, f"{TICK_ID}.n_intervals", 0, 1e12, default=0)

    def compute() -> int:
        with accounts_connection() as conn:
            return firing_count(conn)

    try:
        count = shared_cache().get("alerts_firing_count", compute, settings().cache_live_seconds)
    except SQLAlchemyError:
        return "", {"display": "none"}
    return str(count), None if count else {"display": "none"}
