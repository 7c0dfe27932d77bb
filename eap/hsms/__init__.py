"""SEMI E37 HSMS: a sans-I/O connection state machine and a thin asyncio session shell."""
