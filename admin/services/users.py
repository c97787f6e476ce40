"""The admin's users: who may log in, with which role (admin/web/permissions.py).

A password is hashed here (admin/passwords.py) and never stored, shown or audited in clear;
an empty password on an edit keeps the current one. Disabling a user ends their sessions and
API tokens at once: every request re-reads its user.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from admin.passwords import hash_password
from admin.services import Form, Service, ServiceError
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
