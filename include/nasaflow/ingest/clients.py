"""The NASA clients one ingestion job uses, built from settings.

One job shares one HTTP session and one retry budget across its requests; the APOD client
is created on first use, so a Helioviewer-only run needs no api key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nasaflow.settings import Settings, get_settings
from nasaflow.sources.apod import ApodClient
from nasaflow.sources.helioviewer import HelioviewerClient
from nasaflow.sources.http import HttpClient, RetryPolicy, make_session


@dataclass
class SourceClients:
    """HTTP client plus the per-source clients on top of it."""

    http: HttpClient
    helioviewer: HelioviewerClient
    apod_url: str
    apod_api_key: str = field(repr=False)
    _apod: ApodClient | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings | None = None,
                      policy: RetryPolicy | None = None) -> SourceClients:
        """Clients for the configured base URLs; `policy` overrides the retry policy."""
        settings = settings or get_settings()
        policy = policy or RetryPolicy(max_retry_after=float(settings.max_retry_after))
        http = HttpClient(make_session(settings.user_agent), policy)
        return cls(http, HelioviewerClient(settings.helioviewer_url, http), settings.apod_url,
                   settings.apod_api_key)

    @property
    def apod(self) -> ApodClient:
        """The APOD client; MissingApiKeyError if no key is configured."""
        if self._apod is None:
            self._apod = ApodClient(self.apod_url, self.apod_api_key, self.http)
        return self._apod
