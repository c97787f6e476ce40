"""The admin's users, for admins only (users.manage): who, which role, enabled, last login."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from admin.services.users import USERS
from admin.web.crud import Editable
from admin.web.listing import ENABLED_FILTER, Entity
from admin.web.permissions import USERS_MANAGE
from admin.web.table import Column, Kind


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    username: str
    role: str
    enabled: bool
    created_at: datetime
    last_login_at: datetime | None
    tokens: int  # live API tokens (akira tokens)


USER_LIST = Entity(
    slug="users",
    label="Users",
    row=UserRow,
    list_query="web_users_list",
    search_hint="username",
    filters=(ENABLED_FILTER,),
    columns=(
        Column("username", "Username", link="/users/{id}"),
        Column("role", "Role"),
        Column("enabled", "Enabled", Kind.BOOL),
        Column("last_login_at", "Last login", Kind.DATETIME),
        Column("tokens", "API tokens", Kind.NUMBER),
        Column("created_at", "Created", Kind.DATETIME),
    ),
)

USERS_EDITABLE = Editable(
    entity=USER_LIST,
    service=USERS,
    singular="user",
    title="username",
    fields=(
        Column("role", "Role"),
        Column("enabled", "Enabled", Kind.BOOL),
        Column("last_login_at", "Last login", Kind.DATETIME),
        Column("created_at", "Created", Kind.DATETIME),
    ),
    action=USERS_MANAGE,
    private=True,
)
