"""The EAP configuration: one YAML file, environment overrides, validated at load.

Theory of operation
-------------------
:func:`load_config` reads the YAML file and validates it into an :class:`EapConfig`
(pydantic-settings). Environment variables ``EAP_<SECTION>__<FIELD>`` (``EAP_MQTT__HOST``,
``EAP_MQTT__PASSWORD``, ``EAP_UNS__LINE``, ``EAP_STATE_DIR``) win over the file; nested
sections are merged field by field. Validation is complete before the EAP starts: the UNS
levels are valid topic levels, equipment ids are unique and usable as topic levels, every
equipment's model is loaded and checked (:attr:`EquipmentConfig.model` names a model of
``equipment_models`` or a YAML path, relative paths being relative to the config file), and
files named by the config (password file, TLS files) exist. Every problem is reported with
its place, e.g. ``equipment[2].model: unknown equipment model 'x' ...``
(:class:`ConfigError`).

:meth:`EapConfig.resolved` gives the configuration as plain data with secrets replaced by
``***``; ``eap config check FILE`` prints it as YAML.
"""

from __future__ import annotations

import contextvars
import enum
import os
import platform
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    FilePath,
    model_validator,
    PrivateAttr,
    SecretStr,
    ValidationError,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from eap.bridge.topics import check_level, TopicError, UnsPrefix
from eap.errors import EapError
from eap.gem.model import EquipmentModel, ModelError
from eap.hsms.parameters import ConnectMode, HsmsParameters

__all__ = [
    "ConfigError",
    "EapConfig",
    "EquipmentConfig",
    "HsmsConfig",
    "LoggingConfig",
    "MetricsConfig",
    "MqttConfig",
    "MqttProtocol",
    "OutboxConfig",
    "PlcConfig",
    "ServeHsmsConfig",
    "TlsConfig",
    "UnsConfig",
    "default_state_dir",
    "load_config",
    "MASK",
]

MASK: Final = "***"
"""What secrets are shown as."""


class ConfigError(EapError):
    """A configuration that cannot be used.

    Attributes:
        errors: one line per problem, each starting with its place (``mqtt.port: ...``).
    """

    def __init__(self, source: str, errors: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(errors))
        self.source = source
        self.errors = errors


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/eap``, else ``~/.local/state/eap``."""
    base = os.environ.get("XDG_STATE_HOME")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "eap"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttProtocol(enum.StrEnum):
    """Which MQTT version to speak."""

    AUTO = "auto"
    """MQTT 5, falling back to 3.1.1 when the broker refuses it."""
    V5 = "5"
    V311 = "3.1.1"


class TlsConfig(_Section):
    """TLS to the broker: the CA to trust, and a client certificate if the broker wants one."""

    ca_file: FilePath | None = None
    cert_file: FilePath | None = None
    key_file: FilePath | None = None

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class MqttConfig(_Section):
    """The MQTT broker the EAP publishes to."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    password_file: FilePath | None = None
    tls: TlsConfig | None = None
    client_id: str = Field(default_factory=lambda: f"eap-{platform.node() or 'host'}",
                           min_length=1, max_length=128)
    keepalive: int = Field(default=60, ge=5, le=65535)
    protocol: MqttProtocol = MqttProtocol.AUTO
    max_inflight: int = Field(default=100, ge=1, le=65535)
    """Most QoS 1 publishes awaiting PUBACK; on MQTT 5 also at most the broker's Receive
    Maximum (Mosquitto: ``max_inflight_messages``, 20 unless raised)."""

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value

    @model_validator(mode="after")
    def _secret(self) -> MqttConfig:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password or password_file, not both")
        if (self.password is not None or self.password_file is not None) \
                and self.username is None:
            raise ValueError("a password needs a username")
        return self

    def resolved_password(self) -> SecretStr | None:
        """The password, read from ``password_file`` (first line, stripped) if given there."""
        if self.password_file is not None:
            text = self.password_file.read_text(encoding="utf-8").splitlines()
            return SecretStr(text[0].strip() if text else "")
        return self.password


