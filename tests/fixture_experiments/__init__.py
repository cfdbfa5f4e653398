"""Test-only experiments for the runner, the CLI and the executors (not part of approx).

The tests point the runner here with ``APPROX_EXPERIMENTS=fixture_experiments`` (tests/ is on
sys.path under pytest; subprocesses get it through PYTHONPATH). ``counting`` is a sweep that
logs every point it computes, so tests can tell a resumed point from a recomputed one;
``single`` is a non-sweep experiment whose Config has a field of every supported type;
``_helpers`` (private) and ``notes`` (no Config) must not be listed.
"""
