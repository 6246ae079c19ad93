"""The secrets storyboard must never show or write: found in the environment, replaced by ***."""
from __future__ import annotations

import os
import re

SECRET_VARIABLES = ("AIMLAPI_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def secrets() -> list[str]:
    """The secrets in the environment that must never be shown or written anywhere."""
    return [secret for name in SECRET_VARIABLES if len(secret := os.environ.get(name, "")) >= 4]


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    """`text` with every secret (from the environment, and `extra`) replaced by ***, in any letter case:
    a service echoing a key back lower-cased must not leak it either."""
    for secret in (*secrets(), *extra):
        if len(secret) >= 4:
            text = re.sub(re.escape(secret), "***", text, flags=re.IGNORECASE)
    return text


def holds_secret(text: str) -> bool:
    """True if `text` contains a secret from the environment, in any letter case."""
    folded = text.casefold()
    return any(secret.casefold() in folded for secret in secrets())
