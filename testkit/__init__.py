"""What the tests and the benchmarks share: real servers on loopback ports, HTTP load, the
"skip here, fail in CI" rule for external tools. Neither imports the other; both import this."""
