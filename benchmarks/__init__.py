"""Benchmarks: throughput, latency and codec speed, side by side with the secsgem baseline."""