class UnsConfig(_Section):
    """The ISA-95 levels every topic starts with."""

    enterprise: str
    site: str
    area: str
    line: str

    @field_validator("enterprise", "site", "area", "line")
    @classmethod
    def _level(cls, value: str) -> str:
        try:
            return check_level(value)
        except TopicError as exc:
            raise ValueError(str(exc)) from None

    @property
    def prefix(self) -> UnsPrefix:
        """As a topic prefix."""
        return UnsPrefix(self.enterprise, self.site, self.area, self.line)


class OutboxConfig(_Section):
    """Bounds of the durable outbox (full: the equipment is not acknowledged and spools)."""

    max_records: int = Field(default=1_000_000, ge=1)
    max_bytes: int = Field(default=1 << 30, ge=1024)


class MetricsConfig(_Section):
    """The Prometheus ``/metrics``, ``/livez``, ``/readyz`` endpoint (port 0: any free)."""

    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)


class LoggingConfig(_Section):
    """Log level and format (``json: null``: JSON unless writing to a terminal)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    json_lines: bool | None = Field(default=None, alias="json")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class HsmsConfig(_Section):
    """The HSMS session to one equipment (E37 timers in seconds)."""

    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    mode: ConnectMode = ConnectMode.ACTIVE
    session_id: int = Field(default=0, ge=0, le=32767)
    t3: float = Field(default=45.0, gt=0)
    t5: float = Field(default=10.0, gt=0)
    t6: float = Field(default=5.0, gt=0)
    t7: float = Field(default=10.0, gt=0)
    t8: float = Field(default=5.0, gt=0)
    linktest: float | None = Field(default=30.0, gt=0,
                                   description="idle seconds before a Linktest; null: never")

    def parameters(self) -> HsmsParameters:
        """As :class:`~eap.hsms.parameters.HsmsParameters`."""
        return HsmsParameters(t3=self.t3, t5=self.t5, t6=self.t6, t7=self.t7, t8=self.t8,
                              linktest=self.linktest)


class ServeHsmsConfig(_Section):
    """An HSMS passive port a PLC equipment serves to an existing GEM host."""

    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    session_id: int = Field(default=0, ge=0, le=32767)


class PlcConfig(_Section):
    """A PLC retrofitted as GEM equipment through the OPC UA adapter (``eap.plc``).

    Without ``serve_hsms`` the EAP serves the equipment on an internal loopback HSMS port and
    bridges it to MQTT like native equipment; with it, the plant's GEM host gets its own GEM
    interface on that port as well (E30: one host per equipment; docs/retrofit.md).
    """

    tag_map: FilePath
    serve_hsms: ServeHsmsConfig | None = None


_EQUIPMENT_ID: Final = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"

_LOADED: contextvars.ContextVar[dict[str, EquipmentModel] | None] = contextvars.ContextVar(
    "eap_config_models", default=None)
"""Models loaded during one :func:`load_config`, by their ``model`` string: a line of 200
equipment of four models reads and validates four model files, not 200 (~0.1 s each)."""


class EquipmentConfig(_Section):
    """One equipment: its id on the MES side, its model, how to reach it.

    Exactly one of ``hsms`` (native GEM equipment) and ``plc`` (a PLC through the OPC UA
    adapter; its tag map is loaded and checked against the model here) is given.
    """

    id: Annotated[str, Field(pattern=_EQUIPMENT_ID)]
    model: str = Field(min_length=1, description="a model of equipment_models, or a path")
    hsms: HsmsConfig | None = None
    plc: PlcConfig | None = None
    _model: EquipmentModel | None = PrivateAttr(default=None)

    @field_validator("model")
    @classmethod
    def _load(cls, value: str) -> str:
        from equipment_models import load_model

        loaded = _LOADED.get()
        if loaded is not None and value in loaded:
            return value
        try:
            model = load_model(value)
        except ModelError as exc:
            raise ValueError(str(exc)) from None
        if loaded is not None:
            loaded[value] = model
        return value

    @model_validator(mode="after")
    def _link(self) -> EquipmentConfig:
        if self.plc is not None:
            if self.hsms is not None:
                raise ValueError("give hsms or plc, not both")
            from eap.plc.link_status import with_plc_link
            from eap.plc.tag_map import load_tag_map, TagMapError
            from eap.runtime.app import host_model

            try:
                load_tag_map(self.plc.tag_map, host_model(with_plc_link(self.equipment_model)))
            except (TagMapError, ModelError) as exc:
                raise ValueError(f"plc.tag_map: {exc}") from None
            return self
        if self.hsms is None:
            raise ValueError("hsms: required (how the EAP reaches the equipment)")
        return self

    @property
    def equipment_model(self) -> EquipmentModel:
        """The loaded model (loaded once)."""
        if self._model is None:
            from equipment_models import load_model

            self._model = load_model(self.model)
        return self._model


class EapConfig(BaseSettings):
    """The whole configuration (see the module)."""

    model_config = SettingsConfigDict(env_prefix="EAP_", env_nested_delimiter="__",
                                      extra="forbid", frozen=True)

    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    uns: UnsConfig
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    state_dir: Path = Field(default_factory=default_state_dir)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    equipment: list[EquipmentConfig] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # earlier wins: the environment over the file's data (given as init arguments)
        return env_settings, init_settings

    @model_validator(mode="after")
    def _unique(self) -> EapConfig:
        seen: dict[str, int] = {}
        endpoints: dict[tuple[Any, ...], int] = {}
        for index, eq in enumerate(self.equipment):
            if eq.id in seen:
                raise ValueError(f"equipment[{index}].id: {eq.id!r} is already "
                                 f"equipment[{seen[eq.id]}]")
            seen[eq.id] = index
            if eq.hsms is not None:
                h = eq.hsms
                key = ((h.mode, h.host, h.port) if h.mode is ConnectMode.PASSIVE
                       else (h.mode, h.host, h.port, h.session_id))
                if key in endpoints:
                    raise ValueError(f"equipment[{index}].hsms: same endpoint as "
                                     f"equipment[{endpoints[key]}]")
                endpoints[key] = index
        return self

    def models(self) -> dict[str, EquipmentModel]:
        """Equipment id -> loaded model."""
        return {eq.id: eq.equipment_model for eq in self.equipment}

    def resolved(self) -> dict[str, Any]:
        """The configuration as plain data, secrets shown as ``***`` (for ``config check``)."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        mqtt = data["mqtt"]
        if mqtt.get("password") is not None:
            mqtt["password"] = MASK
        return data


