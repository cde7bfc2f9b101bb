"""The fast path of ``email_key`` agrees with email-validator, which it stands in for."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given
from hypothesis import strategies as st

from syncengine.normalize import email_key


def validator_key(email: str) -> str | None:
    try:
        normalized = validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None
    local, _, domain = normalized.rpartition("@")
    return f"{local.casefold()}@{domain.lower()}"


@pytest.mark.parametrize(
    "email",
    [
        "Ada@Example.COM",
        "a@foo.test",
        "a@host.local",
        "a@x.invalid",
        "a@localhost",
        "a@onion.onion",
        "first.last+tag@sub.example.org",
        "a..b@example.com",
        "a@-example.com",
        "user@example.c",
    ],
)
def test_known_cases_agree(email: str) -> None:
    assert email_key(email) == validator_key(email)


labels = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,8}[A-Za-z0-9])?", fullmatch=True)
tlds = st.sampled_from(["com", "org", "test", "local", "invalid", "arpa", "io", "c", "co1"])


@given(
    local=st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,20}", fullmatch=True),
    domain=st.lists(labels, min_size=1, max_size=3),
    tld=tlds,
)
def test_generated_addresses_agree(local: str, domain: list[str], tld: str) -> None:
    email = f"{local}@{'.'.join(domain)}.{tld}"
    assert email_key(email) == validator_key(email)
