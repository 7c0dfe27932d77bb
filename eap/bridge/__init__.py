"""The northbound bridge: GEM reports to UNS topics and JSON payloads, MES commands to GEM.

Interface (what the MES sees and sends; data and pure functions, no I/O):
:mod:`eap.bridge.topics` (the UNS topic scheme), :mod:`eap.bridge.payloads` (payload models
and their builders), :mod:`eap.bridge.commands` (command parsing, validation and execution),
:mod:`eap.bridge.asyncapi` (the AsyncAPI 3.0 document of all of it).
"""

__all__: list[str] = []
