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
        {"ALPHAPULSE_SYMBOLS": "btc, ETH/USDT ,", "ALPHAPULSE_PG_PORT": "6000", "ALPHAPULSE_ANOMALY_Z_THRESHOLD": "3.5"}
    )
    assert s.symbols == ("btc", "ETH/USDT")
    assert s.local_pg_port == 6000 and s.anomaly_z_threshold == 3.5
    assert s.effective_database_url == "postgresql+psycopg://alphapulse@127.0.0.1:6000/alphapulse"
    assert load_settings({"DATABASE_URL": "postgresql+psycopg://x@h/db"}).effective_database_url.endswith("@h/db")


@pytest.mark.parametrize(
    ("env", "value"),
    [("ALPHAPULSE_PG_PORT", "fifty"), ("ALPHAPULSE_RETENTION_DAYS", "-3"), ("ALPHAPULSE_EXCHANGES", ",")],
)
def test_bad_values_name_the_variable(env, value):
    with pytest.raises(SettingsError, match=env):
        load_settings({env: value})