def _place(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(config)"


def _messages(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        place = _place(tuple(err["loc"]))
        if err["type"] == "value_error" and msg.startswith("equipment["):
            lines.append(msg)
        else:
            lines.append(f"{place}: {msg}")
    return lines


def _relative_models(data: dict[str, Any], base: Path) -> None:
    """Model and tag map paths relative to the config file's directory."""
    equipment = data.get("equipment")
    if not isinstance(equipment, list):
        return
    for entry in equipment:
        if isinstance(entry, dict) and isinstance(entry.get("model"), str):
            model = entry["model"]
            if model.endswith((".yaml", ".yml")) and not Path(model).is_absolute():
                entry["model"] = str(base / model)
        plc = entry.get("plc") if isinstance(entry, dict) else None
        if isinstance(plc, dict) and isinstance(plc.get("tag_map"), str) and \
                not Path(plc["tag_map"]).is_absolute():
            plc["tag_map"] = str(base / plc["tag_map"])


def load_config(path: str | Path) -> EapConfig:
    """Read, override from the environment and validate a config file.

    Raises:
        ConfigError: unreadable, not YAML, or invalid; ``errors`` has one line per problem.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), [exc.strerror or str(exc)]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(str(p), [f"not valid YAML: {exc}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(str(p), [f"a config must be a mapping, not {type(data).__name__}"])
    _relative_models(data, p.parent)
    loaded: dict[str, EquipmentModel] = {}
    token = _LOADED.set(loaded)
    try:
        config = EapConfig(**data)
    except ValidationError as exc:
        raise ConfigError(str(p), _messages(exc)) from None
    finally:
        _LOADED.reset(token)
    for entry in config.equipment:
        if entry._model is None and entry.model in loaded:
            entry._model = loaded[entry.model]
    return config
