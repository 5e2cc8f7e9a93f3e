"""Throughput benchmarks behind `jaxsae bench`."""
