"""Who may use the console: users from the environment, signed sessions, CSRF tokens."""

from __future__ import annotations

import base64

import pytest
from orderflow_ops.console.auth import (
    Role,
    Session,
    SessionSigner,
    UsersError,
    authenticate,
    parse_users,
)

USERS = parse_users("ada:operator:s3cret:with:colons, bob:viewer:pw2")
NOW = 1_800_000_000.0


def test_users_come_with_their_role_and_a_malformed_entry_is_refused() -> None:
    assert USERS["ada"].role is Role.OPERATOR
    assert USERS["ada"].password == "s3cret:with:colons"
    assert USERS["bob"].role is Role.VIEWER
    with pytest.raises(UsersError, match="entry 1 has a role other than viewer or operator"):
        parse_users("eve:admin:pw")
    with pytest.raises(UsersError, match="name:role:password"):
        parse_users("eve:viewer:")


def test_only_the_right_password_authenticates() -> None:
    assert authenticate(USERS, "ada", "s3cret:with:colons") == USERS["ada"]
    assert authenticate(USERS, "ada", "s3cret") is None
    assert authenticate(USERS, "nobody", "s3cret:with:colons") is None
    assert authenticate(USERS, "bob", "") is None


def test_a_session_is_proved_by_its_signature_until_it_expires() -> None:
    signer = SessionSigner("key")
    cookie = signer.issue(USERS["bob"], now=NOW, lifetime_s=60)
    session = signer.verify(cookie, now=NOW + 59, users=USERS)
    assert session is not None
    assert session.name == "bob"
    assert not session.may_replay
    assert signer.verify(cookie, now=NOW + 61, users=USERS) is None
    assert SessionSigner("another key").verify(cookie, now=NOW, users=USERS) is None
    encoded, mac = cookie.rsplit(".", 1)
    payload = base64.urlsafe_b64decode(encoded).decode()
    promoted = base64.urlsafe_b64encode(payload.replace("viewer", "operator").encode()).decode()
    assert (
        signer.verify(f"{promoted}.{mac}", now=NOW, users=USERS) is None
    )  # a role raised, unsigned
    for junk in (None, "", "no-dot", ".", "x.y"):
        assert signer.verify(junk, now=NOW, users=USERS) is None


def test_the_csrf_token_belongs_to_one_session() -> None:
    signer = SessionSigner("key")
    first = signer.verify(signer.issue(USERS["ada"], now=NOW, lifetime_s=60), now=NOW, users=USERS)
    second = signer.verify(signer.issue(USERS["ada"], now=NOW, lifetime_s=60), now=NOW, users=USERS)
    assert first is not None
    assert second is not None
    assert first.may_replay
    token = signer.csrf_token(first)
    assert signer.csrf_ok(first, token)
    assert not signer.csrf_ok(second, token)  # another login of the same user
    assert not signer.csrf_ok(first, None)
    assert not signer.csrf_ok(first, "")
    assert not signer.csrf_ok(first, token[:-1] + ("0" if token[-1] != "0" else "1"))


def test_csrf_tokens_never_look_like_a_card_number_to_the_http_guard() -> None:
    # In hex, about one token in 6,000 held a digit run the guard refuses as a card number,
    # and every form of that session was refused (a fresh-clone CI run met one).
    signer = SessionSigner("key")
    for n in range(2_000):
        session = signer.verify(
            signer.issue(USERS["ada"], now=NOW, lifetime_s=60), now=NOW, users=USERS
        )
        assert session is not None
        for token in (signer.csrf_token(session), signer.login_csrf_token(f"nonce-{n}")):
            assert not any(ch.isdigit() for ch in token), token
            assert len(token) == 64  # a SHA-256 MAC, every bit of it


def test_text_a_client_sends_that_is_not_ascii_is_simply_not_valid() -> None:
    # compare_digest raises TypeError on str holding non-ASCII: every page answered 500.
    signer = SessionSigner("key")
    session = signer.verify(
        signer.issue(USERS["ada"], now=NOW, lifetime_s=60), now=NOW, users=USERS
    )
    assert session is not None
    for junk in ("a.é", "x.\udcff", "é"):
        assert signer.verify(junk, now=NOW, users=USERS) is None
        assert not signer.csrf_ok(session, junk)
        assert not signer.login_csrf_ok("nonce", junk)


def test_a_session_proves_nothing_once_its_user_is_removed_or_given_another_role_or_password() -> (
    None
):
    # Review (helper 109): a cookie signed for an operator still replayed dead letters after
    # the operator was made a viewer or removed (the same CONSOLE_SESSION_SECRET). A new
    # password did not end the sessions of the old one either.
    signer = SessionSigner("key")
    cookie = signer.issue(parse_users("ada:operator:pw-1")["ada"], now=NOW, lifetime_s=3600)

    def session_with(users: str) -> Session | None:
        return signer.verify(cookie, now=NOW, users=parse_users(users))

    assert session_with("ada:operator:pw-1") is not None
    assert session_with("ada:viewer:pw-1") is None
    assert session_with("bob:operator:pw-1") is None
    assert session_with("ada:operator:pw-2") is None, "a new password ends the old sessions"


def test_the_password_is_signed_over_never_carried() -> None:
    cookie = SessionSigner("key").issue(USERS["ada"], now=NOW, lifetime_s=60)
    encoded = cookie.rsplit(".", 1)[0]
    assert "s3cret" not in base64.urlsafe_b64decode(encoded).decode()
