"""What dash-renderer sends to open a page and refresh it, shared by ``bench/load_users.py`` (locust users over HTTP)
and ``bench/page_views.py`` (one user in process). Not a test.

A page of AlphaPulse is opened by the Dash pages callback (path + query → the page's layout), then the callbacks
its components fire when they mount: the draw (input ``{page}-fp.data``; it also outputs the baseline fingerprint
``{page}-drawn.data``, which earlier versions had a callback of their own for, run in parallel), then the picker
options (output ``{page}-exchanges.options``); on the
Markets page the drawn ranking fires the spread chart (output ``markets-spread.figure``). Every
:data:`~app.refresh` tick sends the refresh check (output ``{page}-fp.data``). The Alerts page has no draw cycle:
its tables (output ``alerts-rules.rowData``) and the navigation bar's badge (``nav-alerts-badge``) fire on mount.
"""

from __future__ import annotations

#: The pages with a draw/refresh cycle, by path: their component-id prefix.
PREFIX = {"/": "overview", "/anomalies": "anomalies", "/system": "system", "/markets": "markets", "/alerts": "alerts"}


def outputs(spec: str) -> list[dict]:
    """Dash's output spec (``id.prop`` or ``..a.p...b.q..``) as the list of ``{"id", "property"}`` it names."""
    parts = spec[2:-2].split("...") if spec.startswith("..") else [spec]
    return [dict(zip(("id", "property"), part.rsplit(".", 1), strict=True)) for part in parts]


def find(node, ident: str):
    """The props of the component with id ``ident`` in a Dash layout JSON tree, or None."""
    if isinstance(node, dict):
        props = node.get("props")
        if isinstance(props, dict) and props.get("id") == ident:
            return props
        node = list(node.values())
    if isinstance(node, list):
        for child in node:
            found = find(child, ident)
            if found is not None:
                return found
    return None


#: Roles of the Markets and Alerts pages' mount callbacks: role -> (prefix -> text of its output spec).
_MORE_ROLES = {
    "spread": lambda p: f"{p}-spread.figure",
    "tables": lambda p: f"{p}-rules.rowData",
    "badge": lambda _p: "nav-alerts-badge.children",
}


def page_callbacks(dependencies: list[dict], prefix: str) -> dict[str, dict]:
    """The callbacks of ``/_dash-dependencies`` a page with component prefix ``prefix`` fires, by role:
    ``pages``, ``draw``, ``baseline``, ``check``, ``options``, ``spread`` (Markets), ``tables`` and ``badge``
    (Alerts); missing roles are absent."""
    found: dict[str, dict] = {}
    for dep in dependencies:
        if dep.get("clientside_function"):
            continue
        out, first = dep["output"], f"{dep['inputs'][0]['id']}.{dep['inputs'][0]['property']}"
        if "_pages_content.children" in out:
            found["pages"] = dep
        elif out == f"{prefix}-drawn.data":
            found["baseline"] = dep
        elif f"{prefix}-fp.data" in out:
            found["check"] = dep
        elif first == f"{prefix}-fp.data":
            found["draw"] = dep
        elif f"{prefix}-exchanges.options" in out:
            found["options"] = dep
        else:
            role = next((r for r, marks in _MORE_ROLES.items() if marks(prefix) in out), None)
            if role:
                found[role] = dep
    return found


def request_body(dep: dict, inputs: list, state: list | None = None) -> dict:
    """The JSON body dash-renderer posts to ``/_dash-update-component`` for callback ``dep`` with these values
    (the first input counted as the one that changed; inputs not given, such as the theme store a draw also
    listens to, are sent as None: the store's value before the theme is chosen)."""
    outs = outputs(dep["output"])
    inputs = [*inputs, *[None] * (len(dep["inputs"]) - len(inputs))]
    return {
        "output": dep["output"], "outputs": outs if len(outs) > 1 else outs[0],
        "inputs": [{**i, "value": v} for i, v in zip(dep["inputs"], inputs, strict=True)],
        "changedPropIds": [f"{dep['inputs'][0]['id']}.{dep['inputs'][0]['property']}"],
        "state": [{**s, "value": v} for s, v in zip(dep["state"], state or [], strict=True)],
    }  # fmt: skip
