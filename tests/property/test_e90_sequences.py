"""Hypothesis over random E90 operation sequences: the registry's invariants hold."""

from __future__ import annotations

from datetime import datetime, timedelta, UTC

from hypothesis import given
from hypothesis import strategies as st

from eap.gem300.substrate import (
    SubstIDStatus,
    SubstProcState,
    SubstrateStateError,
    SubstrateTrackingError,
    SubstState,
)
from eap.gem300.substrate_location import SubstLocState
from eap.gem300.substrate_tracking import SubstrateTracking

LOCS = ["SRC0", "SRC1", "W0", "W1", "DST0", "DST1"]
SUBS = ["C0", "C1", "C2"]
T0 = datetime(2025, 1, 1, tzinfo=UTC)

OPS = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(SUBS), st.sampled_from(LOCS)),
    st.tuples(st.just("move"), st.sampled_from(SUBS), st.sampled_from(LOCS)),
    st.tuples(st.just("start"), st.sampled_from(SUBS), st.just("")),
    st.tuples(st.just("end"), st.sampled_from(SUBS), st.sampled_from(["P", "R", "A"])),
    st.tuples(st.just("step"), st.sampled_from(SUBS), st.just("")),
    st.tuples(st.just("skip"), st.sampled_from(SUBS), st.just("")),
    st.tuples(st.just("read"), st.sampled_from(SUBS), st.sampled_from([*SUBS, "?"])),
    st.tuples(st.just("proceed"), st.sampled_from(SUBS), st.just("")),
    st.tuples(st.just("cancel"), st.sampled_from(SUBS), st.just("")),
    st.tuples(st.just("exit"), st.sampled_from(SUBS), st.just("")),
    st.tuples(st.just("remove"), st.sampled_from(SUBS), st.just("")),
)
RESULTS = {"P": SubstProcState.PROCESSED, "R": SubstProcState.REJECTED,
           "A": SubstProcState.ABORTED}


def apply(trk: SubstrateTracking, op: str, sid: str, arg: str, at: datetime) -> None:
    match op:
        case "create":
            n = sid[-1]
            trk.create_substrate(sid, arg, source=f"SRC{int(n) % 2}",
                                 destination=f"DST{int(n) % 2}", at=at)
        case "move":
            trk.move(sid, arg, at)
        case "start":
            trk.start_processing(sid, at=at)
        case "end":
            trk.complete_processing(sid, RESULTS[arg], data={"v": float(len(sid))}, at=at)
        case "step":
            trk.complete_step(sid, at=at)
        case "skip":
            trk.skip(sid, at=at)
        case "read":
            if arg == "?":
                trk.id_read_failed(sid, at)
            else:
                trk.id_read(sid, arg, at)
        case "proceed":
            trk.proceed_with_substrate(sid, at)
        case "cancel":
            trk.cancel_substrate(sid, at)
        case "exit":
            trk.normal_exit(sid, at)
        case "remove":
            trk.remove(sid, at)


def check(trk: SubstrateTracking) -> None:
    holders: dict[str, str] = {}
    for loc in trk.locations():
        assert loc.state in SubstLocState
        assert (loc.state is SubstLocState.OCCUPIED) == (loc.substrate_id is not None)
        if loc.substrate_id is not None:
            holders[loc.substrate_id] = loc.location_id
    for sub in trk.substrates():
        assert sub.transport is None or sub.transport in SubstState
        assert sub.processing in SubstProcState
        assert sub.id_status in SubstIDStatus
        if sub.present:
            assert sub.location_id is not None
            assert holders.get(sub.substrate_id) == sub.location_id
        else:
            assert sub.location_id is None
            assert sub.substrate_id not in holders
        times = [t for h in sub.full_history() for t in (h.time_in, h.time_out) if t]
        assert times == sorted(times)


@given(st.lists(OPS, max_size=60), st.lists(st.integers(-5, 30), min_size=60, max_size=60))
def test_random_sequences_keep_invariants(
    ops: list[tuple[str, str, str]], deltas: list[int]
) -> None:
    trk = SubstrateTracking()
    for loc in LOCS:
        trk.add_location(loc)
    now = T0
    histories: dict[str, list[object]] = {}
    results: dict[str, list[object]] = {}
    for (op, sid, arg), delta in zip(ops, deltas, strict=False):
        now = now + timedelta(seconds=delta)
        before = trk.export_state()
        try:
            apply(trk, op, sid, arg, now)
        except SubstrateStateError:
            assert trk.export_state() == before  # an illegal input changes nothing
        except SubstrateTrackingError:  # unknown/duplicate ids: nothing changes either
            assert trk.export_state() == before
        check(trk)
        for sub in trk.substrates():
            old_h = histories.get(sub.substrate_id, [])
            assert sub.history[: len(old_h)] == old_h  # append-only
            histories[sub.substrate_id] = list(sub.history)
            old_r = results.get(sub.substrate_id, [])
            assert sub.results[: len(old_r)] == old_r
            results[sub.substrate_id] = list(sub.results)
            for r in sub.results:  # per substrate, never averaged
                assert r.data in ((), (("v", float(len(sub.substrate_id))),))
