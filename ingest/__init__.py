"""Ingest workers: exchange (ccxt) -> validate -> anomalies -> TimescaleDB."""
