"""Settings: parsing, clear errors, and the README table documenting every variable."""

from __future__ import annotations

import pytest

from settings import PROJECT_ROOT, SettingsError, documented_variables, load_settings


def test_every_setting_is_in_the_readme_table():
    readme = (PROJECT_ROOT / "README.md").read_text()
    rows = {line.split("|")[1].strip().strip("`") for line in readme.splitlines() if line.startswith("| `")}
    assert {env for env, _, _ in documented_variables()} <= rows


def test_values_are_parsed_by_type():
    s = load_settings(
        {"ALPHAPULSE_SYMBOLS": "btc, ETH/USDT ,", "ALPHAPULSE_PG_PORT": "6000",
         "ALPHAPULSE_ANOMALY_THRESHOLD_SCALE": "1.5"}
    )
    assert s.symbols == ("btc", "ETH/USDT")
    assert s.local_pg_port == 6000 and s.anomaly_threshold_scale == 1.5
    passfile = s.var_dir / "secrets" / "pgpass"
    assert s.effective_database_url == f"postgresql+psycopg://alphapulse@127.0.0.1:6000/alphapulse?passfile={passfile}"
    assert s.database_url_for("app").startswith("postgresql+psycopg://alphapulse_app@127.0.0.1:6000/alphapulse?")
    external = load_settings({"DATABASE_URL": "postgresql+psycopg://x@h/db"})
    assert {external.database_url_for(job) for job in ("owner", "ingest", "app", "alerts")} == {
        "postgresql+psycopg://x@h/db"
    }  # one URL for every role on an external database unless set per role
    own = load_settings(
        {"DATABASE_URL": "postgresql+psycopg://x@h/db", "DATABASE_APP_URL": "postgresql+psycopg://r@h/db"}
    )
    assert own.database_url_for("app").endswith("//r@h/db") and own.database_url_for("ingest").endswith("//x@h/db")


def test_with_database_keeps_each_role_on_the_embedded_cluster():
    s = load_settings({"ALPHAPULSE_PG_PORT": "6000"}).with_database(
        "postgresql+psycopg://alphapulse@127.0.0.1:7000/test_db?passfile=/v/secrets/pgpass"
    )
    assert (
        s.database_url_for("app")
        == "postgresql+psycopg://alphapulse_app@127.0.0.1:7000/test_db?passfile=/v/secrets/pgpass"
    )
    plain = load_settings({}).with_database("postgresql+psycopg://u:pw@db.example/x")
    assert plain.database_url_for("ingest") == "postgresql+psycopg://u:pw@db.example/x"


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("ALPHAPULSE_PG_PORT", "fifty"),
        ("ALPHAPULSE_RETENTION_DAYS", "-3"),
        ("ALPHAPULSE_EXCHANGES", ","),
        ("ALPHAPULSE_PG_SYNCHRONOUS_COMMIT", "maybe"),
        ("ALPHAPULSE_FUNDING_UNIVERSE", "some"),
    ],
)
def test_bad_values_name_the_variable(env, value):
    with pytest.raises(SettingsError, match=env):
        load_settings({env: value})
