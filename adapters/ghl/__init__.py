"""The GoHighLevel (LeadConnector) API v2 side: client, mapping, adapter and a fake server.

Modules, one idea each: ``client`` (HTTP, rate limit, retries, error mapping),
``limits`` (the client-side rate limiter), ``mapping`` (GHL JSON <-> canonical
records), ``adapter`` (the ``Adapter`` Protocol over the client), ``oauth`` (token
rotation), ``fake`` (a Starlette imitation of the real API for tests and demos), and
``spec/`` (HighLevel's official OpenAPI files, unchanged, that the fake is tested
against). Importing this package imports none of them, so the fake's server
dependencies load only when asked for.
"""

from __future__ import annotations

__all__: list[str] = []
