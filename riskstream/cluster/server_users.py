"""The ``authorization`` block of a node's nats-server config: every user of
`riskstream.cluster.permissions` with its password and permissions."""

import json

from riskstream.cluster.logins import NatsLogin
from riskstream.cluster.permissions import (
    DEVICE_USER_PREFIX,
    ROLES,
    Permissions,
    device_permissions,
    role_permissions,
)

ROUTE_USER = "route"
"""The user the nodes' routes log in with (not a client user)."""


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _subjects(subjects: list[str]) -> str:
    return "[" + ", ".join(_quoted(s) for s in subjects) + "]"


def _user_block(login: NatsLogin, permissions: Permissions) -> str:
    def side(allow: list[str], deny: list[str]) -> str:
        parts = [f"allow: {_subjects(allow)}"] if allow else []
        parts += [f"deny: {_subjects(deny)}"] if deny else []
        return "{" + ", ".join(parts) + "}"

    return (
        "    {\n"
        f"      user: {_quoted(login.user)}, password: {_quoted(login.password)}\n"
        f"      allowed_connection_types: {_subjects(list(permissions.connection_types))}\n"
        "      permissions: {\n"
        f"        publish: {side(permissions.publish, permissions.publish_denied)}\n"
        f"        subscribe: {side(permissions.subscribe, permissions.subscribe_denied)}\n"
        "      }\n"
        "    }\n"
    )


def users_config(logins: dict[str, NatsLogin]) -> str:
    """The ``authorization`` block for the roles and the device users in ``logins``
    (which must hold every role)."""
    users = "".join(_user_block(logins[role], role_permissions(role)) for role in ROLES)
    users += "".join(
        _user_block(logins[user], device_permissions(user.removeprefix(DEVICE_USER_PREFIX)))
        for user in sorted(logins)
        if user.startswith(DEVICE_USER_PREFIX)
    )
    return f"authorization {{\n  users: [\n{users}  ]\n}}\n"
