"""Airflow's three logins, in roles, created or updated from .env by `make up`.

The FAB auth manager keeps users, roles and permissions in Airflow's metadata database.
Run on every `make up` (idempotent, about as long as one `airflow` CLI call): it makes the
two nasaflow roles hold exactly their permissions and each .env user exist, be active,
have its role and its .env password; what is already so is left alone.

Roles:
- ``Admin`` (FAB's own): everything, the nasaflow page included.
- ``NasaflowOperator``: what the viewer may, plus trigger runs and backfills, pause and
  unpause DAGs, clear task instances (what restarting the stream is). No connections,
  variables, pools, users or configuration.
- ``NasaflowViewer``: FAB's Viewer permissions (DAGs, runs, task logs, read only), the
  nasaflow page, and the plugin list (the UI builds its navigation entry for the page
  from it). Changes nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nasaflow.webui.auth import RESOURCE_NAME as NASAFLOW_RESOURCE

if TYPE_CHECKING:
    from airflow.providers.fab.auth_manager.models import Permission, Role
    from airflow.providers.fab.auth_manager.security_manager.override import (
        FabAirflowSecurityManagerOverride,
    )

ADMIN_ROLE = "Admin"
OPERATOR_ROLE = "NasaflowOperator"
VIEWER_ROLE = "NasaflowViewer"

#: (action, resource) pairs beyond FAB's Viewer permissions, as FAB names them.
VIEWER_EXTRA = (("can_read", NASAFLOW_RESOURCE), ("can_read", "Plugins"))
#: Trigger a run or a backfill (create a run, edit its DAG), pause, cancel or mark runs
#: (edit runs), clear tasks (edit task instances), pause and unpause DAGs (edit DAGs).
OPERATOR_EXTRA = (("can_edit", "DAGs"), ("can_create", "DAG Runs"), ("can_edit", "DAG Runs"),
                  ("can_edit", "Task Instances"))

#: The .env keys of each login, with its role.
LOGIN_KEYS = (("AIRFLOW_ADMIN_USER", "AIRFLOW_ADMIN_PASSWORD", ADMIN_ROLE),
              ("AIRFLOW_OPERATOR_USER", "AIRFLOW_OPERATOR_PASSWORD", OPERATOR_ROLE),
              ("AIRFLOW_VIEWER_USER", "AIRFLOW_VIEWER_PASSWORD", VIEWER_ROLE))


@dataclass(frozen=True)
class Login:
    """One user as .env defines it; the password stays out of reprs and logs."""

    username: str
    password: str = field(repr=False)
    role: str


def logins_from_env(env: Mapping[str, str]) -> dict[str, Login]:
    """The three logins of .env, by role.

    Raises:
        ValueError: naming every missing or empty key (run `make setup` to generate them).
    """
    missing = [key for user_key, password_key, _ in LOGIN_KEYS
               for key in (user_key, password_key) if not env.get(key, "").strip()]
    if missing:
        raise ValueError(f".env lacks {', '.join(missing)}: run 'make setup' to add them")
    return {role: Login(env[user_key].strip(), env[password_key].strip(), role)
            for user_key, password_key, role in LOGIN_KEYS}


def role_permissions(viewer_base: Iterable[tuple[str, str]]) -> dict[str, set[tuple[str, str]]]:
    """The exact (action, resource) pairs of the nasaflow roles, from FAB's Viewer ones."""
    viewer = set(viewer_base) | set(VIEWER_EXTRA)
    return {VIEWER_ROLE: viewer, OPERATOR_ROLE: viewer | set(OPERATOR_EXTRA)}


def sync_roles(sm: FabAirflowSecurityManagerOverride) -> list[str]:
    """Make the nasaflow roles hold exactly their permissions and give Admin the nasaflow
    page (FAB owns Admin's other permissions); returns the names of the roles changed."""
    wanted = role_permissions(sm.VIEWER_PERMISSIONS)
    wanted[ADMIN_ROLE] = {("can_read", NASAFLOW_RESOURCE)}
    changed = []
    for name, pairs in wanted.items():
        role = sm.add_role(name)  # the existing one, if any
        held = {_pair(permission) for permission in role.permissions}
        missing = pairs - held
        extra = set() if name == ADMIN_ROLE else held - pairs
        if not missing and not extra:
            continue
        created = [sm.create_permission(*pair) for pair in sorted(missing)]
        added = [permission for permission in created if permission is not None]
        if len(added) != len(created):
            raise RuntimeError(f"could not create the permissions {sorted(missing)}")
        role.permissions = [permission for permission in role.permissions
                            if _pair(permission) not in extra] + added
        sm.session.commit()
        changed.append(name)
    return changed


def _pair(permission: Permission) -> tuple[str, str]:
    return permission.action.name, permission.resource.name


def sync_user(sm: FabAirflowSecurityManagerOverride, login: Login) -> str:
    """Create the user or bring it to its role, active, with its password; returns what
    was done: "created", "updated" or "unchanged"."""
    from werkzeug.security import check_password_hash

    role = _role(sm, login.role)
    user = sm.find_user(username=login.username)
    if user is None:
        sm.add_user(login.username, login.username, "nasaflow",
                    f"{login.username}@nasaflow.invalid", role, login.password)
        return "created"
    outcome = "unchanged"
    if [r.name for r in user.roles] != [role.name] or not user.is_active:
        user.roles = [role]
        user.active = True
        if not sm.update_user(user):
            raise RuntimeError(f"could not update the roles of Airflow user {login.username!r}")
        outcome = "updated"
    # A user without a password hash (made outside this module) gets the .env password too.
    if user.password is None or not check_password_hash(user.password, login.password):
        if not sm.reset_password(user.id, login.password):
            raise RuntimeError(f"could not set the password of Airflow user {login.username!r}")
        outcome = "updated"
    return outcome


def _role(sm: FabAirflowSecurityManagerOverride, name: str) -> Role:
    role = sm.find_role(name)
    if role is None:
        raise RuntimeError(f"Airflow role {name!r} does not exist")
    return role


def main(env: Mapping[str, str] = os.environ) -> int:
    """Sync the roles and the .env users of the configured metadata database."""
    try:
        logins = logins_from_env(env)
    except ValueError as error:
        print(f"[nasaflow] {error}", file=sys.stderr)
        return 1
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        sm = appbuilder.sm
        for role in sync_roles(sm):
            print(f"[nasaflow] Airflow role {role}: permissions set")
        for login in logins.values():
            print(f"[nasaflow] Airflow user {login.username} ({login.role}):"
                  f" {sync_user(sm, login)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
