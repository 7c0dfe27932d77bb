"""Runtime: configuration, supervision, command line, logs and metrics."""
