"""Airflow login for the nasaflow pages.

Airflow mounts a plugin's FastAPI app as it is: the core API authenticates through a
dependency of its own routers, which does not reach a mounted app, so every route here
would be public unless the app checks the caller itself. `require_viewer` does what the
core API does: it takes the JWT from the Authorization header (Bearer) or else from the
`_token` cookie the UI sets at login, has Airflow's configured auth manager validate it
and build the user, and asks the auth manager whether that user may see this custom view.

With the FAB auth manager that is the user's roles holding `can_read` on the `nasaflow`
resource: the Admin, NasaflowOperator and NasaflowViewer roles do (granted by
nasaflow.operations.airflow_users); FAB's own Viewer, User and Op roles do not. Every
route is a read, so reading is the one permission asked for.

Refusals: a browser opening a page without a valid login is sent to Airflow's login page
(and back afterwards); any other anonymous request gets 401; a user the auth manager does
not allow gets 403.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import HTTPException, Request, status
from fastapi.responses import RedirectResponse
from jwt import InvalidTokenError

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.base_auth_manager import BaseAuthManager
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

#: The cookie the Airflow UI keeps its JWT in (COOKIE_NAME_JWT_TOKEN of the auth managers).
TOKEN_COOKIE = "_token"

#: Name of the custom view the auth manager authorises (is_authorized_custom_view); the
#: FAB resource the roles are granted (nasaflow.operations.airflow_users).
RESOURCE_NAME = "nasaflow"


class LoginRequired(Exception):
    """A browser asked for a page without a valid login; `login_url` brings it back after."""

    def __init__(self, login_url: str) -> None:
        super().__init__(login_url)
        self.login_url = login_url


async def require_viewer(request: Request) -> BaseUser:
    """The logged-in Airflow user allowed to see the nasaflow pages.

    Raises:
        LoginRequired: a browser page request without a valid token.
        HTTPException: 401 for other requests without a valid token, 403 when the auth
            manager refuses the user.
    """
    # Imported here: the api-server has it loaded; other processes that import plugins
    # (scheduler, task runners) need not pay for it.
    from airflow.api_fastapi.app import get_auth_manager

    manager = get_auth_manager()
    user = await _token_user(request, manager)
    if user is None:
        if "text/html" in request.headers.get("accept", ""):
            raise LoginRequired(manager.get_url_login(next_url=str(request.url)))
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Airflow login required: send"
                            " 'Authorization: Bearer <token>' (POST /auth/token) or log in"
                            " to the Airflow UI", headers={"WWW-Authenticate": "Bearer"})
    if not manager.is_authorized_custom_view(method="GET", resource_name=RESOURCE_NAME,
                                             user=user):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"user {user.get_name()!r} may not view {RESOURCE_NAME}")
    return user


def redirect_to_login(request: Request, exc: LoginRequired) -> RedirectResponse:
    """Exception handler turning LoginRequired into a redirect to Airflow's login page."""
    return RedirectResponse(exc.login_url, status_code=status.HTTP_303_SEE_OTHER)


async def _token_user(request: Request, manager: BaseAuthManager) -> BaseUser | None:
    """The user of the request's token, or None when there is none or it is not valid
    (bad signature, expired, revoked: the auth manager decides)."""
    token = request_token(request)
    if token is None:
        return None
    try:
        return await manager.get_user_from_token(token)
    except InvalidTokenError:
        return None


def request_token(request: Request) -> str | None:
    """The explicit Bearer token if any (it wins, as in the core API), else the cookie."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.cookies.get(TOKEN_COOKIE) or None
