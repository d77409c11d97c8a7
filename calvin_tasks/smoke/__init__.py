"""Smoke tests: tests.yaml loaded into checks (spec), the check kinds (kinds, service), and the
suite that runs them against a freshly built image (suite)."""
