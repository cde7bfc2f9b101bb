"""``POST /oauth/token`` of the fake: authorization-code and refresh-token grants.

Form-encoded, as ``spec/oauth.json`` says. Access tokens expire after
``FakeGhlState.access_ttl`` seconds. Refresh tokens are single-use: a reused one is a 400
``Invalid grant: refresh token is invalid`` (the v3 spec's ``invalidRefreshToken``
example). A paused location answers 400 ``Location is not active`` and its refresh
token stays valid, so a client that drops it on that error loses the connection.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.ghl.fake.common import fake_state
from adapters.ghl.fake.errors import ApiError
from adapters.ghl.fake.state import FakeGhlState, Grant

GRANTS = ("authorization_code", "refresh_token", "client_credentials")


async def token(request: Request) -> JSONResponse:
    st = fake_state(request)
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise ApiError(422, ["body must be application/x-www-form-urlencoded"])
    # parsed by hand: Starlette's request.form() needs python-multipart, for a flat form
    fields = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
    for name, label in (
        ("client_id", "clientId"),
        ("client_secret", "clientSecret"),
        ("grant_type", "grantType"),
    ):
        if not fields.get(name):
            raise ApiError(400, f"Missing parameter: {label}")
    if fields["grant_type"] not in GRANTS[:2]:
        raise ApiError(400, "Invalid parameter: grantType")
    if st.clients.get(fields["client_id"]) != fields["client_secret"]:
        raise ApiError(401, "Invalid client: client credentials are invalid")
    with st.lock:
        grant = _redeem(st, fields)
        access = f"at-{st.new_id()}"
        refresh = f"rt-{st.new_id()}"
        st.issue_token(grant.location_id, scopes=grant.scopes, ttl=st.access_ttl, token=access)
        st.refresh_tokens[refresh] = grant
    return JSONResponse(
        {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(st.access_ttl),
            "refresh_token": refresh,
            "scope": " ".join(sorted(grant.scopes)),
            "userType": "Location",
            "locationId": grant.location_id,
            "companyId": "fake-company",
            "userId": "fake-installer",
            "isBulkInstallation": False,
        }
    )


def _redeem(st: FakeGhlState, fields: dict[str, str]) -> Grant:
    if fields["grant_type"] == "authorization_code":
        grant = st.codes.get(fields.get("code", ""))
        if grant is None or grant.client_id != fields["client_id"]:
            raise ApiError(400, "Invalid grant: authorization code is invalid")
        _active(st, grant)
        del st.codes[fields["code"]]
        return grant
    value = fields.get("refresh_token", "")
    grant = st.refresh_tokens.get(value)
    if grant is None or value in st.used_refresh_tokens or grant.client_id != fields["client_id"]:
        raise ApiError(400, "Invalid grant: refresh token is invalid")
    _active(st, grant)
    st.used_refresh_tokens.add(value)
    del st.refresh_tokens[value]
    return grant


def _active(st: FakeGhlState, grant: Grant) -> None:
    loc = st.locations.get(grant.location_id)
    if loc is None or not loc.active:
        raise ApiError(400, "Location is not active")


ROUTES = [Route("/oauth/token", token, methods=["POST"])]
