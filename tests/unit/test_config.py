"""Configuration: defaults <- TOML file <- PEAKTRADE_* environment <- overrides."""

from __future__ import annotations

import pytest

from peaktrade.config import ConfigError, load_config


def test_defaults_without_file_or_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(environ={})
    assert config["mode"] == "paper"
    assert config["log_dir"] == "logs/execution"
    assert config["journal"]["max_bytes"] == 10_000_000
    assert config["journal"]["fsync"] == "interval"
    assert config["gates"]["min_notional"] == 10.0
    assert config["retention"]["days"] == 14


def test_config_is_read_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(environ={})
    with pytest.raises(TypeError):
        config["mode"] = "live"
    with pytest.raises(TypeError):
        config["journal"]["fsync"] = "never"


def test_toml_file_named_by_peaktrade_config(tmp_path):
    path = tmp_path / "desk.toml"
    path.write_text('mode = "dry_run"\n[journal]\nfsync = "always"\n'
                    '[[instruments]]\nsymbol = "BTC-USD"\nlot_size = 0.001\n')
    config = load_config(environ={"PEAKTRADE_CONFIG": str(path)})
    assert config["mode"] == "dry_run"
    assert config["journal"]["fsync"] == "always"
    assert config["journal"]["max_bytes"] == 10_000_000  # untouched keys keep defaults
    assert config["instruments"][0]["symbol"] == "BTC-USD"
    assert config["instruments"][0]["lot_size"] == 0.001


def test_peaktrade_toml_in_the_working_directory_is_read(tmp_path, monkeypatch):
    (tmp_path / "peaktrade.toml").write_text("[paper]\nstarting_cash = 5000\n")
    monkeypatch.chdir(tmp_path)
    assert load_config(environ={})["paper"]["starting_cash"] == 5000.0


def test_environment_nested_keys_use_double_underscore(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(environ={"PEAKTRADE_JOURNAL__MAX_BYTES": "5000",
                                  "PEAKTRADE_RISK__MAX_GROSS_EXPOSURE": "250000",
                                  "PEAKTRADE_LOG_DIR": "/var/desk",
                                  "PEAKTRADE_DEMO": "false",
                                  "PEAKTRADE_KILL_SWITCH": "1",
                                  "OTHER": "ignored"})
    assert config["journal"]["max_bytes"] == 5000
    assert config["risk"]["max_gross_exposure"] == 250_000.0
    assert config["log_dir"] == "/var/desk"
    assert config["demo"]["enabled"] is False


def test_precedence_defaults_then_file_then_environment_then_overrides(tmp_path):
    path = tmp_path / "desk.toml"
    path.write_text('mode = "live"\n[journal]\nfsync = "always"\nmax_bytes = 8192\n'
                    'fsync_interval_s = 3.0\n')
    environ = {"PEAKTRADE_CONFIG": str(path), "PEAKTRADE_JOURNAL__FSYNC": "never",
               "PEAKTRADE_JOURNAL__MAX_BYTES": "9000"}
    config = load_config({"journal": {"max_bytes": 10000}}, environ=environ)
    assert config["mode"] == "live"                       # file over default
    assert config["journal"]["fsync_interval_s"] == 3.0   # file over default
    assert config["journal"]["fsync"] == "never"          # environment over file
    assert config["journal"]["max_bytes"] == 10000        # overrides over environment


@pytest.mark.parametrize(("environ", "expected"), [
    ({"PEAKTRADE_JOURNAL__FSYNC": "sometimes"},
     "config journal.fsync = 'sometimes': Must be one of: never, interval, always."),
    ({"PEAKTRADE_MODE": "LIVE"},
     "config mode = 'LIVE': Must be one of: paper, live, dry_run."),
    ({"PEAKTRADE_RISK__MAX_GROSS_EXPOSURE": "-5"},
     "config risk.max_gross_exposure = '-5': Must be greater than 0."),
    ({"PEAKTRADE_JOURNAL__MAX_BYTES": "lots"},
     "config journal.max_bytes = 'lots': Not a valid integer."),
    ({"PEAKTRADE_JOURNAL__MAX_BYTES": "100"},
     "config journal.max_bytes = '100': Must be greater than or equal to 4096."),
    ({"PEAKTRADE_GATES__BLOCK_RESEARCH_IN_LIVE": "maybe"},
     "config gates.block_research_in_live = 'maybe': not a valid boolean; "
     "use true/false, 1/0, yes/no or on/off."),
    ({"PEAKTRADE_JOURNAL__FSYNK": "never"},
     "config journal.fsynk = 'never': unknown key; allowed here: fsync, fsync_interval_s, "
     "max_bytes, max_line_bytes, min_free_bytes."),
])
def test_a_wrong_value_names_key_value_and_what_is_allowed(tmp_path, monkeypatch, environ,
                                                            expected):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_config(environ=environ)
    assert str(err.value) == expected


def test_errors_inside_a_list_name_the_index(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_config({"instruments": [{"symbol": "A"}, {"symbol": "B", "lot_size": -1}]},
                    environ={})
    assert str(err.value) == "config instruments[1].lot_size = -1: Must be greater than 0."


def test_every_wrong_key_is_reported_at_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_config({"mode": "x", "journal": {"fsync": "y"}}, environ={})
    assert str(err.value).splitlines() == [
        "config mode = 'x': Must be one of: paper, live, dry_run.",
        "config journal.fsync = 'y': Must be one of: never, interval, always."]


def test_missing_config_file_and_bad_toml_say_so(tmp_path):
    with pytest.raises(ConfigError, match="PEAKTRADE_CONFIG = '.*nope.toml': file not found"):
        load_config(environ={"PEAKTRADE_CONFIG": str(tmp_path / "nope.toml")})
    bad = tmp_path / "bad.toml"
    bad.write_text("mode = \n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(environ={"PEAKTRADE_CONFIG": str(bad)})
