"""The fake GHL server as a Starlette app, served in-process or by uvicorn.

``create_app(state)`` builds the app over a ``FakeGhlState`` the caller keeps, so a
test seeds data and flips fault knobs while the client talks to it. ``serve`` runs it
with uvicorn on a real port (``syncengine fake-ghl --port N``).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.types import ASGIApp

from adapters.ghl.fake import children, contacts, oauth, search
from adapters.ghl.fake.errors import ApiError, handle_api_error
from adapters.ghl.fake.gate import Gate
from adapters.ghl.fake.state import FakeGhlState


def create_app(state: FakeGhlState | None = None) -> Starlette:
    """A Starlette app imitating GHL API v2; ``app.state.ghl`` is its ``FakeGhlState``."""
    st = state or FakeGhlState()
    # search and the fixed /contacts/... paths must win over /contacts/{contactId}
    routes = [*search.ROUTES, *oauth.ROUTES, *children.ROUTES, *contacts.ROUTES]
    app = Starlette(routes=routes, exception_handlers={ApiError: handle_api_error})
    app.state.ghl = st
    inner: ASGIApp = app.middleware_stack or app.build_middleware_stack()
    app.middleware_stack = Gate(inner, st)
    return app


def serve(host: str = "127.0.0.1", port: int = 8099, state: FakeGhlState | None = None) -> None:
    """Run the fake with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(state), host=host, port=port, log_level="warning")
