"""The admin's users: who may log in, with which role (admin/web/permissions.py).

A password is hashed here (admin/passwords.py) and never stored, shown or audited in clear;
an empty password on an edit keeps the current one. Disabling a user ends their sessions and
API tokens at once: every request re-reads its user.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import psycopg
from pydantic import Field, StringConstraints

from admin import services
from admin.ledger import audit
from admin.passwords import hash_password
from admin.queries import query
from admin.services import Actor, Form, Service, ServiceError
from admin.web.permissions import role_names

Role = Literal[tuple(role_names())]  # type: ignore[valid-type]
MIN_PASSWORD = 8


class UserForm(Form):
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._@-]{2,64}$")] = Field(
        title="Username"
    )
    role: Role = Field("read-only", title="Role")
    enabled: bool = Field(True, title="Enabled")
    password: str | None = Field(
        None,
        min_length=MIN_PASSWORD,
        max_length=200,
        title="Password",
        description=f"at least {MIN_PASSWORD} characters; empty on an edit: unchanged",
        json_schema_extra={"format": "password"},  # never shown back, never audited
    )


def _params(form: UserForm, creating: bool) -> dict[str, Any]:
    if creating and form.password is None:
        raise ServiceError("a new user needs a password", {"password": "a new user needs one"})
    fields = form.model_dump(exclude={"password"})
    fields["password_hash"] = None if form.password is None else hash_password(form.password)
    return fields


USERS = Service(
    entity="user",
    table="users",
    form=UserForm,
    constraint_fields={"users_username_key": ("username", "another user has this name")},
    to_params=_params,
)


def save(conn: psycopg.Connection, form: UserForm, actor: Actor) -> tuple[int, bool]:
    """``akira users create``: a new user, or the same name's password and role reset (and
    enabled again); the row's id and whether it was new."""
    found = conn.execute(query("user_id_by_name"), {"name": form.username}).fetchone()
    if found is None:
        return services.create(conn, USERS, form, actor), True
    services.update(conn, USERS, found[0], form, actor)
    return found[0], False


def end_sessions(conn: psycopg.Connection, user_id: int, actor: Actor, *, disable: bool) -> int:
    """Log the user out everywhere now (and, disabling, refuse their logins and tokens from
    then on); how many sessions ended. One transaction with its audit row."""
    with conn.transaction():
        before = services.get(conn, USERS, user_id)
        if disable:
            conn.execute(query("access_disable_user"), {"id": user_id})
        ended = conn.execute(query("sessions_end_for_user"), {"user_id": user_id}).rowcount
        after = {**services.get(conn, USERS, user_id), "sessions_ended": ended}
        action = "disable" if disable else "logout"
        audit(conn, actor.username, "user", user_id, action, before=services.jsonable(before),
              after=services.jsonable(after), request_id=actor.request_id)  # fmt: skip
    return ended
