"""Side-by-side scenarios, one module per object kind (see ``tests/interop/scenario_runner.py``)."""
