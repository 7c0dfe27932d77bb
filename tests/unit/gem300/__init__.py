"""Unit tests of eap.gem300 (E87 carriers and load ports, E90 substrates, E39 objects)."""
