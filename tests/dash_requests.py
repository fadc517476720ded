"""Callback requests as Dash's renderer sends them, built from a Dash app's callback map (for HTTP tests of
``/_dash-update-component`` without a browser)."""

from __future__ import annotations

import json

import dash

from app.callback_guard import declared_outputs


def server_callbacks(app: dash.Dash) -> dict[str, dict]:
    """``{output key: callback map entry}`` of every server-side callback of ``app`` (clientside ones have no
    Python function and never reach the server)."""
    return {key: cb for key, cb in app.callback_map.items() if "callback" in cb}


def _outputs(output: str) -> list[dict] | dict:
    declared = declared_outputs(output)
    return declared if output.startswith("..") else declared[0]


def callback_body(app: dash.Dash, output: str, inputs: list | None = None, state: list | None = None) -> dict:
    """The request body for the callback ``output`` (a key of ``app.callback_map``) with the given input and
    state values (``None`` for each one not given), as the renderer builds it; the first input is "changed"."""
    cb = app.callback_map[output]
    inputs = inputs if inputs is not None else [None] * len(cb["inputs"])
    state = state if state is not None else [None] * len(cb["state"])
    entries = [{**dep, "value": value} for dep, value in zip(cb["inputs"], inputs, strict=True)]
    states = [{**dep, "value": value} for dep, value in zip(cb["state"], state, strict=True)]
    changed = [f"{entries[0]['id']}.{entries[0]['property']}"] if entries else []
    return {
        "output": output,
        "outputs": _outputs(output),
        "inputs": entries,
        "state": states,
        "changedPropIds": changed,
    }


def find_output(app: dash.Dash, fragment: str) -> str:
    """The one server callback output key containing ``fragment`` (e.g. ``"anomalies-state.data"``)."""
    keys = [k for k in server_callbacks(app) if fragment in k]
    if len(keys) != 1:
        raise LookupError(f"{len(keys)} callbacks match {fragment!r}: {keys}")
    return keys[0]


def post_callback(client, body):
    """POST ``body`` (JSON-able, or a raw ``str``/``bytes`` body) to ``/_dash-update-component`` with Werkzeug's
    test ``client`` as the renderer does: JSON content type and the page's CSRF token (the ``_csrf_token`` cookie a
    page load sets, sent back as ``X-CSRFToken``; see ``app.auth``), so the request reaches the callback checks."""
    token = client.get_cookie("_csrf_token")
    if token is None:
        client.get("/")
        token = client.get_cookie("_csrf_token")
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(
        "/_dash-update-component",
        data=data,
        content_type="application/json",
        headers={"X-CSRFToken": token.value} if token is not None else {},
    )
