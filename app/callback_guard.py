"""Dash's own endpoints answer malformed requests with a 4xx, never a 500 with a traceback.

Installed on the Flask server by ``app.dashboard.build_dash`` (:func:`install`):

* ``POST /_dash-update-component``: the body is checked before Dash reads it (:func:`check_body`): at most
  :data:`MAX_BODY_BYTES`, JSON nested at most :data:`MAX_DEPTH` deep, an object naming a registered server-side
  callback whose ``outputs``, ``inputs`` and ``state`` have the shape, count, ids and properties that callback
  declares (pattern-matching ids as lists or objects of ids), ``changedPropIds`` a list of strings, and the page
  router's location a path and a query string. Anything else is a JSON 400 ``{"error", "status"}`` and one
  warning line in the log. The values themselves are checked by the callbacks through :mod:`app.inputs`; an
  :class:`~app.inputs.InputError` they raise gets the same answer. Callbacks are read from the Dash app's callback
  map at request time, so pages added later are covered without code here.
* ``GET /_dash-component-suites/<package>/<path>`` of a file Dash does not serve: 404 (Dash raises
  ``DependencyException``, which Flask turned into a 500 with a logged traceback).
* ``GET /_reload-hash`` (hot reload; lists the installed component packages): 404 unless Dash's dev tools have hot
  reload on, which only ``app.run(debug=True)`` or ``enable_dev_tools`` does; gunicorn never calls either.
"""

from __future__ import annotations

import json
import logging

import dash
import flask
from dash.exceptions import DependencyException

from app.inputs import InputError

log = logging.getLogger(__name__)

#: Largest callback request body accepted (bytes); the dashboard's largest is the symbol options, a few kB.
MAX_BODY_BYTES = 1_000_000
#: Deepest JSON nesting accepted in a callback request (the renderer's bodies are 6 deep at most).
MAX_DEPTH = 32
#: Dash's page-router location (``dash._pages``): its callback reads both as strings, and the pathname must start
#: with the app's ``requests_pathname_prefix`` (``dash.strip_relative_path`` raises otherwise).
ROUTER_PATHNAME, ROUTER_SEARCH = ("_pages_location", "pathname"), ("_pages_location", "search")


class BadRequest(ValueError):
    """A callback request that does not fit the callback it names; the message says what is wrong."""


def _depth(value, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a JSON value (1 for a scalar); stops counting past ``limit``."""
    if limit <= 0 or not isinstance(value, (dict, list)):
        return 1
    items = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(v, limit - 1) for v in items), default=0)


def _is_pattern(dep_id: str) -> bool:
    return dep_id.startswith("{")


def _check_router(prop: tuple[str, str], value, where: str, prefix: str) -> None:
    if prop == ROUTER_SEARCH and not isinstance(value, (str, type(None))):
        raise BadRequest(f"{where}: {prop[0]}.{prop[1]} must be a string")
    if prop == ROUTER_PATHNAME and not (isinstance(value, str) and value.startswith(prefix.rstrip("/") or "/")):
        raise BadRequest(f"{where}: {prop[0]}.{prop[1]} must be a path under {prefix}")


def _check_dependency(item, declared: dict, where: str, prefix: str = "/") -> None:
    """One output/input/state entry of the body against its declared ``{"id", "property"}``."""
    if _is_pattern(declared["id"]):  # ALL/ALLSMALLER: a list of entries; MATCH: one entry; ids are objects
        entries = item if isinstance(item, list) else [item]
        for entry in entries:
            if not (
                isinstance(entry, dict)
                and isinstance(entry.get("id"), dict)
                and entry.get("property") == declared["property"]
            ):
                raise BadRequest(f"{where}: expected {declared['property']} of pattern {declared['id']}")
        return
    if not (
        isinstance(item, dict) and item.get("id") == declared["id"] and item.get("property") == declared["property"]
    ):
        raise BadRequest(f"{where}: expected {declared['id']}.{declared['property']}")
    _check_router((declared["id"], declared["property"]), item.get("value"), where, prefix)


def _check_list(body: dict, key: str, declared: list[dict], prefix: str = "/") -> None:
    items = body.get(key, [])
    if not isinstance(items, list) or len(items) != len(declared):
        raise BadRequest(f"{key} must be a list of {len(declared)} entries")
    for i, (item, dep) in enumerate(zip(items, declared, strict=True)):
        _check_dependency(item, dep, f"{key}[{i}]", prefix)


def declared_outputs(output: str) -> list[dict]:
    """``[{"id", "property"}]`` of a callback map key (``a.b`` or ``..a.b...c.d..``; ids may contain dots)."""
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    return [dict(zip(("id", "property"), part.rsplit(".", 1), strict=True)) for part in parts]


def check_body(body, callback_map: dict, pathname_prefix: str = "/") -> None:
    """Raise :class:`BadRequest` unless ``body`` (parsed JSON) is a well-formed request for a server callback of
    ``callback_map`` (``Dash.callback_map``; ``pathname_prefix``: the app's ``requests_pathname_prefix``); rules in
    the module docstring."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    if _depth(body) > MAX_DEPTH:
        raise BadRequest(f"the body is nested deeper than {MAX_DEPTH} levels")
    output = body.get("output")
    callback = callback_map.get(output) if isinstance(output, str) else None
    if callback is None or "callback" not in callback:
        raise BadRequest("output does not name a server callback")
    declared = declared_outputs(output)
    outputs = body.get("outputs")
    if callback.get("no_output"):
        outputs, declared = [], []
    elif output.startswith(".."):
        _check_list(body, "outputs", declared)
    else:
        _check_dependency(outputs, declared[0], "outputs")
    _check_list(body, "inputs", callback["inputs"], pathname_prefix)
    _check_list(body, "state", callback["state"], pathname_prefix)
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        raise BadRequest("changedPropIds must be a list of strings")


def _bad_request(message: str) -> flask.Response:
    log.warning(
        "callback request rejected (%s %s from %s): %s",
        flask.request.method,
        flask.request.path,
        flask.request.remote_addr,
        message,
    )
    return flask.make_response({"error": message, "status": 400}, 400)


def install(server: flask.Flask, app: dash.Dash) -> None:
    """Guard ``app``'s endpoints on ``server`` (module docstring). Call once, after the Dash app is built."""
    prefix = app.config.routes_pathname_prefix
    update_path, reload_path = prefix + "_dash-update-component", prefix + "_reload-hash"

    def guard():
        path = flask.request.path
        if path == reload_path and not getattr(app, "_dev_tools", {}).get("hot_reload"):
            return flask.make_response({"error": "not found", "status": 404}, 404)
        if path != update_path or flask.request.method != "POST":
            return None
        if (flask.request.content_length or 0) > MAX_BODY_BYTES:
            return _bad_request(f"the body is larger than {MAX_BODY_BYTES} bytes")
        try:
            check_body(
                json.loads(flask.request.get_data(cache=True)), app.callback_map, app.config.requests_pathname_prefix
            )
        except BadRequest as exc:
            return _bad_request(str(exc))
        except (ValueError, RecursionError):  # json: malformed, not UTF-8, or nested too deep to decode
            return _bad_request("the body is not valid JSON")
        return None

    server.before_request(guard)
    server.register_error_handler(InputError, lambda exc: _bad_request(str(exc)))
    server.register_error_handler(DependencyException, _not_a_component_file)


def _not_a_component_file(exc: DependencyException):
    log.info("404 for %s: %s", flask.request.path, str(exc).splitlines()[0])
    return flask.make_response("not found", 404)
