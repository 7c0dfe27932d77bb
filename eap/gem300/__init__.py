"""GEM300: E87 carriers and load ports, E90 substrates, E39 object services. Sans-I/O."""

__all__: list[str] = []
