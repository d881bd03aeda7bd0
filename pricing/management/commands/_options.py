"""Shared argument parsing for the pricing commands."""

import getpass
from datetime import datetime

from django.core.management.base import CommandError


def aware_datetime(text: str) -> datetime:
    """An ISO 8601 moment with its offset (2025-06-01T00:00:00Z): prices change at an
    instant, so a naive time (whose zone would be guessed) is refused."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"{text!r} is not an ISO 8601 datetime") from exc
    if moment.tzinfo is None:
        raise CommandError(f"{text!r} has no UTC offset; write e.g. {text}Z or {text}+00:00")
    return moment


def default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
