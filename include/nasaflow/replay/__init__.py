"""A local stand-in for NASA's image APIs, for offline runs and tests (nasa-apis.md §6).

Kept import-free so `nasaflow --help` does not load the server: use
`nasaflow.replay.server.ReplayServer`.
"""
