"""Throughput benchmarks behind `jaxsae bench` (SPEC §9)."""
