"""The account rules of `server/domain/accounts.py`: roles and ranks, what a username, password and PIN
must be, and stored secrets that werkzeug's hashes (the format of every existing account) still match."""
from __future__ import annotations

import pytest
from layso.server.domain import accounts as a
from werkzeug.security import check_password_hash, generate_password_hash


def test_ranks_include_the_lower_roles():
    assert a.ranks_at_least("admin", "manager") and a.ranks_at_least("province_admin", "admin")
    assert not a.ranks_at_least("staff", "manager") and not a.ranks_at_least("manager", "admin")
    assert not a.ranks_at_least("kiosk", "staff")  # a device has no rank among people
    assert set(a.ROLE_RANK) == set(a.ALL_USER_ROLES) and a.PROVINCE_ROLE not in a.USER_ROLES


@pytest.mark.parametrize(("name", "ok"), [("lan", True), ("can-bo.02_a", True), ("a" * 64, True),
                                          ("a" * 65, False), ("", False), ("lân", False), ("có dấu", False),
                                          ("a b", False), (None, False)])
def test_usernames(name, ok):
    assert a.valid_username(name) is ok


def test_passwords_and_pins():
    assert a.valid_password("12345678") and not a.valid_password("1234567") and not a.valid_password(None)
    assert a.valid_pin("1234") and a.valid_pin("1" * 12)
    assert not a.valid_pin("123") and not a.valid_pin("1" * 13) and not a.valid_pin("12a4") and not a.valid_pin(None)


def test_a_secret_checks_against_its_hash_only():
    stored = a.hash_secret("mật-khẩu-1", method="scrypt:1024:8:1")
    assert stored.startswith("scrypt:1024:8:1$") and a.check_secret(stored, "mật-khẩu-1")
    assert not a.check_secret(stored, "mật-khẩu-2")
    assert a.hash_secret("x", method="scrypt:1024:8:1") != a.hash_secret("x", method="scrypt:1024:8:1")  # salted
    for broken in (None, "", "!", "scrypt$salt", "md5$salt$00", "scrypt:1:2$salt$00"):
        assert not a.check_secret(broken, "x")


@pytest.mark.parametrize("method", ["scrypt:1024:8:1", "pbkdf2:sha256:1000"])
def test_hashes_are_werkzeugs_format_both_ways(method):
    assert check_password_hash(a.hash_secret("password-123", method=method), "password-123")
    assert a.check_secret(generate_password_hash("password-123", method=method), "password-123")
    assert not a.check_secret(generate_password_hash("password-123", method=method), "password-124")


def test_the_default_is_scrypt_with_werkzeugs_default_cost():
    assert a.DEFAULT_HASH_METHOD == "scrypt:32768:8:1"
    assert generate_password_hash("x").split("$")[0] == a.DEFAULT_HASH_METHOD
    stored = a.hash_secret("password-123", method=a.DEFAULT_HASH_METHOD)
    assert stored.startswith("scrypt:32768:8:1$") and check_password_hash(stored, "password-123")


def test_new_hashes_use_the_current_method():
    """The suite makes its accounts with a cheaper scrypt (conftest); a hash says its own method."""
    assert a.hash_secret("x").split("$")[0] == a.HASH_METHOD


def test_device_tokens_are_stored_as_their_sha256():
    token = a.new_device_token()
    assert token.startswith("ls_") and len(token) > 30 and a.new_device_token() != token
    assert a.hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
