"""The northbound bridge: GEM reports to UNS topics and JSON payloads, MES commands to GEM.

Interface (what the MES sees and sends; data and pure functions, no I/O):
:mod:`eap.bridge.topics` (the UNS topic scheme), :mod:`eap.bridge.payloads` (payload models
and their builders), :mod:`eap.bridge.commands` (command parsing, validation and execution),
:mod:`eap.bridge.asyncapi` (the AsyncAPI 3.0 document of all of it).

Transport (knows nothing of GEM: records in, MQTT publishes out, nothing lost):
:mod:`eap.bridge.outbox` (the durable SQLite outbox, group commit),
:mod:`eap.bridge.mqtt_client` (asyncio adapter over paho-mqtt, MQTT 5 / 3.1.1),
:mod:`eap.bridge.publisher` (outbox -> broker, at least once, in order),
:mod:`eap.bridge.broker` (the embedded amqtt broker, loopback only).
"""

__all__: list[str] = []
