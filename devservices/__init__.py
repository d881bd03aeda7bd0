"""Start and stop the real services the test-suite needs: postgres, kafka, redis, stripe-mock.

    python -m devservices up [SERVICE ...]     # install what is missing, start, wait until ready
    python -m devservices down [SERVICE ...]
    python -m devservices status
    python -m devservices env                  # `export NAME=value` lines

From pytest:

    import devservices
    devservices.up(["postgres", "redis"])
    os.environ.update(devservices.env())

Everything lives under <repo>/var/: data, logs (var/log/<service>.log), pid files (var/run/).
`up` and `down` are idempotent and only ever signal processes whose pid files they wrote.
"""

from __future__ import annotations

from collections.abc import Iterable

from .core import DevServiceError, exclusive_lock, progress
from .kafka import Kafka
from .postgres import Postgres
from .redis import Redis
from .stripe import Stripe

__all__ = ["SERVICES", "DevServiceError", "down", "env", "status", "up"]

# Start order; `down` goes in reverse.
SERVICES = {service.name: service for service in (Postgres(), Kafka(), Redis(), Stripe())}


def _select(names: Iterable[str] | str | None) -> list:
    if names is None:
        return list(SERVICES.values())
    if isinstance(names, str):
        names = [names]
    names = list(names) or list(SERVICES)
    unknown = [name for name in names if name not in SERVICES]
    if unknown:
        raise DevServiceError(f"unknown service(s) {unknown}; choose from {list(SERVICES)}")
    return [service for name, service in SERVICES.items() if name in names]


def up(names: Iterable[str] | str | None = None) -> None:
    """Install (if needed) and start the services, returning once each one is ready."""
    services = _select(names)
    with exclusive_lock():
        for service in services:
            progress(f"{service.name}: ")
            try:
                print(service.start(), flush=True)
            except BaseException:
                print(flush=True)  # finish the progress line before the error is shown
                raise


def down(names: Iterable[str] | str | None = None) -> None:
    """Stop the services; a service that is not running is left alone."""
    services = _select(names)
    with exclusive_lock():
        for service in reversed(services):
            print(f"{service.name}: {service.stop()}", flush=True)


def status() -> dict[str, str]:
    return {name: service.status() for name, service in SERVICES.items()}


def env() -> dict[str, str]:
    """Connection settings for all services (whether or not they are running)."""
    values: dict[str, str] = {}
    for service in SERVICES.values():
        values.update(service.env())
    return values
