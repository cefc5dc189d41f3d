"""The BPF selftests: real programs in the kernel, real servers, real scrapes.

Each module here but lib/ is a group of tests; every function of it named
test_* is one test, run in file order by tests/run_tests.py, each in a
process of its own with a timeout. A test starts its own servers on random
free ports, attaches the agent to their pids only, drives a known sequence
and asserts exact values; a failed check raises TestFailure with a short
tag saying what was expected and what came ("GET /items/{id} 200: want 2
got 1"). What a test needs from the machine (root, node, promtool, ...) is
declared with @needs; without it the test is skipped and says why.

To add a test: a test_* function in the module of its subject (or a new
module), its needs declared, its processes started through lib.procs.Procs.
"""
