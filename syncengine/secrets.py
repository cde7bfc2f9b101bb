"""Secrets are references, never values: ``env:NAME`` or ``keyring:NAME``.

One ``SecretStore`` resolves them; the resolved value is handed to the adapter and
never written to a log, report, audit row or exception message.
"""

from __future__ import annotations

import os

from syncengine.errors import SecretError

SECRET_SETTINGS = frozenset(
    {"token", "client_secret", "api_key", "password", "secret", "access_token", "refresh_token"}
)
PREFIXES = ("env:", "keyring:")


def is_reference(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIXES)


def reference_source(reference: str, setting: str) -> str:
    """What a message calls the place a reference points at, and the setting that
    holds it: a user fixing the value edits the variable, not the file."""
    kind, _, name = reference.partition(":")
    what = f"environment variable {name}" if kind == "env" else f"keyring entry syncengine/{name}"
    return f"{what} (from {setting})"


class SecretStore:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self._environ = environ if environ is not None else dict(os.environ)

    def __call__(self, reference: str, *, setting: str) -> str:
        if reference.startswith("env:"):
            name = reference.removeprefix("env:")
            value = self._environ.get(name)
            if not value:
                raise SecretError(f"{setting}: environment variable {name} is not set; export it")
            return value
        if reference.startswith("keyring:"):
            name = reference.removeprefix("keyring:")
            try:
                import keyring

                value = keyring.get_password("syncengine", name)
            except Exception as exc:  # keyring backends raise their own types
                raise SecretError(
                    f"{setting}: keyring is not usable here ({type(exc).__name__}); "
                    f"use env:VAR instead"
                ) from None
            if not value:
                raise SecretError(
                    f"{setting}: no keyring entry syncengine/{name}; "
                    f"add it with `keyring set syncengine {name}`"
                )
            return str(value)
        raise SecretError(f"{setting}: a secret must be a reference like env:VAR or keyring:NAME")
