"""The Markets page's parts (issue 8, items 5–9): ``tables`` (grid columns and rows), ``data`` (reads through the
shared cache), ``callbacks`` (the page's callbacks); the layout is :mod:`app.pages.markets`.

Frames read (``db.queries.markets``, ``db.queries.heatmap``, ``db.queries.accumulated``, ``db.queries.premium``,
``db.queries.open_interest``): rates are fractions per funding interval, ``annualised`` fractions per year
(rate × 8,760 / the symbol's own interval in hours), times aware UTC, open interest in quote value; a coin is the
base asset across venues (:mod:`db.coins`).
"""
