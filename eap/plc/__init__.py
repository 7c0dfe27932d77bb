"""OPC UA PLC adapter: a legacy PLC becomes a full GEM equipment (see docs/retrofit.md)."""
