"""The health server's routes, without sockets."""

from __future__ import annotations

from eap.runtime.health import HealthServer, Metrics


def _server(reasons: list[str]) -> HealthServer:
    return HealthServer(Metrics(), lambda: reasons)


def test_livez_is_ok() -> None:
    assert _server([]).respond("GET", "/livez")[0] == 200


def test_readyz_reports_reasons_with_503() -> None:
    status, _, body = _server(["mqtt: not connected", "outbox: full"]).respond("GET", "/readyz")
    assert status == 503
    assert body.decode().splitlines() == ["mqtt: not connected", "outbox: full"]
    assert _server([]).respond("GET", "/readyz?verbose")[:1] == (200,)


def test_metrics_expose_labelled_counters() -> None:
    metrics = Metrics()
    metrics.events_received.labels("COATER-01").inc(3)
    metrics.outbox_depth.set(17)
    status, ctype, body = HealthServer(metrics, list).respond("GET", "/metrics")
    text = body.decode()
    assert status == 200
    assert ctype.startswith("text/plain")
    assert 'eap_events_received_total{equipment="COATER-01"} 3.0' in text
    assert "eap_outbox_records 17.0" in text


def test_unknown_route_and_method() -> None:
    assert _server([]).respond("GET", "/nope")[0] == 404
    assert _server([]).respond("POST", "/livez")[0] == 405


def test_each_metrics_instance_has_its_own_registry() -> None:
    a, b = Metrics(), Metrics()
    a.published.inc()
    assert b"eap_mqtt_published_total 0.0" in b.render()
