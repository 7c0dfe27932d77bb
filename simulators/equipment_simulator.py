"""A GEM equipment simulator: one station of the battery line served over HSMS.

Theory of operation
-------------------
:class:`EquipmentSimulator` is the thin asyncio shell around three sans-I/O parts: the GEM
equipment (:class:`~eap.gem.equipment.GemEquipment`, built from the station's model in
``equipment_models/``), the production (:class:`~simulators.production.Production`:
carrier flow, processing commands, scenario, the station's generator) and the HSMS server
(:class:`~eap.gem.equipment_session.GemEquipmentServer`, passive).

It owns the simulated clock (a :class:`~simulators.simulation_loop.SimulationLoop`, shared with
the PLC simulator): ``sim = (loop.time() - real_at_start) * speed``. Its one task calls
``Production.advance(sim)``, kicks the server's pump (what the station queued goes out, or to
the spool), logs what happened and sleeps until the simulated time the production asked for,
divided by the speed -- or until a host command wakes it.

The ``link_drop`` fault is the shell's: while it is active the HSMS session is stopped (the
connection drops, new ones are refused); the equipment goes NOT COMMUNICATING and spools
what the host enabled for spooling (S2F43), and listens again on the same port when the
fault ends.

With a state dir, the GEM state (host configuration, recipes, carriers) persists as
``gem-<name>.json`` and the simulator's own state as ``simulator-<name>.json``: the id
serials (a restarted simulator never reuses a cell id) and which shipped recipes were
installed (they are stored once: a recipe the host deleted stays deleted).
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import structlog
import yaml

from eap.errors import EapError
from eap.gem.control_state import ControlStateName
from eap.gem.equipment import GemEquipment
from eap.gem.equipment_session import GemEquipmentServer
from eap.gem.model import EquipmentModel
from eap.hsms.parameters import HsmsParameters
from equipment_models import load_model, model_path
from simulators.production import Notice, Production
from simulators.scenario import load_scenario, Scenario
from simulators.simulation_loop import SimulationLoop
from simulators.station import Station
from simulators.stations import station_class as registered_station

__all__ = ["RECIPES_DIR", "ControlMode", "EquipmentSimulator", "SimulatorConfig",
           "SimulatorError", "shipped_recipes"]

_log = structlog.get_logger(__name__)

RECIPES_DIR: Final = Path(__file__).resolve().parent / "recipes"
"""The shipped recipes: ``recipes/<model>/<PPID>.yaml``."""
_STATE_VERSION: Final = 1


class SimulatorError(EapError):
    """A simulator that cannot be built or run (bad model, recipe, scenario, state)."""


class ControlMode(StrEnum):
    """The control state a simulator comes up in."""

    ONLINE_REMOTE = "online-remote"
    ONLINE_LOCAL = "online-local"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """How to run one simulator.

    Attributes:
        model: a model name in ``equipment_models/`` (``coater``) or a model file's path.
        name: the instance name (logs, state files); default: the model's file stem.
        host: the address to listen on (loopback by default).
        port: the HSMS port (0: any free port, read :attr:`EquipmentSimulator.port`).
        device_id: the HSMS session id.
        speed: simulated seconds per real second.
        state_dir: where state persists (``None``: nothing persists).
        scenario: a scenario file, the name of a shipped one, or a :class:`Scenario`.
        seed: the random seed (``None``: a random one).
        control: the control state at start.
        host_verification: override the model's ``material.host_verification``.
        station: the station class (default: the model's in ``simulators/stations``).
        parameters: HSMS timers and limits.
    """

    model: str | Path
    name: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    device_id: int = 0
    speed: float = 1.0
    state_dir: Path | None = None
    scenario: str | Path | Scenario | None = None
    seed: int | None = None
    control: ControlMode = ControlMode.ONLINE_REMOTE
    host_verification: bool | None = None
    station: type[Station] | None = None
    parameters: HsmsParameters | None = field(default=None, compare=False)


def shipped_recipes(model_name: str) -> dict[str, dict[str, Any]]:
    """The recipes shipped for a model, by PPID (the file stem).

    Raises:
        SimulatorError: a recipe file that is not a YAML mapping.
    """
    out: dict[str, dict[str, Any]] = {}
    for path in sorted((RECIPES_DIR / model_name).glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise SimulatorError(f"{path}: {exc}") from None
        if not isinstance(data, dict):
            raise SimulatorError(f"{path}: a recipe must be a mapping of parameter values")
        out[path.stem] = data
    return out


class EquipmentSimulator:
    """One simulated GEM equipment.

    Args:
        config: what to run.
    """

    def __init__(self, config: SimulatorConfig) -> None:
        if config.speed <= 0:
            raise SimulatorError(f"speed must be positive, not {config.speed}")
        self.config = config
        try:
            path = model_path(config.model)
            model = load_model(path)
        except ValueError as exc:
            raise SimulatorError(str(exc)) from None
        self.model_name = path.stem
        self.name = config.name or self.model_name
        if config.host_verification is not None and model.material is not None:
            model = model.model_copy(update={"material": model.material.model_copy(
                update={"host_verification": config.host_verification})})
        self.model: EquipmentModel = model
        try:
            cls = config.station or registered_station(self.model_name)
        except KeyError as exc:
            raise SimulatorError(str(exc.args[0])) from None
        scenario = config.scenario
        if scenario is not None and not isinstance(scenario, Scenario):
            try:
                scenario = load_scenario(scenario)
            except ValueError as exc:
                raise SimulatorError(str(exc)) from None
        self.scenario: Scenario | None = scenario
        self.seed = config.seed if config.seed is not None else random.randrange(2**32)
        self._state_path = (config.state_dir / f"simulator-{self.name}.json"
                            if config.state_dir is not None else None)
        state = self._load_state()
        self.serials: dict[str, int] = {str(k): int(v)
                                        for k, v in state.get("serials", {}).items()}
        self._saved_serials = dict(self.serials)
        self.equipment = GemEquipment(model, state_dir=config.state_dir, name=self.name)
        self._install_recipes(list(state.get("shipped_recipes", [])))
        self._set_control(config.control)
        self.production = Production(self.equipment, cls, rng=random.Random(self.seed),
                                     scenario=scenario, serials=self.serials)
        self.production.run_control.environment_period = max(1.0, config.speed * 0.05)
        self.server = GemEquipmentServer(self.equipment, config.host, config.port,
                                         device_id=config.device_id,
                                         parameters=config.parameters)
        self._log = _log.bind(equipment=self.name)
        self.loop = SimulationLoop(config.speed, self._cycle, name=f"simulator-{self.name}",
                                   log=self._log, failed="simulator_failed")
        """The simulated clock and the production task."""
        self.production.on_command = self.loop.wake
        self._link_down = False

    # --- state --------------------------------------------------------------------------

    def _load_state(self) -> dict[str, Any]:
        if self._state_path is None or not self._state_path.exists():
            return {}
        try:
            state = json.loads(self._state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SimulatorError(f"{self._state_path}: unreadable: {exc}") from None
        if not isinstance(state, dict) or state.get("version") != _STATE_VERSION \
                or not isinstance(state.get("serials", {}), dict):
            raise SimulatorError(f"{self._state_path}: not a simulator state (version "
                                 f"{_STATE_VERSION})")
        return state

    def save(self) -> None:
        """Write the simulator's state (serials, installed recipes); no-op without a dir."""
        if self._state_path is None:
            return
        self._state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._state_path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"version": _STATE_VERSION, "serials": self.serials,
                       "shipped_recipes": sorted(self._installed)}, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._state_path)
        self._saved_serials = dict(self.serials)

    def _install_recipes(self, installed: list[str]) -> None:
        self._installed = set(installed)
        for ppid, values in shipped_recipes(self.model_name).items():
            if ppid in self._installed:
                continue
            ack = self.equipment.recipes.store(ppid, values)
            if int(ack) != 0:
                raise SimulatorError(
                    f"shipped recipe {self.model_name}/{ppid} refused by the model's recipe "
                    f"schema (ACKC7 {int(ack)}): {self.equipment.recipes.last_refusal}")
            self._installed.add(ppid)
        self.equipment.save()
        self.save()

    def _set_control(self, mode: ControlMode) -> None:
        eq = self.equipment
        if mode is ControlMode.OFFLINE:
            if eq.control.state is not ControlStateName.EQUIPMENT_OFF_LINE:
                eq.operator_off_line()
            return
        want = (ControlStateName.ON_LINE_REMOTE if mode is ControlMode.ONLINE_REMOTE
                else ControlStateName.ON_LINE_LOCAL)
        if eq.control.switch is not want:
            if want is ControlStateName.ON_LINE_REMOTE:
                eq.operator_remote()
            else:
                eq.operator_local()

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port listened on (after :meth:`start` when configured 0)."""
        return self.server.port

    @property
    def speed(self) -> float:
        """Simulated seconds per real second."""
        return self.config.speed

    def sim_time(self) -> float:
        """Simulated seconds since the start."""
        return self.loop.now()

    async def start(self) -> None:
        """Listen and start production."""
        await self.server.start()
        self.loop.start()
        self._log.info("simulator_started", model=self.model.name, host=self.config.host,
                       port=self.port, device_id=self.config.device_id,
                       speed=self.config.speed, seed=self.seed,
                       scenario=self.scenario.name if self.scenario else None,
                       control=self.config.control.value,
                       recipes=sorted(self.equipment.recipes.ppids()))

    async def stop(self) -> None:
        """Stop production, separate, persist."""
        await self.loop.stop()
        if self._link_down:
            self.server.session.port = self.port
        await self.server.stop()
        self.save()
        self._log.info("simulator_stopped")

    async def __aenter__(self) -> EquipmentSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait(self) -> None:
        """Until production fails (raises its error) or the simulator is stopped."""
        await self.loop.wait()

    # --- the production loop ----------------------------------------------------------------

    async def _cycle(self, now: float) -> float:
        nxt = self.production.advance(now)
        self.server.kick()
        for notice in self.production.take_notices():
            self._note(notice)
        if self.serials != self._saved_serials:
            self.save()
        await self._link()
        return nxt

    async def _link(self) -> None:
        """Play the ``link_drop`` fault: stop listening while it is active."""
        dropped = self.production.faults.get("link_drop") is not None
        if dropped and not self._link_down:
            self._link_down = True
            port = self.port
            await self.server.session.stop()
            self.server.session.port = port
        elif not dropped and self._link_down:
            self._link_down = False
            await self.server.session.start()

    def _note(self, notice: Notice) -> None:
        self._log.info(notice.what, sim_time=round(notice.at, 1), **dict(notice.details))
