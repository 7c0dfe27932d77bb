"""SECS-II codec speed: our codec against secsgem 0.3.0 on a typical S6F11 body.

The body is ``L[DATAID U4, CEID U4, L[L[RPTID U4, L[10 values of mixed U4/F8/A]]]]``, the
shape of an event report with one report of ten variables. secsgem goes through its own
S6F11 function class (``SecsS06F11``), the way a secsgem application encodes and decodes.

Rows:

* ``encode``: a pre-built message object to bytes.
* ``build+encode``: from Python values to bytes (build the items, then encode). secsgem
  does most of its work when a message is built (type conversion and validation in
  ``set``), so this row is the one comparable to the "~330 us encode" of DESIGN.md.
* ``template encode``: from Python values to bytes through a compiled template
  (:mod:`eap.secs2.template`; one slot for each of the 13 values, DATAID, CEID and RPTID
  included), side by side with secsgem's build+encode of the same values -- secsgem has
  no template path, so its row is the same as in ``build+encode``.
* ``decode``: bytes to a message object.

Run with ``python -m benchmarks.codec`` (``--number N`` / ``--repeat R`` to adjust). Each
figure is the best of ``repeat`` runs of ``number`` calls, per call.
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable
from typing import Any

from eap.secs2.codec import decode, encode
from eap.secs2.items import A, F8, Item, L, U4
from eap.secs2.template import compile_template, Slot, Template

__all__ = ["main", "s6f11_body", "s6f11_template", "secsgem_s6f11"]


def _values() -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for i in range(10):
        kind = ("U4", "F8", "A")[i % 3]
        if kind == "U4":
            out.append((kind, 1000 + i))
        elif kind == "F8":
            out.append((kind, 3.25 * i + 0.1))
        else:
            out.append((kind, f"LOT-{i:04d}-CELL"))
    return out


def s6f11_body() -> Item:
    """The typical S6F11 body, as our items."""
    vs: list[Item] = []
    for kind, v in _values():
        vs.append(U4(v) if kind == "U4" else F8(v) if kind == "F8" else A(v))
    return L(U4(42), U4(3001), L(L(U4(7), L(*vs))))


def s6f11_template() -> tuple[Template, tuple[Any, ...]]:
    """The same body as a compiled template with its 13 values (DATAID, CEID, RPTID, V...)."""
    formats = {"U4": U4, "F8": F8, "A": A}
    pairs = _values()
    template = compile_template(
        L(Slot(U4), Slot(U4), L(L(Slot(U4), L(*(Slot(formats[k]) for k, _ in pairs)))))
    )
    return template, (42, 3001, 7, *(v for _, v in pairs))


def secsgem_s6f11() -> Any:
    """The same body as a secsgem ``SecsS06F11`` function object."""
    from secsgem.secs import variables as sv
    from secsgem.secs.functions import SecsS06F11

    vs: list[Any] = []
    for kind, v in _values():
        vs.append(sv.U4(v) if kind == "U4" else sv.F8(v) if kind == "F8" else sv.String(v))
    return SecsS06F11(
        {"DATAID": sv.U4(42), "CEID": sv.U4(3001), "RPT": [{"RPTID": sv.U4(7), "V": vs}]}
    )


def _best(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Best time per call, in microseconds."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main(argv: list[str] | None = None) -> None:
    """Time both codecs and print them side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--number", type=int, default=20000, help="calls per run (ours)")
    parser.add_argument("--repeat", type=int, default=7, help="runs; the best is kept")
    args = parser.parse_args(argv)

    from secsgem.secs.functions import SecsS06F11

    body = s6f11_body()
    data = encode(body)
    sg = secsgem_s6f11()
    sg_data = sg.encode()
    if sg_data != data:
        raise SystemExit("secsgem and our codec disagree on the S6F11 bytes")
    if decode(data) != body:
        raise SystemExit("our codec does not round-trip the S6F11 body")
    template, values = s6f11_template()
    if template.encode(*values) != data:
        raise SystemExit("the compiled template and our codec disagree on the S6F11 bytes")

    def sg_decode() -> object:
        f = SecsS06F11()
        f.decode(data)
        return f

    n, r = args.number, args.repeat
    sg_n = max(1, n // 40)
    sg_build_encode = _best(lambda: secsgem_s6f11().encode(), sg_n, r)
    rows = [
        ("encode", _best(lambda: encode(body), n, r), _best(sg.encode, sg_n, r)),
        (
            "build+encode",
            _best(lambda: encode(s6f11_body()), n // 2, r),
            sg_build_encode,
        ),
        ("template encode", _best(lambda: template.encode(*values), n, r), sg_build_encode),
        ("decode", _best(lambda: decode(data), n, r), _best(sg_decode, sg_n, r)),
    ]

    print(f"S6F11 body: {len(data)} bytes, best of {r} runs, per call")
    print(f"{'':16}{'ours (us)':>10}{'secsgem (us)':>14}{'ratio':>9}")
    for name, ours, theirs in rows:
        print(f"{name:16}{ours:10.2f}{theirs:14.1f}{theirs / ours:8.1f}x")


if __name__ == "__main__":
    main()
