"""Reading settings from the environment, with typed defaults.

Every setting of the product can be overridden by an environment variable of the same
name; these helpers keep the parsing in one place and fail loudly on a bad value.
"""

import os
import warnings

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false)")


def env_bool_alias(name: str, *, old: str, default: bool) -> bool:
    """`name` from the environment; when it is not set, the setting's old name `old`
    (kept for one release, with a warning), else `default`."""
    if name not in os.environ and old in os.environ:
        warnings.warn(
            f"{old} is the old name of {name}; set {name} instead (the old one goes next release)",
            DeprecationWarning,
            stacklevel=2,
        )
        return env_bool(old, default)
    return env_bool(name, default)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from exc
    if value != value or value in (float("inf"), float("-inf")):
        raise ImproperlyConfigured(f"{name}={raw!r} is not a finite number")
    return value
