"""Who may do what: the roles, the actions, and the one map between them (docs/admin.md, Access).

Routes declare the action they perform in their ``opt`` (``opt=needs(CATALOG_WRITE)``); the login
guard (``admin.web.auth.requires_login``) checks it for pages and the API alike, so a route cannot
forget its check. A route that declares nothing is a read when its method is safe, and an
admin-only write otherwise: a new write route that forgot its declaration is refused to everyone
but admins, never opened to all. Handlers that decide inside (a form that writes only on some
input) call ``require``. The CLI and ``akira users create --role`` take their choices from here,
and tests/integration/test_access_routes.py ties the roles to the database's ``akira_role``.

Standard library only: ``akira`` imports it to build its parser, and ``akira simulate`` must start
fast.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Protocol

PERMISSION_OPT = "permission"  # the key of a route handler's opt naming its action
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Role(StrEnum):
    ADMIN = "admin"  # everything, users and tokens included
    OPERATOR = "operator"  # catalog changes and publishing
    NOC = "noc"  # test calls
    FINANCE = "finance"  # ledger entries
    READ_ONLY = "read-only"  # reads only


# The actions. A dotted name is an area and what is done in it.
READ = "read"
CATALOG_WRITE = "catalog.write"  # companies, trunks, tariffs, rates, routing plans
PUBLISH = "publish"  # a new routing snapshot goes live
ACCOUNTS_POST = "accounts.post"  # ledger entries: top-ups, adjustments, refunds, invoices
NOC_TEST_CALL = "noc.test_call"
CALLS_VIEW = "calls.view"  # calls in progress: who calls whom, now
CALLS_DROP = "calls.drop"  # end a call in progress (BYE to both sides)
# traffic and money reports; every role, as each reads the CDRs they sum (narrow it here)
REPORTS_VIEW = "reports.view"
USERS_MANAGE = "users.manage"
TOKENS_MANAGE = "tokens.manage"
UNDECLARED_WRITE = "undeclared.write"  # an unsafe route that declared no action: admins only

PERMISSIONS: Mapping[str, frozenset[Role]] = {
    READ: frozenset(Role),
    CATALOG_WRITE: frozenset({Role.ADMIN, Role.OPERATOR}),
    PUBLISH: frozenset({Role.ADMIN, Role.OPERATOR}),
    ACCOUNTS_POST: frozenset({Role.ADMIN, Role.FINANCE}),
    NOC_TEST_CALL: frozenset({Role.ADMIN, Role.NOC}),
    CALLS_VIEW: frozenset({Role.ADMIN, Role.OPERATOR, Role.NOC}),
    CALLS_DROP: frozenset({Role.ADMIN, Role.NOC}),
    REPORTS_VIEW: frozenset(Role),
    USERS_MANAGE: frozenset({Role.ADMIN}),
    TOKENS_MANAGE: frozenset({Role.ADMIN}),
    UNDECLARED_WRITE: frozenset({Role.ADMIN}),
}
ACTIONS = frozenset(PERMISSIONS)


class UnknownAction(ValueError):
    """A route or a check names an action that the map does not have: a typo must not pass."""


def actions_of(role: Role) -> frozenset[str]:
    return frozenset(action for action, roles in PERMISSIONS.items() if role in roles)


def covers(owner: Role, scope: Role) -> bool:
    """Whether a token of role ``scope`` would do nothing its owner of role ``owner`` may not."""
    return actions_of(scope) <= actions_of(owner)


def needs(action: str) -> dict[str, str]:
    """A route handler's ``opt`` declaring its action: ``@post(..., opt=needs(PUBLISH))``."""
    if action not in PERMISSIONS:
        raise UnknownAction(f"unknown action {action!r}; known: {', '.join(sorted(ACTIONS))}")
    return {PERMISSION_OPT: action}


def action_for(opt: Mapping[str, Any], method: str) -> str:
    """The action a route performs, from its declaration or, without one, from its method."""
    declared = opt.get(PERMISSION_OPT)
    if declared is None:
        return READ if method.upper() in SAFE_METHODS else UNDECLARED_WRITE
    if declared not in PERMISSIONS:
        raise UnknownAction(f"unknown action {declared!r}")
    return declared


def who_may(action: str) -> str:
    """For refusals: the roles that may, in words."""
    return ", ".join(sorted(PERMISSIONS[action]))


class Actor(Protocol):
    @property
    def role(self) -> Role: ...
    @property
    def actions(self) -> frozenset[str]: ...


def allows(actor: Actor | None, action: str) -> bool:
    """Whether this user (or token) may: for templates that hide what a role cannot do."""
    if action not in PERMISSIONS:
        raise UnknownAction(f"unknown action {action!r}")
    return actor is not None and action in actor.actions


def require(actor: Actor, action: str) -> None:
    """Refuse (403) unless ``actor`` may do ``action``; for checks a handler makes itself."""
    from litestar.exceptions import PermissionDeniedException  # stdlib-only at import

    if not allows(actor, action):
        raise PermissionDeniedException(
            f"{action} is not allowed for the role {actor.role}; roles that may: {who_may(action)}"
        )


def parse_role(text: str) -> Role:
    """A role from a user's input; an unknown name is an error, never a default."""
    try:
        return Role(text)
    except ValueError:
        raise ValueError(
            f"unknown role {text!r}; roles: {', '.join(role.value for role in Role)}"
        ) from None


def role_names() -> Iterable[str]:
    return [role.value for role in Role]


def declare(action: str, handlers: Iterable[Any]) -> list[Any]:
    """Mark the unsafe routes among ``handlers`` that declare nothing themselves as ``action``.

    For route handlers made by a factory (the generic record routes): the factory's writes then
    need the action the app gives them, and their reads stay reads.
    """
    needs(action)  # an unknown action fails here, at start-up
    result = []
    for handler in handlers:
        if not set(handler.http_methods) <= SAFE_METHODS:
            handler.opt.setdefault(PERMISSION_OPT, action)
        result.append(handler)
    return result
