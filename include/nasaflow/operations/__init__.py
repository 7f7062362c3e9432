"""Tools that operate the running platform from outside (demo, tests, scripts)."""
