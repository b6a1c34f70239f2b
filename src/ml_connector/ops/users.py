"""Console users and their sessions, in the store. Passwords only as argon2id hashes; a session
cookie's value is never stored, only its SHA-256, so a copy of the database signs nobody in."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ml_connector.engine.models import User, WebSession
from ml_connector.engine.store import Store
from ml_connector.errors import ConfigurationError
from ml_connector.ops.roles import ROLES

SESSION_TTL = timedelta(hours=8)
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password")  # equal work for unknown names: no user enumeration


@dataclass(frozen=True)
class SignedIn:
    user: str
    role: str
    csrf_token: str


def add_user(store: Store, name: str, role: str, password: str) -> None:
    if role not in ROLES:
        raise ConfigurationError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ConfigurationError("a user name is 1 to 64 letters, digits, '-', '_' or '.'")
    if len(password) < 8:
        raise ConfigurationError("a password needs at least 8 characters")
    with store.session() as s:
        if s.scalars(select(User.id).where(User.name == name)).first() is not None:
            raise ConfigurationError(
                f"user {name!r} exists; change its role with `ml-connector user set-role {name} ROLE`"
            )
        s.add(User(name=name, role=role, password_hash=_hasher.hash(password), created_at=store.now()))


def list_users(store: Store) -> list[User]:
    with store.session() as s:
        return list(s.scalars(select(User).order_by(User.name)))


def _user(s: Session, name: str) -> User:
    user = s.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None:
        raise ConfigurationError(f"no user named {name!r}; list them with `ml-connector user list`")
    return user


def _keep_an_admin(s: Session, user: User, doing: str) -> None:
    """Refuse to leave the console without an admin: nobody could manage users or connections."""
    if user.role != "admin":
        return
    # the admins' rows locked (PostgreSQL): two admins demoting each other at once cannot both pass
    admins = s.scalars(select(User.id).where(User.role == "admin").with_for_update()).all()
    if len(admins) <= 1:
        raise ConfigurationError(
            f"{user.name} is the last admin: {doing} would leave nobody to manage users and "
            f"connections; make another admin first (`ml-connector user add NAME --role admin`)"
        )


def remove_user(store: Store, name: str) -> None:
    with store.session() as s:
        user = _user(s, name)
        _keep_an_admin(s, user, "removing it")
        s.execute(delete(WebSession).where(WebSession.user_id == user.id))
        s.delete(user)


def set_role(store: Store, name: str, role: str) -> str:
    """Change a user's role (its sessions keep going under the new role at once); the old role."""
    if role not in ROLES:
        raise ConfigurationError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    with store.session() as s:
        user = _user(s, name)
        old = user.role
        if old == role:
            return old
        if role != "admin":
            _keep_an_admin(s, user, f"making it {role}")
        user.role = role
        return old


def set_password(store: Store, name: str, password: str) -> None:
    """A new password; every session of the user ends (sign in again)."""
    if len(password) < 8:
        raise ConfigurationError("a password needs at least 8 characters")
    with store.session() as s:
        user = _user(s, name)
        user.password_hash = _hasher.hash(password)
        s.execute(delete(WebSession).where(WebSession.user_id == user.id))


def sign_in(store: Store, name: str, password: str, *, ttl: timedelta = SESSION_TTL) -> str | None:
    """A new session's cookie value, or None when the name or the password is wrong."""
    with store.session() as s:
        user = s.scalars(select(User).where(User.name == name)).one_or_none()
        try:
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None:
            return None
        token = secrets.token_urlsafe(32)
        now = store.now()
        s.add(
            WebSession(
                token_hash=_digest(token),
                user_id=user.id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + ttl,
            )
        )
        return token


def session_of(store: Store, token: str | None) -> SignedIn | None:
    """The signed-in user of a cookie, or None when unknown or expired (an expired one is removed)."""
    if not token:
        return None
    with store.session() as s:
        row = s.execute(
            select(WebSession, User)
            .join(User, User.id == WebSession.user_id)
            .where(WebSession.token_hash == _digest(token))
        ).one_or_none()
        if row is None:
            return None
        session, user = row
        if session.expires_at <= store.now():
            s.delete(session)
            return None
        return SignedIn(user.name, user.role, session.csrf_token)


def sign_out(store: Store, token: str | None) -> None:
    if token:
        with store.session() as s:
            s.execute(delete(WebSession).where(WebSession.token_hash == _digest(token)))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
