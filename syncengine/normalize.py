"""Canonical field values and match keys.

Canonical form makes "the same record" compare equal across systems: empty strings and
nulls are absent, tags are a sorted set of trimmed strings, custom fields drop empty
values. Match keys (``email:...``, ``phone:...``) are what links a new record to an
existing one on the other side: the email as email-validator normalises it with the
local part casefolded, the phone in E.164 via phonenumbers with a configurable default
region. Keys are for matching only; values written to a side are never rewritten.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import email_validator
import phonenumbers
from email_validator import EmailNotValidError, validate_email

from syncengine.models import JSON, Record
from syncengine.values import DATE_FIELDS, equivalent_dates

DEFAULT_REGION = "US"


def _canonical_value(key: str, value: JSON) -> JSON:
    if key == "tags":
        if not value:
            return None
        if not isinstance(value, list | tuple | set | frozenset):
            value = [value]
        tags = sorted({str(t).strip() for t in value if str(t).strip()})
        return tags or None
    if key == "custom_fields":
        if not isinstance(value, Mapping) or not value:
            return value or None
        cleaned = {str(k): _canonical_value("", v) for k, v in value.items()}
        cleaned = {k: v for k, v in sorted(cleaned.items()) if v is not None}
        return cleaned or None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, list | tuple) and not value:
        return None
    if isinstance(value, Mapping) and not value:
        return None
    return value


_STRUCTURED = frozenset({"tags", "custom_fields"})


def canonical_fields(fields: Mapping[str, JSON]) -> dict[str, JSON]:
    """Fields in canonical form: absent == null == "" and set-like fields sorted."""
    out: dict[str, JSON] = {}
    for key in sorted(fields):
        value = fields[key]
        if value is None:
            continue
        if type(value) is str and key not in _STRUCTURED:
            # The common case, inline (a run canonicalises every field it reads).
            value = value.strip()
            if value:
                out[key] = value
            continue
        value = _canonical_value(key, value)
        if value is not None:
            out[key] = value
    return out


def is_canonical(fields: Mapping[str, JSON]) -> bool:
    """Whether ``canonical_fields(fields)`` would equal ``fields``: a check that builds
    nothing, so a side that already holds canonical records (every record a run reads
    back, every create it sends) keeps its dict instead of a copy of it."""
    last: str | None = None
    for key, value in fields.items():
        if last is not None and key <= last:
            return False  # canonical_fields sorts the names
        last = key
        if type(value) is str:
            if key in _STRUCTURED or not value or value.strip() is not value:
                return False
        elif key == "tags":
            if type(value) is not list or not value or not _canonical_tags(value):
                return False
        elif value is None or _canonical_value(key, value) != value:
            return False
    return True


def _canonical_tags(tags: list[Any]) -> bool:
    """Tags as ``_canonical_value`` leaves them: trimmed, unique, sorted strings."""
    last: str | None = None
    for tag in tags:
        if type(tag) is not str or not tag or tag.strip() is not tag:
            return False
        if last is not None and tag <= last:
            return False
        last = tag
    return True


_PLAIN_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


_SPECIAL_USE = frozenset(email_validator.SPECIAL_USE_DOMAIN_NAMES)
"""Top-level names email-validator refuses (``test``, ``local``, ...): left to it."""


@lru_cache(maxsize=65536)
def email_key(email: str) -> str | None:
    """The matching key of an email, or None if it is not a valid address.

    Plain ASCII addresses (nearly all) take a strict regex that accepts only what
    email-validator accepts and normalises them the same way; anything else (Unicode,
    quoted local parts) goes through email-validator itself.
    """
    email = email.strip()
    if _PLAIN_EMAIL.match(email) and len(email) <= 254:
        # The regex admits one "@" and a dotted domain: split once, look at the last label.
        local, _, domain = email.rpartition("@")
        if len(local) <= 64 and domain.rpartition(".")[2].lower() not in _SPECIAL_USE:
            return f"{local.casefold()}@{domain.lower()}"
    try:
        normalized = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError:
        return None
    local, _, domain = normalized.rpartition("@")
    return f"{local.casefold()}@{domain.lower()}"


def is_valid_email(email: str) -> bool:
    return email_key(email) is not None


@lru_cache(maxsize=65536)
def phone_key(phone: str, region: str = DEFAULT_REGION) -> str | None:
    """The phone in E.164, or None if it cannot be read as a possible number."""
    try:
        parsed = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def e164_problem(phone: str, region: str = DEFAULT_REGION) -> str | None:
    """Why ``phone`` cannot be kept whole as E.164 (a side that stores only E.164 would
    change it), or None when it can.

    Matching needs only a *possible* number (``phone_key``). Storing needs more: an
    extension has no place in E.164, and a number written without a country code is
    read with ``region``, a guess worth trusting only when the result is a valid number
    there (``12345`` read as German is ``+4912345``, which no one can call).
    """
    try:
        parsed = phonenumbers.parse(phone, region, keep_raw_input=True)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        return (
            f"has phone {phone!r}, which is not a phone number (read with default_region "
            f"{region!r}); correct it on the side it comes from, or write it with its "
            "country code (+44 ...)"
        )
    if parsed.extension:
        return (
            f"has phone {phone!r}, whose extension ({parsed.extension}) a phone in E.164 "
            "cannot hold; keep the number alone in phone and the extension elsewhere "
            "(a note, or a custom field)"
        )
    assumed = parsed.country_code_source == phonenumbers.CountryCodeSource.FROM_DEFAULT_COUNTRY
    if assumed and not phonenumbers.is_valid_number(parsed):
        return (
            f"has phone {phone!r}, which is no valid number in {region} (read with "
            "default_region, as it has no country code); correct it on the side it comes "
            "from, or write it with its country code (+44 ...)"
        )
    return None


def content_key(entity: str, fields: Mapping[str, JSON], names: Iterable[str]) -> str:
    """A key from the content of chosen fields: how keyless records are matched."""
    picked = {n: fields[n] for n in sorted(names) if fields.get(n) is not None}
    blob = json.dumps(picked, sort_keys=True, separators=(",", ":"), default=str)
    return f"content:{entity}:{hashlib.blake2b(blob.encode(), digest_size=12).hexdigest()}"


CHILD_KEY_FIELDS: Mapping[str, tuple[str, ...]] = {
    "note": ("title", "body"),
    "task": ("title", "due_date"),
    "appointment": ("title", "start_time"),
}
KEYLESS_CONTACT_FIELDS = ("first_name", "last_name", "company_name")


def match_keys(
    record: Record, region: str = DEFAULT_REGION, keys: Iterable[str] = ("email", "phone")
) -> tuple[str, ...]:
    """The keys a record can be matched by, strongest first.

    Contacts match by email then phone; a contact with neither by its name and company.
    Children match by content within their (linked) contact, so the key includes the
    parent only on the engine's side; here it is content alone.
    """
    fields: Mapping[str, Any] = record.fields
    if record.entity != "contact":
        return (content_key(record.entity, fields, CHILD_KEY_FIELDS[record.entity]),)
    email, phone = fields.get("email"), fields.get("phone")
    out = _contact_keys(
        email if isinstance(email, str) else None,
        phone if isinstance(phone, str) else None,
        region,
        keys if isinstance(keys, tuple) else tuple(keys),
    )
    if not out and any(fields.get(n) for n in KEYLESS_CONTACT_FIELDS):
        return (content_key("contact", fields, KEYLESS_CONTACT_FIELDS),)
    return out


@lru_cache(maxsize=65536)
def _contact_keys(
    email: str | None, phone: str | None, region: str, wanted: tuple[str, ...]
) -> tuple[str, ...]:
    """A contact's email and phone keys (cached: a run asks for each record's more than
    once, on both sides)."""
    out: list[str] = []
    if email is not None and "email" in wanted:
        key = email_key(email)
        if key:
            out.append(f"email:{key}")
    if phone is not None and "phone" in wanted:
        pkey = phone_key(phone, region)
        if pkey:
            out.append(f"phone:{pkey}")
    return tuple(out)


def equivalent(field_name: str, x: JSON, y: JSON, region: str = DEFAULT_REGION) -> bool:
    """Whether two values of a field say the same thing (email case, phone format, the
    spelling of a date)."""
    if x == y:
        return True
    if not isinstance(x, str) or not isinstance(y, str):
        return False
    if field_name == "email":
        kx = email_key(x)
        return kx is not None and kx == email_key(y)
    if field_name == "phone":
        kx = phone_key(x, region)
        return kx is not None and kx == phone_key(y, region)
    if field_name in DATE_FIELDS:
        return equivalent_dates(x, y)
    return False
