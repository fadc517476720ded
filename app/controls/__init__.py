"""The view controls every page shares, and their round trip through the URL query string.

A view is a :class:`ViewState`: exchanges, symbols, time range (a preset ending now or at an anchored
end time, or a custom date range), auto-refresh period, funding display mode, and the anomaly filters.
:func:`parse_query` reads it from a page's query parameters (what Dash pages passes to ``layout(**query)``),
:func:`to_query` writes it back; so a copied link reproduces the view. URL parameters (all optional)::

    exchange=binanceusdm,bybit   symbols=BTC/USDT,ETH/USDT   range=1h|6h|24h|7d|30d|custom
    start=2026-03-01T00:00Z (custom only)   end=2026-03-19T20:00Z (anchor, or custom end)
    refresh=0|5|10|30|60 (seconds, 0 = off)   funding=interval|annual (absent: auto)   metric=funding_rate,…   min_z=4
    min_oi=1e6 (USD)   venue=bybit   order=oi|latest|mean|coin|2026-03-01T00:00Z (Markets page)

Modules: ``state`` (the view and the URL), ``store`` (control values and store JSON), ``components`` (the
control bar), ``callbacks`` (its wiring); this package re-exports their public names.

Component ids are prefixed with the page name (``overview-symbols``); :func:`control_bar` builds the
components for one page and :func:`register_callbacks` wires them for that prefix. No state lives in
this module: the view is in the components and the URL.
"""

from app.controls.callbacks import register_callbacks, register_nav_callback, register_sort_link
from app.controls.components import control_bar
from app.controls.state import (
    AUTO_FUNDING,
    CUSTOM,
    DEFAULT_RANGE,
    DEFAULT_REFRESH,
    DEFAULT_SYMBOLS,
    FUNDING_CHOICES,
    HEATMAP_ORDERS,
    MAX_CUSTOM_RANGE,
    PRESETS,
    REFRESH_CHOICES,
    QueryError,
    ViewState,
    format_time,
    heatmap_order,
    parse_query,
    parse_time,
    to_query,
    with_defaults,
)
from app.controls.store import (
    control_values,
    date_bounds,
    initial_store,
    state_from_controls,
    state_from_store,
    state_to_store,
    window_text,
)

__all__ = [
    "AUTO_FUNDING", "CUSTOM", "DEFAULT_RANGE", "DEFAULT_REFRESH", "DEFAULT_SYMBOLS", "FUNDING_CHOICES",
    "HEATMAP_ORDERS", "MAX_CUSTOM_RANGE", "PRESETS", "REFRESH_CHOICES",
    "QueryError", "ViewState", "control_bar", "control_values", "date_bounds", "format_time", "heatmap_order",
    "initial_store", "parse_query", "parse_time", "register_callbacks", "register_nav_callback", "register_sort_link",
    "state_from_controls",
    "state_from_store", "state_to_store", "to_query", "window_text", "with_defaults",
]  # fmt: skip
