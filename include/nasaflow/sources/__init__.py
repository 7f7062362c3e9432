"""Clients of NASA's public image APIs (Helioviewer, APOD), per docs/nasa-apis.md."""
