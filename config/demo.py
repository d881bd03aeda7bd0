"""The demo's seeders, one registry: each app's `demo.py` registers what it seeds with
`@demo_seeder(order)`, and `manage.py seed_demo` runs them all, by order, in one
transaction. The modules are found like the admin's (autodiscover), so no app imports
another's demo and the import graph stays one way (payments seeds a top-up for the
customers metering's demo made, without either importing the other).

A seeder is idempotent (fixed idempotency keys, get-or-create) and returns lines to
print: what it made and how to try it.
"""

from collections.abc import Callable

from django.utils.module_loading import autodiscover_modules

Seeder = Callable[[], list[str]]
_SEEDERS: list[tuple[int, str, Seeder]] = []


def demo_seeder(order: int) -> Callable[[Seeder], Seeder]:
    def register(seeder: Seeder) -> Seeder:
        name = f"{seeder.__module__}.{seeder.__qualname__}"
        if all(existing != name for _order, existing, _seeder in _SEEDERS):
            _SEEDERS.append((order, name, seeder))
        return seeder

    return register


def demo_seed_all() -> list[str]:
    """Run every registered seeder by order (the caller holds the transaction)."""
    autodiscover_modules("demo")
    lines: list[str] = []
    for _order, _name, seeder in sorted(_SEEDERS, key=lambda item: (item[0], item[1])):
        lines += seeder()
    return lines
