"""SEMI E30 GEM: equipment role and host role."""

__all__: list[str] = []
