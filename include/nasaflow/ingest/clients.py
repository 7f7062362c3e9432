"""The NASA clients one ingestion job uses, built from settings.

One job shares one HTTP session and one retry budget across its requests; the APOD client
is created on first use, so a Helioviewer-only run needs no api key, and counts DEMO_KEY's
daily requests in a ledger under the data dir (shared by every run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nasaflow.settings import Settings, get_settings
from nasaflow.sources.apod import ApodClient, DailyLedger
from nasaflow.sources.helioviewer import HelioviewerClient
from nasaflow.sources.http import HttpClient, RetryPolicy, make_session


@dataclass
class SourceClients:
    """HTTP client plus the per-source clients on top of it."""

    http: HttpClient
    helioviewer: HelioviewerClient
    apod_url: str
    apod_api_key: str = field(repr=False)
    #: DEMO_KEY's daily ledger (DailyLedger.path_for); None counts in memory.
    apod_ledger: Path | None = None
    _apod: ApodClient | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings | None = None,
                      policy: RetryPolicy | None = None) -> SourceClients:
        """Clients for the configured base URLs; `policy` overrides the retry policy."""
        settings = settings or get_settings()
        policy = policy or RetryPolicy(max_retry_after=float(settings.max_retry_after))
        http = HttpClient(make_session(settings.user_agent), policy)
        return cls(http, HelioviewerClient(settings.helioviewer_url, http), settings.apod_url,
                   settings.apod_api_key,
                   DailyLedger.path_for(settings.data_dir, settings.apod_url))

    @property
    def apod(self) -> ApodClient:
        """The APOD client; MissingApiKeyError if no key is configured."""
        if self._apod is None:
            self._apod = ApodClient(self.apod_url, self.apod_api_key, self.http,
                                    ledger=self.apod_ledger)
        return self._apod
