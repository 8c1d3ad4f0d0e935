"""Who may use the console, and the proofs it hands out: a signed session cookie and a CSRF
token bound to the session.

Users come from the environment (``CONSOLE_USERS``: ``name:role:password,...``) with one of
two roles: a *viewer* reads every page; an *operator* may also replay dead letters. The cookie
is ``name|role|expiry|nonce`` signed with HMAC-SHA256 over the user's password too: it proves
a session only while its user is in ``CONSOLE_USERS`` with the same role and password, so
changing a password or a role ends that user's sessions. A session logged out of is recorded
in the console's database until it expires (:mod:`orderflow_ops.console.ended_sessions`): a
copy of its cookie proves nothing either. The CSRF token of a session is the HMAC of its nonce,
so a forged form from another site (which cannot read the page) cannot carry it.

The login form has no session yet, so it is bound to a *login nonce* instead: a random value in
its own SameSite=Strict cookie, with the HMAC of that nonce in the form. Without it, another site
could log a victim's browser in as the attacker (login CSRF).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    password: str
    entry: int = 0  # its place in CONSOLE_USERS, from 1: what messages name, never its text


class UsersError(ValueError):
    """CONSOLE_USERS is malformed; the message says which entry and why."""


def parse_users(text: str) -> dict[str, User]:
    """The users of ``CONSOLE_USERS``. A refusal names the entry by its place, never a field's
    text: an entry written in the wrong order or with other separators holds its password
    where a name or role is expected, and the message goes to the service's log."""
    users: dict[str, User] = {}
    entries = filter(None, (part.strip() for part in text.split(",")))
    for number, entry in enumerate(entries, start=1):
        name, role, password = ([*entry.split(":", 2), "", ""])[:3]
        if not name or not password:
            raise UsersError(f"CONSOLE_USERS: entry {number} is not name:role:password")
        try:
            users[name] = User(name, Role(role), password, entry=number)
        except ValueError as error:
            raise UsersError(
                f"CONSOLE_USERS: entry {number} has a role other than viewer or operator; "
                "write name:role:password"
            ) from error
    return users


def authenticate(users: dict[str, User], name: str, password: str) -> User | None:
    user = users.get(name)
    # compare_digest on every attempt: a wrong name costs the same as a wrong password.
    expected = user.password if user is not None else secrets.token_urlsafe(16)
    if hmac.compare_digest(expected.encode(), password.encode()) and user is not None:
        return user
    return None


@dataclass(frozen=True)
class Session:
    name: str
    role: Role
    expires_at: float
    nonce: str

    @property
    def may_replay(self) -> bool:
        return self.role is Role.OPERATOR


class SessionSigner:
    def __init__(self, secret: str | None = None) -> None:
        self._key = (secret or secrets.token_urlsafe(32)).encode()

    def issue(self, user: User, *, now: float, lifetime_s: float) -> str:
        payload = f"{user.name}|{user.role.value}|{int(now + lifetime_s)}|{secrets.token_hex(16)}"
        encoded = base64.urlsafe_b64encode(payload.encode()).decode()
        return f"{encoded}.{self._cookie_mac(encoded, user)}"

    def verify(self, cookie: str | None, *, now: float, users: dict[str, User]) -> Session | None:
        """The session ``cookie`` proves, or None: absent, tampered, expired, malformed, or
        signed for a user who is no longer in ``users`` with that role and password."""
        if not cookie or "." not in cookie:
            return None
        encoded, _, mac = cookie.rpartition(".")
        try:
            name, role, expires, nonce = base64.urlsafe_b64decode(encoded).decode().split("|")
            session = Session(name, Role(role), float(expires), nonce)
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors too
            return None
        user = users.get(session.name)
        if user is None or user.role is not session.role:
            return None
        if not _same(mac, self._cookie_mac(encoded, user)):
            return None
        return session if session.expires_at > now else None

    def csrf_token(self, session: Session) -> str:
        return _without_digits(self._mac(f"csrf|{session.nonce}"))

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and _same(token or "", self.csrf_token(session))

    @staticmethod
    def new_login_nonce() -> str:
        return secrets.token_hex(16)

    def login_csrf_token(self, nonce: str) -> str:
        return _without_digits(self._mac(f"login-csrf|{nonce}"))

    def login_csrf_ok(self, nonce: str | None, token: str | None) -> bool:
        """Whether a login form's ``token`` was handed out with the ``nonce`` of its cookie."""
        if not nonce or not token:
            return False
        return _same(token, self.login_csrf_token(nonce))

    def _cookie_mac(self, encoded: str, user: User) -> str:
        # The password is signed over, never carried: a new password ends the old sessions.
        return self._mac(f"session|{encoded}|{user.password}")

    def _mac(self, text: str) -> str:
        return hmac.new(
            self._key, text.encode("utf-8", "surrogatepass"), hashlib.sha256
        ).hexdigest()


# A CSRF token travels in every form, which the HTTP guard screens for card numbers: in hex,
# one token in about 6,000 held a digit run the guard refuses (every form of that session
# then answered 422). The same bits, written with the letters a-p, hold no digit at all.
_HEX_AS_LETTERS = str.maketrans("0123456789", "ghijklmnop")


def _without_digits(hex_digest: str) -> str:
    return hex_digest.translate(_HEX_AS_LETTERS)


def _same(given: str, expected: str) -> bool:
    """A constant-time comparison of a client's text with ours. ``compare_digest`` refuses
    ``str`` holding anything but ASCII (a TypeError, so a 500); as UTF-8 bytes, any text a
    client sends is simply not equal."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())
