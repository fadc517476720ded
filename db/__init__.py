"""Database layer: schema, engine, embedded local cluster, writes (ingest side) and queries (app side)."""
