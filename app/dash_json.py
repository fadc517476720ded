"""The JSON of Dash's responses (callback outputs, page layouts) written by orjson in one pass.

Dash writes every response with plotly's ``plotly.io.json.to_json_plotly`` (``dash._utils.to_json``, dash 4.4.1,
looks it up at each call). With orjson installed, plotly first tries ``orjson.dumps`` on the object as it is; a
single Dash component anywhere in it (a page layout, a card, a table cell) makes that fail, and plotly then walks
the whole tree in Python (``clean_to_json_compatible``: a function call per value, three caught exceptions per
``None``) before dumping the cleaned copy. That walk was 70-80 % of the serialisation time of a page opening (the
Overview's layout, its cards and charts: ~14 ms of an opening here, issue 10).

:func:`to_json_plotly` gives orjson plotly's cleaning as its ``default`` instead, so only the values orjson does not
know are converted (a component by its ``to_plotly_json``, anything else by plotly's own ``clean_to_json_compatible``
of that value alone) and everything else is written natively. The output is plotly's orjson output: same
options (``OPT_NON_STR_KEYS | OPT_SERIALIZE_NUMPY``), same escaping of ``<``, ``>``, ``/`` and the line
separators; one difference: a ``datetime64`` array beside a component is written by orjson (``2025-06-24T10:33:00``)
rather than as numpy's string (``2025-06-24T10:33:00.000000``), as plotly itself writes it in a response without
components. ``pretty`` output, the ``json`` engine and any value plotly's cleaning does not convert go to plotly's
function unchanged. :func:`install` makes it the one Dash calls (idempotent).
"""

from __future__ import annotations

from typing import Any

import orjson
import plotly.io.json as plotly_json
from _plotly_utils.optional_imports import get_module
from plotly.io._json import _safe, _swap_orjson, clean_to_json_compatible

#: plotly's own function (what :func:`install` replaces).
PLOTLY_TO_JSON = plotly_json.to_json_plotly
#: plotly's orjson options (``plotly.io._json.to_json_plotly``, plotly 7.1.0).
OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
#: The optional modules plotly's cleaning consults (looked up the way plotly does, once).
_MODULES = {
    "sage_all": get_module("sage.all", should_load=False),
    "np": get_module("numpy", should_load=False),
    "pd": get_module("pandas", should_load=False),
    "image": get_module("PIL.Image", should_load=False),
}


def _default(value: Any) -> Any:
    """orjson's ``default``: a component or figure as its ``to_plotly_json()`` dict, anything else as plotly's
    cleaning converts it. Raises TypeError when neither converts it (orjson then fails the whole dump)."""
    to_plotly = getattr(value, "to_plotly_json", None)
    if to_plotly is not None:
        return to_plotly()
    cleaned = clean_to_json_compatible(value, numpy_allowed=True, datetime_allowed=True, modules=_MODULES)
    if cleaned is value:
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")
    return cleaned


def to_json_plotly(plotly_object: Any, pretty: bool = False, engine: str | None = None) -> str:
    """JSON text of ``plotly_object`` (a dict, list, Dash component or plotly figure, nested in any way), as
    plotly's function of the same name writes it with orjson (module docstring). ``pretty`` or ``engine="json"``:
    plotly's function itself. Raises what plotly's function raises for a value neither can write."""
    if pretty or engine == "json":
        return PLOTLY_TO_JSON(plotly_object, pretty=pretty, engine=engine)
    try:
        text = orjson.dumps(plotly_object, default=_default, option=OPTIONS).decode("utf8")
    except TypeError:
        return PLOTLY_TO_JSON(plotly_object, pretty=pretty, engine=engine)
    return _safe(text, _swap_orjson)


def install() -> None:
    """Make :func:`to_json_plotly` the function Dash's ``dash._utils.to_json`` calls (it imports
    ``plotly.io.json.to_json_plotly`` at each call). Process-wide and idempotent; plotly's own ``Figure.to_json``
    and ``plotly.io.to_json`` keep plotly's function."""
    plotly_json.to_json_plotly = to_json_plotly
