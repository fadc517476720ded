"""Alert rules and states in words for people (the Alerts page): conditions with their units, scopes, subjects.

Units are those of :data:`db.alerts.KINDS`: funding levels in % per year (annualised with the pair's own funding
interval), price change in % over minutes, premium in basis points of ``mark/index − 1``, anomaly |z| (unitless),
feed staleness as a multiple of the feed's cadence. Symbols are shown as people write them (``BTC/USDT``).
"""

from __future__ import annotations

from db.alerts import Rule

#: Kind → (label, condition template over the rule's params).
KIND_WORDS = {
    "funding_above": ("Funding above", "funding rate above {level_pct_per_year:g} % per year (annualised)"),
    "funding_below": ("Funding below", "funding rate below {level_pct_per_year:g} % per year (annualised)"),
    "funding_spread": ("Funding spread", "cross-venue funding spread above {level_pct_per_year:g} % per year"),
    "anomaly_z": ("Anomaly |z|", "{metric} anomaly with |z| ≥ {min_abs_z:g}"),
    "price_change": ("Price change", "price moves ≥ {pct:g} % within {window_minutes} min (1-minute closes)"),
    "premium": ("Premium", "|mark / index − 1| ≥ {level_bp:g} bp"),
    "feed_stale": ("Feed stale", "newest row older than {multiple:g} × the feed's cadence"),
}


def person_symbol(symbol: str) -> str:
    """``BTC/USDT:USDT`` → ``BTC/USDT``; bare coins and other texts unchanged."""
    return symbol.split(":", 1)[0]


def condition(rule: Rule) -> str:
    """The rule's condition in words with units, plus its pending period and repeat interval."""
    words = KIND_WORDS[rule.kind][1].format(**rule.params)
    if rule.pending_evaluations > 1:
        words += f", held for {rule.pending_evaluations} evaluations"
    if rule.repeat_minutes:
        words += f"; repeats every {rule.repeat_minutes} min while firing"
    return words


def scope(rule: Rule) -> str:
    """``binance, okx · BTC, ETH/USDT`` style scope; ``all`` for an unrestricted side."""
    exchanges = ", ".join(rule.exchanges) if rule.exchanges else "all exchanges"
    symbols = ", ".join(person_symbol(s) for s in rule.symbols) if rule.symbols else "all symbols"
    return f"{exchanges} · {symbols}"


def subject(text: str) -> str:
    """A state's subject for people: ``binance|BTC/USDT:USDT`` → ``binance BTC/USDT``, ``coin|BTC`` → ``BTC (all
    venues)``, ``feed|okx|funding`` → ``okx funding feed``."""
    parts = text.split("|")
    if parts[0] == "coin" and len(parts) == 2:
        return f"{parts[1]} (all venues)"
    if parts[0] == "feed" and len(parts) == 3:
        return f"{parts[1]} {parts[2]} feed"
    if len(parts) == 2:
        return f"{parts[0]} {person_symbol(parts[1])}"
    return text


def split_list(text: str | None) -> list[str] | None:
    """A comma list typed by a person as a list of stripped items; ``None`` for blank (= all)."""
    items = [item.strip() for item in (text or "").split(",") if item.strip()]
    return items or None
