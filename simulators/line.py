"""A line of simulators in one process, from a line file.

A line file (YAML, validated at load) names the line and lists its stations::

    name: battery-line
    host: 127.0.0.1
    stations:
      - {name: COATER-01, model: coater, port: 5001, device_id: 1, speed: 10, seed: 1}
      - {name: STACKER-01, model: stacker, port: 5002, device_id: 2, speed: 10,
         scenario: misalignment-drift}

``scenario`` is a path (relative to the line file) or the name of a shipped scenario. Each
station runs as an :class:`~simulators.equipment_simulator.EquipmentSimulator` with its
own HSMS port; with a state dir each keeps its state under ``<state_dir>/<name>/``.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator, ValidationError

from eap.errors import EapError
from simulators.equipment_simulator import ControlMode, EquipmentSimulator, SimulatorConfig

__all__ = ["LineError", "LineFile", "LineStation", "SimulatorLine", "load_line"]


class LineError(EapError, ValueError):
    """A line file that cannot be read or is not valid (the message names the field)."""


class LineStation(BaseModel):
    """One station of a line file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    model: str = Field(min_length=1)
    port: int = Field(ge=0, le=65535)
    device_id: int = Field(default=0, ge=0, le=32767)
    speed: float = Field(default=1.0, gt=0)
    scenario: str | None = None
    seed: int | None = None
    control: ControlMode = ControlMode.ONLINE_REMOTE
    host_verification: bool | None = None


class LineFile(BaseModel):
    """A line file: its name, the address to listen on and the stations."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "line"
    host: str = "127.0.0.1"
    stations: tuple[LineStation, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> LineFile:
        names = [s.name for s in self.stations]
        if len(set(names)) != len(names):
            raise ValueError(f"station names must be unique: {names}")
        ports = [s.port for s in self.stations if s.port]
        if len(set(ports)) != len(ports):
            raise ValueError(f"station ports must be unique: {ports}")
        return self


def load_line(path: str | Path) -> LineFile:
    """Read and validate a line file.

    Raises:
        LineError: unreadable, not YAML, or not valid (the message names the field:
            ``stations.1.port``).
    """
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LineError(f"{p}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise LineError(f"{p}: not valid YAML: {exc}") from None
    if isinstance(data, list):
        data = {"stations": data}
    if not isinstance(data, dict):
        raise LineError(f"{p}: a line file must be a mapping, not {type(data).__name__}")
    try:
        return LineFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise LineError(f"{p}: {problems}") from None


class SimulatorLine:
    """Every station of a line file, in one process.

    Args:
        line: the line.
        base_dir: where relative scenario paths start (the line file's directory).
        state_dir: each station keeps its state under ``<state_dir>/<name>/`` (``None``:
            nothing persists).
        speed: override every station's speed.
    """

    def __init__(self, line: LineFile, *, base_dir: Path | None = None,
                 state_dir: Path | None = None, speed: float | None = None) -> None:
        self.line = line
        self.simulators: list[EquipmentSimulator] = []
        for st in line.stations:
            scenario: str | Path | None = st.scenario
            if scenario is not None and base_dir is not None \
                    and (base_dir / scenario).exists():
                scenario = base_dir / scenario
            self.simulators.append(EquipmentSimulator(SimulatorConfig(
                st.model, name=st.name, host=line.host, port=st.port,
                device_id=st.device_id, speed=speed or st.speed,
                state_dir=state_dir / st.name if state_dir is not None else None,
                scenario=scenario, seed=st.seed, control=st.control,
                host_verification=st.host_verification)))

    async def start(self) -> None:
        """Start every simulator (those started are stopped again if one fails)."""
        started: list[EquipmentSimulator] = []
        try:
            for sim in self.simulators:
                await sim.start()
                started.append(sim)
        except BaseException:
            for sim in reversed(started):
                with contextlib.suppress(Exception):
                    await sim.stop()
            raise

    async def stop(self) -> None:
        """Stop every simulator."""
        for sim in reversed(self.simulators):
            await sim.stop()

    async def wait(self) -> None:
        """Until one simulator fails (its error is raised)."""
        await asyncio.gather(*(sim.wait() for sim in self.simulators))

    async def __aenter__(self) -> SimulatorLine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
