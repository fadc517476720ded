"""Series colours: one colour per (exchange, symbol), whatever else is on the chart.

A series' colour depends only on its exchange and its coin, never on what else is selected or in which order,
so adding a symbol recolours nothing and the same series has the same colour on the funding and the price
chart. The exchange gives the hue (:data:`EXCHANGE_HUES`, a hash of the id for others), the coin a shade: a
small hue offset and a lightness (:data:`SHADES`; the commonest coins have fixed, distinct shades, any other
coin one from a hash of its name). The shade's lightness is mapped onto the lightness range in which that hue
has at least :data:`MIN_CONTRAST` with the background (light or dark), so every colour stays readable and the
shades stay apart.
"""

from __future__ import annotations

import colorsys
import hashlib
from functools import lru_cache

from db.coins import coin_of

#: Hue (degrees) of each exchange's series; the red band (anomaly markers, falling candles) is left free.
EXCHANGE_HUES = {
    "binanceusdm": 32, "bybit": 285, "okx": 212, "hyperliquid": 168, "krakenfutures": 250, "dydx": 318, "lighter": 95,
}  # fmt: skip

#: Shades of a hue: (hue offset in degrees, lightness in % on a light background). A coin takes one shade.
SHADES = ((0, 42), (-16, 28), (16, 56), (16, 30), (-16, 54), (0, 20), (0, 64), (-16, 40), (16, 44))

#: Coins with a fixed shade (index into :data:`SHADES`), so the commonest ones never share one on a venue.
COIN_SHADES = {"BTC": 0, "ETH": 1, "SOL": 2, "XRP": 3, "DOGE": 4, "BNB": 5, "HYPE": 6, "ADA": 7, "PEPE": 8}

#: Least contrast ratio of a series colour with the background (WCAG 2.1, success criterion 1.4.11: graphical
#: objects need 3:1).
MIN_CONTRAST = 3.0

#: Saturation of series colours (fraction).
SATURATION = 0.78

LIGHT_BACKGROUND = "#ffffff"


def _digest(text: str) -> int:
    """A hash of ``text`` that is the same in every process (Python's ``hash`` of a str is salted per process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def exchange_hue(exchange: str) -> int:
    """Hue (degrees, 0..359) of ``exchange``'s series: :data:`EXCHANGE_HUES`, else one of 20..339 from a hash."""
    return EXCHANGE_HUES.get(exchange, 20 + _digest(exchange) % 320)


def coin_shade(symbol: str) -> tuple[int, int]:
    """``(hue offset in degrees, lightness in %)`` of the coin of ``symbol`` (``db.coins.coin_of``: BTC/USDT:USDT
    and BTC/USDC:USDC are both BTC): :data:`COIN_SHADES`, else a shade from a hash of the coin's name."""
    coin = coin_of(symbol).name
    return SHADES[COIN_SHADES.get(coin, _digest(coin) % len(SHADES))]


def relative_luminance(colour: str) -> float:
    """Relative luminance (0 = black … 1 = white) of a ``#rrggbb`` colour (WCAG 2.1 definition, sRGB)."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """Contrast ratio (1 … 21) of two ``#rrggbb`` colours (WCAG 2.1: (L1 + 0.05) / (L2 + 0.05), L1 the lighter)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _hsl(hue: float, lightness: float) -> str:
    r, g, b = colorsys.hls_to_rgb((hue % 360) / 360, lightness / 100, SATURATION)
    return "#{:02x}{:02x}{:02x}".format(*(round(c * 255) for c in (r, g, b)))


#: Lightness range (%) of :data:`SHADES`, mapped onto the range a hue may take on the background.
_SHADE_RANGE = (min(light for _, light in SHADES), max(light for _, light in SHADES))


def _readable_lightness(hue: float, background: str) -> tuple[float, float]:
    """``(darkest, lightest)`` lightness (%) of ``hue`` that series may use on ``background``: from 16 % up to the
    lightest with :data:`MIN_CONTRAST` on a light background, from the darkest with it up to 84 % on a dark one."""
    dark = relative_luminance(background) < 0.5
    levels = range(16, 85) if dark else range(84, 15, -1)
    edge = next((v for v in levels if contrast(_hsl(hue, v), background) >= MIN_CONTRAST), levels[-1])
    return (edge, 84) if dark else (16, edge)


@lru_cache(maxsize=4096)
def series_colour(exchange: str, symbol: str, background: str = LIGHT_BACKGROUND) -> str:
    """The ``#rrggbb`` colour of series (``exchange``, ``symbol``) on ``background`` (``#rrggbb``): hue of
    :func:`exchange_hue` shifted by the coin's offset (:func:`coin_shade`), and the coin's lightness mapped
    linearly from :data:`SHADES`' range onto the lightness range of that hue with at least :data:`MIN_CONTRAST`
    on the background (reversed on a dark background, so light shades stay the most prominent there too), so
    shades keep their order and stay apart. Pure: the same arguments give the same colour in every process.

    Raises ``ValueError`` for an empty symbol.
    """
    offset, lightness = coin_shade(symbol)
    hue = exchange_hue(exchange) + offset
    lo, hi = _readable_lightness(hue, background)
    share = (lightness - _SHADE_RANGE[0]) / (_SHADE_RANGE[1] - _SHADE_RANGE[0])
    if relative_luminance(background) < 0.5:
        share = 1 - share
    return _hsl(hue, lo + share * (hi - lo))
