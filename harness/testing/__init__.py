"""Test instruments: the fault-injecting fake engine (fake_engine.py) and its adapter, for the harness's own
tests and for proving that every check can fail. Never a default engine, never a stand-in for a real one."""
