"""Rebuild ``tests/data/fake_exchange/`` from the recorded data in ``../shared/data`` (run once, by hand).

``python -m tests.fake_exchange.trim [SHARED_DATA_DIR]`` copies the small recorded files verbatim and
trims the large ones by **selecting rows** (never editing a value; CSV lines are copied as text). What is
kept is listed in ``tests/data/fake_exchange/PROVENANCE.md``; gzip output is deterministic (mtime=0).

Raises ``FileNotFoundError`` when a source file is missing.
"""

from __future__ import annotations

import gzip
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from settings import PROJECT_ROOT

OUT = PROJECT_ROOT / "tests" / "data" / "fake_exchange"
DEFAULT_SHARED = PROJECT_ROOT.parent / "shared" / "data"

#: Only sources whose repository states a licence (issue 8): MIT (``../shared/data/PROVENANCE.md`` §4, §5) and
#: Unlicense (§1). Removed before anything is written: files of earlier versions from unlicensed sources.
UNLICENSED = (
    "fapi_v1_premiumIndex_all_symbols_2025-06-17T0838Z.json",
    "fapi_v1_exchangeInfo_2026-03-31T0843Z_reserialized.json.gz",
    "binance_usdm_open_interest_4h.csv.gz",
    "binance_usdm_open_interest_1d.csv.gz",
)
VERBATIM = (
    "funding/binance_usdm_funding_6sym_2025-03-06_2025-06-15.csv.gz",
    "funding/binance_usdm_funding_7sym_2025-05-25_2025-06-24.csv.gz",
)
VENUES = ("binance", "bybit", "okx")
#: 1-minute Binance klines kept: [2025-06-16 00:00, 2025-06-18 00:00) UTC, ms.
KLINES_1M = (1750032000000, 1750204800000)
#: 1-hour cross-venue candles kept: [2025-06-10, 2025-06-20) and [2026-02-01, 2026-03-06) UTC, ms.
CANDLES_1H = ((1749513600000, 1750377600000), (1769904000000, 1772755200000))


def _filter_csv(src: Path, dst: Path, keep: Callable[[list[str]], bool]) -> int:
    """Copy the header and every line of gzip CSV ``src`` for which ``keep(fields)`` is true to ``dst``."""
    kept = 0
    with (
        gzip.open(src, "rt", newline="") as fin,
        open(dst, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
    ):
        gz.write(fin.readline().encode())
        for line in fin:
            if keep(line.rstrip("\r\n").split(",")):
                gz.write(line.encode())
                kept += 1
    return kept


def _in_windows(ms: str, windows: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= int(ms) < hi for lo, hi in windows)


def main(shared: Path) -> None:
    """Write the trimmed copies into ``OUT`` (after deleting :data:`UNLICENSED` files) and print one line per file
    (rows kept)."""
    OUT.mkdir(parents=True, exist_ok=True)
    for name in UNLICENSED:
        (OUT / name).unlink(missing_ok=True)
    for rel in VERBATIM:
        shutil.copyfile(shared / rel, OUT / Path(rel).name)
        print(f"copied {rel}")
    jobs = (
        (
            "ohlcv/binance_usdm_klines_1m_2025-05-25_2025-06-24.csv.gz",
            "binance_usdm_klines_1m_2025-06-16_2025-06-17.csv.gz",
            lambda f: _in_windows(f[1], (KLINES_1M,)),
        ),
        (
            "ohlcv/cross_venue_candles_1h_2025-03-06_2026-03-05.csv.gz",
            "cross_venue_candles_1h_binance_bybit_okx.csv.gz",
            lambda f: f[1] in VENUES and _in_windows(f[0], CANDLES_1H),
        ),
    )
    for rel, name, keep in jobs:
        print(f"{rel} -> {name}: {_filter_csv(shared / rel, OUT / name, keep)} rows")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SHARED)
