"""The EAP configuration: loading, environment overrides, precise errors, masked secrets,
and the `eap config check` / `eap asyncapi` commands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from eap.hsms.parameters import ConnectMode
from eap.runtime.cli import main
from eap.runtime.config import ConfigError, default_state_dir, load_config, MqttProtocol
from equipment_models import MODEL_NAMES
from tests.unit.bridge.bridge_model import MODEL_DATA

REPO = Path(__file__).resolve().parents[3]


def base_config() -> dict[str, Any]:
    return {
        "mqtt": {"host": "127.0.0.1", "port": 1883, "username": "eap", "password": "s3cret"},
        "uns": {"enterprise": "acme", "site": "plant1", "area": "cells", "line": "line1"},
        "equipment": [
            {"id": "BASE-01", "model": "base", "hsms": {"port": 5001}},
            {"id": "TEST-01", "model": "tester.yaml",
             "hsms": {"host": "127.0.0.1", "port": 5002, "mode": "passive", "session_id": 3}},
        ],
    }


@pytest.fixture
def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in list(os.environ):
        if name.startswith("EAP_"):
            monkeypatch.delenv(name)
    (tmp_path / "tester.yaml").write_text(yaml.safe_dump(MODEL_DATA), encoding="utf-8")

    def _write(data: Any, name: str = "eap.yaml") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data),
                        encoding="utf-8")
        return path

    return _write


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.errors


def test_loads_with_defaults(write: Any) -> None:
    config = load_config(write(base_config()))
    assert config.mqtt.protocol is MqttProtocol.AUTO
    assert config.mqtt.keepalive == 60
    assert (config.metrics.host, config.logging.level) == ("127.0.0.1", "INFO")
    assert config.uns.prefix.line == "line1"
    test = config.equipment[1]
    assert test.hsms is not None
    assert (test.hsms.mode, test.hsms.session_id) == (ConnectMode.PASSIVE, 3)
    assert test.hsms.parameters().t3 == 45.0
    models = config.models()
    assert (models["BASE-01"].name, models["TEST-01"].name) == ("BASE", "TESTER")


def test_equipment_of_one_model_share_it_and_a_later_load_reads_the_file_again(
        write: Any, tmp_path: Path) -> None:
    data = base_config()
    data["equipment"].append({"id": "TEST-02", "model": "tester.yaml", "hsms": {"port": 5003}})
    config = load_config(write(data))
    first, second = config.equipment[1].equipment_model, config.equipment[2].equipment_model
    assert first is second  # loaded once for the whole config
    assert config.equipment[0].equipment_model is not first
    changed = {**MODEL_DATA, "name": "TESTER-2"}
    (tmp_path / "tester.yaml").write_text(yaml.safe_dump(changed), encoding="utf-8")
    again = load_config(write(data))
    assert again.equipment[1].equipment_model.name == "TESTER-2"  # no stale model


def test_state_dir_default(write: Any, monkeypatch: pytest.MonkeyPatch,
                           tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_state_dir() == tmp_path / "state" / "eap"
    assert load_config(write(base_config())).state_dir == tmp_path / "state" / "eap"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_state_dir() == Path.home() / ".local" / "state" / "eap"


def test_environment_wins_over_the_file(write: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EAP_MQTT__HOST", "broker.example")
    monkeypatch.setenv("EAP_MQTT__PASSWORD", "from-env")
    monkeypatch.setenv("EAP_UNS__LINE", "line9")
    monkeypatch.setenv("EAP_LOGGING__LEVEL", "debug")
    monkeypatch.setenv("EAP_STATE_DIR", "/tmp/eap-state")
    config = load_config(write(base_config()))
    assert config.mqtt.host == "broker.example"
    assert config.mqtt.port == 1883  # the file's other fields stay
    assert config.mqtt.resolved_password() is not None
    assert config.mqtt.resolved_password().get_secret_value() == "from-env"  # type: ignore[union-attr]
    assert (config.uns.line, config.uns.site) == ("line9", "plant1")
    assert config.logging.level == "DEBUG"
    assert config.state_dir == Path("/tmp/eap-state")


def test_environment_values_are_validated(write: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EAP_MQTT__PORT", "70000")
    assert errors_of(write(base_config())) == [
        "mqtt.port: Input should be less than or equal to 65535"]


def test_password_file(write: Any, tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("file-secret\n", encoding="utf-8")
    data = base_config()
    data["mqtt"] = {"username": "eap", "password_file": str(secret)}
    config = load_config(write(data))
    assert config.mqtt.resolved_password().get_secret_value() == "file-secret"  # type: ignore[union-attr]
    data["mqtt"]["password"] = "also"
    assert errors_of(write(data)) == ["mqtt: give password or password_file, not both"]
    data["mqtt"] = {"username": "eap", "password_file": str(tmp_path / "missing")}
    (error,) = errors_of(write(data))
    assert error.startswith("mqtt.password_file: Path does not point to a file")


@pytest.mark.parametrize(("change", "expected"), [
    ({"mqtt": {"protocol": 4}}, "mqtt.protocol: Input should be 'auto', '5' or '3.1.1'"),
    ({"mqtt": {"tls": {"cert_file": "/etc/hostname"}}},
     "mqtt.tls: cert_file and key_file go together"),
    ({"mqtt": {"password": "x"}}, "mqtt: a password needs a username"),
    ({"uns": {"enterprise": "acme", "site": "a/b", "area": "c", "line": "d"}},
     "uns.site: topic level 'a/b' holds '/' (not allowed in a topic level)"),
    ({"uns": {"enterprise": "acme", "site": "s", "area": "c"}}, "uns.line: Field required"),
    ({"outbox": {"max_records": 0}},
     "outbox.max_records: Input should be greater than or equal to 1"),
    ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
    ({"logging": {"level": "chatty"}}, "logging.level: Input should be 'DEBUG', 'INFO', "
                                       "'WARNING', 'ERROR' or 'CRITICAL'"),
])
def test_precise_errors(write: Any, change: dict[str, Any], expected: str) -> None:
    data = {**base_config(), **change}
    assert errors_of(write(data)) == [expected]


def test_equipment_errors_name_the_entry(write: Any) -> None:
    data = base_config()
    data["equipment"].append({"id": "X-1", "model": "x", "hsms": {"port": 5003}})
    (error,) = errors_of(write(data))
    assert error.startswith("equipment[2].model: unknown equipment model 'x'")
    data["equipment"][2] = {"id": "bad/id", "model": "base", "hsms": {"port": 5003}}
    (error,) = errors_of(write(data))
    assert error.startswith("equipment[2].id: String should match pattern")
    data["equipment"][2] = {"id": "X-1", "model": "base"}
    assert errors_of(write(data)) == ["equipment[2]: hsms: required (how the EAP reaches the "
                                      "equipment)"]
    data["equipment"][2] = {"id": "X-1", "model": "base", "hsms": {"port": 5003},
                            "plc": {"tag_map": "absent.yaml"}}
    (error,) = errors_of(write(data))
    assert error.startswith("equipment[2].plc.tag_map: Path does not point to a file")
    data["equipment"][2] = {"id": "BASE-01", "model": "base", "hsms": {"port": 5003}}
    assert errors_of(write(data)) == ["equipment[2].id: 'BASE-01' is already equipment[0]"]
    data["equipment"][2] = {"id": "X-1", "model": "base", "hsms": {"port": 5001}}
    assert errors_of(write(data)) == ["equipment[2].hsms: same endpoint as equipment[0]"]


def test_file_problems(write: Any, tmp_path: Path) -> None:
    assert errors_of(tmp_path / "absent.yaml") == ["No such file or directory"]
    (error,) = errors_of(write("mqtt: [unclosed"))
    assert error.startswith("not valid YAML")
    assert errors_of(write("- a list")) == ["a config must be a mapping, not list"]


def test_example_config_is_valid(write: Any) -> None:
    config = load_config(REPO / "config" / "eap.example.yaml")
    assert [e.model for e in config.equipment] == list(MODEL_NAMES)
    assert [e.hsms.port for e in config.equipment if e.hsms] == [5001, 5002, 5003, 5004]


# --- CLI --------------------------------------------------------------------------------------


def test_config_check_prints_resolved_config_with_secrets_masked(
        write: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EAP_MQTT__PASSWORD", "env-secret-value")
    path = write(base_config())
    assert main(["config", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out
    assert "env-secret-value" not in out
    resolved = yaml.safe_load(out)
    assert resolved["mqtt"]["password"] == "***"
    assert resolved["equipment"][1]["hsms"]["mode"] == "passive"
    assert resolved["equipment"][0]["hsms"]["t3"] == 45.0


def test_config_check_invalid_exits_2(write: Any, capsys: pytest.CaptureFixture[str]) -> None:
    data = base_config()
    data["equipment"][0]["model"] = "nope"
    assert main(["config", "check", str(write(data))]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "equipment[0].model: unknown equipment model 'nope'" in captured.err
    assert "s3cret" not in captured.err


def test_asyncapi_command(write: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["asyncapi"]) == 0
    generic = yaml.safe_load(capsys.readouterr().out)
    assert generic["asyncapi"] == "3.0.0"
    assert generic["channels"]["status"]["address"].startswith("{enterprise}/")
    assert main(["asyncapi", "--config", str(write(base_config()))]) == 0
    configured = yaml.safe_load(capsys.readouterr().out)
    status = configured["channels"]["status"]
    assert status["address"] == "acme/plant1/cells/line1/{equipment_id}/status"
    assert status["parameters"]["equipment_id"]["enum"] == ["BASE-01", "TEST-01"]
    assert "PURGE_DIE" in configured["info"]["description"]
    data = base_config()
    data["uns"]["area"] = "+"
    assert main(["asyncapi", "--config", str(write(data))]) == 2


def test_environment_json_and_whole_equipment_list(write: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EAP_LOGGING__JSON", "false")
    monkeypatch.setenv("EAP_EQUIPMENT", '[{"id": "X-1", "model": "base", "hsms": {"port": 6000}}]')
    config = load_config(write(base_config()))
    assert config.logging.json_lines is False
    assert [e.id for e in config.equipment] == ["X-1"]
