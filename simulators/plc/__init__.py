"""PLC simulators: each station's controller behind an OPC UA server (``eap simulate-plc``).

See ``docs/plc-simulators.md`` for the address space, and :mod:`simulators.plc.address_space`.
"""
