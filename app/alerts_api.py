"""The alerts JSON API (issue 9, item 6): rules (list, create, read, edit, delete, mute) and what fires.

Endpoints (under ``/api``; the same gate, API keys, rate limits and JSON errors as :mod:`app.api`):

* ``GET /api/alerts/rules`` — every rule; ``POST`` creates one from a JSON object (``db.alerts.validate_rule``).
* ``GET|PATCH|DELETE /api/alerts/rules/<id>`` — one rule; ``PATCH`` takes the fields to change (the merged rule
  is validated again); ``DELETE`` answers 204 (the worker drops the rule's states on its next cycle).
* ``POST /api/alerts/rules/<id>/mute`` — ``{"until": ISO 8601 time with offset}`` or ``{"minutes": n}``
  (1 … 525,600); ``{"until": null}`` unmutes.
* ``GET /api/alerts`` — ``states`` (pending/firing now) and ``events`` (transitions, newest first); filters
  ``state`` (comma list of pending, firing), ``severity`` (comma list), ``since`` (ISO UTC, events only),
  ``limit`` (events, 1 … 1,000, default 100).

Roles: anybody who may read the API (viewers, keys of viewers) reads rules and states; creating, editing, muting
and deleting need the ``admin`` role, since the app's roles are viewer and admin only and a rule changes what the
whole desk is told (a viewer's key must not silence the desk's alerts). Writes from a cookie session carry the
CSRF token (``X-CSRFToken``), checked by the gate (:mod:`app.auth.identity`); API-key requests need none.

Bad input → JSON 400 naming the field (``parameter``: ``name``, ``params.pct``, ``until``…); an unknown id →
JSON 404 (``parameter`` ``id``). Rules are read and written on the primary database (never the replica: a rule
just written is read back at once); the app role writes ``alert_rules`` only and reads the worker's tables.
Channel names only, never their URLs (settings ``ALPHAPULSE_ALERT_CHANNELS``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.api import settings
from app.auth import accounts_connection, require_role
from app.params import ParamError, parse_choices, parse_int, reject_unknown, utc_time
from db.alerts import (
    SEVERITIES,
    Rule,
    RuleError,
    create_rule,
    delete_rule,
    get_rule,
    list_rules,
    set_muted,
    update_rule,
    validate_rule,
)
from db.alerts.status import ACTIVE_STATES, current_states, recent_events
from db.alerts.validate import timestamp
from settings.alerts import alert_channels

#: Default and largest ``limit`` of ``/api/alerts`` (events).
EVENT_LIMIT_DEFAULT, EVENT_LIMIT_MAX = 100, 1000
#: Longest mute by ``minutes`` (one year).
MUTE_MINUTES_MAX = 525_600


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with aware datetimes as ISO 8601 UTC texts (``…Z``) and tuples as lists."""
    return {key: _plain(value) for key, value in row.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return list(value) if isinstance(value, tuple) else value


def _rule_json(rule: Rule) -> dict[str, Any]:
    return jsonable(rule.__dict__)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ParamError("body", "a JSON object is required (Content-Type: application/json)")
    return body


def _validated(raw: dict[str, Any]) -> Rule:
    try:
        return validate_rule(raw, channels=tuple(alert_channels(settings())))
    except RuleError as exc:
        raise ParamError(exc.field, f"{exc.field}: {exc.message}") from None


def _rule_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 18:
        raise ParamError("id", f"no alert rule {raw!r}", 404)
    return int(raw)


def _found(rule: Rule | None, rule_id: int) -> Rule:
    if rule is None:
        raise ParamError("id", f"no alert rule {rule_id}", 404)
    return rule


def rules() -> tuple[Response, int] | Response:
    """``GET``: ``{"data": [rule]}`` by id; ``POST``: the created rule, 201 (admin)."""
    if request.method == "GET":
        reject_unknown(request.args, ())
        with accounts_connection() as conn:
            return jsonify({"data": [_rule_json(r) for r in list_rules(conn)]})
    require_role("admin")
    rule = _validated(_body())
    with accounts_connection() as conn:
        return jsonify(_rule_json(create_rule(conn, rule))), 201


def rule(rule_id: str) -> tuple[Response, int] | Response:
    """``GET`` one rule; ``PATCH`` changes the given fields (admin); ``DELETE`` → 204 (admin)."""
    rid = _rule_id(rule_id)
    if request.method != "GET":
        require_role("admin")
    with accounts_connection() as conn:
        stored = _found(get_rule(conn, rid), rid)
        if request.method == "GET":
            return jsonify(_rule_json(stored))
        if request.method == "DELETE":
            delete_rule(conn, rid)
            return Response(status=204)
        merged = {**_rule_json(stored), **_body()}
        for key in ("id", "created_at", "updated_at"):
            merged.pop(key, None)
        return jsonify(_rule_json(_found(update_rule(conn, rid, _validated(merged)), rid)))


def _mute_until(body: dict[str, Any]) -> datetime | None:
    if set(body) not in ({"until"}, {"minutes"}):
        raise ParamError("until", 'send {"until": ISO time or null} or {"minutes": n}')
    if "minutes" in body:
        minutes = body["minutes"]
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not 1 <= minutes <= MUTE_MINUTES_MAX:
            raise ParamError("minutes", f"minutes must be a number from 1 to {MUTE_MINUTES_MAX}")
        return datetime.now(UTC) + timedelta(minutes=minutes)
    try:
        return timestamp("until", body["until"])
    except RuleError as exc:
        raise ParamError("until", f"until: {exc.message}") from None


def mute(rule_id: str) -> Response:
    """``POST``: mute (or unmute) the rule (admin); the stored rule."""
    rid = _rule_id(rule_id)
    require_role("admin")
    until = _mute_until(_body())
    with accounts_connection() as conn:
        return jsonify(_rule_json(_found(set_muted(conn, rid, until), rid)))


def alerts() -> Response:
    """``GET /api/alerts``: ``{"states": [...], "events": [...], "meta": {filters}}`` (see the module docstring)."""
    args = request.args
    reject_unknown(args, ("state", "severity", "since", "limit"))
    states = parse_choices("state", args.get("state"), ACTIVE_STATES) or ACTIVE_STATES
    severities = parse_choices("severity", args.get("severity"), SEVERITIES)
    limit = parse_int("limit", args.get("limit"), EVENT_LIMIT_DEFAULT, 1, EVENT_LIMIT_MAX)
    since = None
    if args.get("since"):
        try:
            since = utc_time(args["since"])
        except ValueError as exc:
            raise ParamError("since", f"since: {exc}") from None
    with accounts_connection() as conn:
        now_states = current_states(conn, states, severities)
        events = recent_events(conn, since, limit, severities)
    meta = {"state": list(states), "severity": list(severities) if severities else None,
            "since": _plain(since), "limit": limit}
    return jsonify({"meta": meta, "states": [jsonable(s) for s in now_states],
                    "events": [jsonable(e) for e in events]})


def create_blueprint() -> Blueprint:
    """A new blueprint of the alerts endpoints under ``/api`` (one per app)."""
    bp = Blueprint("alerts_api", __name__, url_prefix="/api")
    bp.add_url_rule("/alerts", view_func=alerts, methods=["GET"])
    bp.add_url_rule("/alerts/rules", view_func=rules, methods=["GET", "POST"])
    bp.add_url_rule("/alerts/rules/<rule_id>", view_func=rule, methods=["GET", "PATCH", "DELETE"])
    bp.add_url_rule("/alerts/rules/<rule_id>/mute", view_func=mute, methods=["POST"])
    return bp
