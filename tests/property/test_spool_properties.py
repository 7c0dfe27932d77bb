"""Property tests of the E30 spool against a plain-list model.

Random sequences of offers (link up or down), S6F23 transmit and purge requests, sends with
and without confirmation, link changes, orderly reopens and crashes (a second store opened
on the same file without closing the first) must keep the spool equal to the model: the
same messages in the same FIFO order, the same SpoolCountActual / SpoolCountTotal, the same
states. A crash may repeat only the one message in flight.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from eap.gem.spool import Disposition, RSDA, Spool, SpoolSettings, SpoolState
from eap.gem.spool_store import SqliteSpoolStore, Synchronous
from eap.secs2.items import L, U4
from eap.secs2.message import SecsMessage


def event(n: int) -> SecsMessage:
    return SecsMessage(6, 11, True, L(U4(n), U4(1), L()))


@dataclass
class Model:
    """What the spool should hold: plain lists, E30's rules written out."""

    cap: int
    overwrite: bool
    max_transmit: int
    queue: list[int] = field(default_factory=list)
    active: bool = False
    full: bool = False
    transmitting: bool = False
    comm: bool = False
    total: int = 0
    budget: int | None = None
    in_flight: int | None = None

    def offer(self, n: int) -> Disposition:
        if not self.active:
            if self.comm:
                return Disposition.SEND
            self.active, self.full, self.total = True, False, 0
        self.total += 1
        if not self.full and len(self.queue) + 1 > self.cap:
            self.full = True
        if self.full:
            if not self.overwrite:
                return Disposition.DISCARDED
            while len(self.queue) + 1 > self.cap:
                self.queue.pop(0)
        self.queue.append(n)
        return Disposition.SPOOLED

    def request(self, rsdc: int) -> int:
        if not self.active:
            return RSDA.NO_DATA
        if self.transmitting:
            return RSDA.BUSY
        if rsdc == 1:
            self.queue.clear()
            self._inactive()
        else:
            self.transmitting = True
            self.budget = self.max_transmit or None
        return RSDA.OK

    def _inactive(self) -> None:
        self.active = self.full = self.transmitting = False
        self.budget = self.in_flight = None

    def next(self) -> int | None:
        if not (self.transmitting and self.comm):
            return None
        self.in_flight = self.queue[0]
        return self.in_flight

    def confirm(self) -> None:
        assert self.in_flight is not None
        if self.in_flight in self.queue:
            self.queue.remove(self.in_flight)
        self.in_flight = None
        if self.budget is not None:
            self.budget -= 1
        if not self.queue:
            self._inactive()
        elif self.budget == 0:
            self.transmitting, self.budget = False, None

    def link(self, up: bool) -> None:
        self.comm = up
        if not up and self.transmitting:
            self.transmitting, self.budget, self.in_flight = False, None, None

    def restart(self) -> None:
        self.comm = self.transmitting = False
        self.budget = self.in_flight = None


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("offer"), st.integers(1, 3)),
        st.tuples(st.sampled_from(["up", "down", "transmit", "purge", "send", "confirm",
                                   "reopen", "crash", "bad_rsdc"]), st.just(0)),
    ),
    max_size=40,
)


@given(
    ops=OPS,
    cap=st.integers(1, 6),
    overwrite=st.booleans(),
    max_transmit=st.integers(0, 3),
)
def test_spool_matches_the_model(
    ops: list[tuple[str, int]], cap: int, overwrite: bool, max_transmit: int
) -> None:
    settings = SpoolSettings(overwrite=overwrite, max_transmit=max_transmit, max_messages=cap)
    model = Model(cap, overwrite, max_transmit)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spool.sqlite3"
        stores: list[SqliteSpoolStore] = []

        def open_spool() -> Spool:
            stores.append(SqliteSpoolStore(path, Synchronous.NORMAL))
            return Spool(stores[-1], settings)

        spool = open_spool()
        spool.reset_spooling({6: [11]})
        counter = 0
        sent_id: int | None = None
        for op, arg in ops:
            if op == "offer":
                for _ in range(arg):
                    counter += 1
                    assert spool.dispose(event(counter), float(counter)) is model.offer(counter)
            elif op in ("up", "down"):
                if op == "up":
                    spool.communication_established(0.0)
                else:
                    spool.communication_failed(0.0)
                model.link(op == "up")
            elif op in ("transmit", "purge", "bad_rsdc"):
                rsdc = {"transmit": 0, "purge": 1, "bad_rsdc": 5}[op]
                expected = model.request(rsdc) if rsdc != 5 else (
                    RSDA.NO_DATA if not model.active else RSDA.BUSY)
                assert spool.request_spooled_data(rsdc, 0.0) == expected
            elif op == "send":
                got = spool.next_to_transmit()
                want = model.next()
                assert (None if got is None else got.message) == (
                    None if want is None else event(want))
                sent_id = None if got is None else got.spool_id
            elif op == "confirm":
                # the host answers the message that was sent, by its spool id -- even when
                # an overwriting spool has meanwhile evicted it (then nothing is left to remove)
                if model.in_flight is not None:
                    assert sent_id is not None
                    spool.transmitted(sent_id, 0.0)
                    model.confirm()
            elif op in ("reopen", "crash"):
                if op == "reopen":
                    spool.close()
                spool = open_spool()
                model.restart()
            # invariants after every step
            bodies = [m.body for m in stores[-1].messages()]
            assert bodies == [event(n).encode_body() for n in model.queue]
            assert spool.spool_count_actual == len(model.queue)
            assert spool.state is (SpoolState.ACTIVE if model.active else SpoolState.INACTIVE)
            if model.active:
                assert spool.spool_count_total == model.total
                assert (spool.load_state is SpoolState.FULL) is model.full
                assert (spool.unload_state is SpoolState.TRANSMIT) is model.transmitting
            else:
                assert spool.load_state is None
                assert spool.unload_state is None
        for store in stores:
            store.close()
