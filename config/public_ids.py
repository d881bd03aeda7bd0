"""Public ids (UUIDs) as they arrive from outside: a URL, a JSON body, Stripe's metadata.

One parse for every app, so they all answer alike: a value that is not a UUID in any
spelling `uuid.UUID` accepts names nothing (the caller answers as for an unknown id, a
404 or None), never a 500.
"""

import uuid


def public_id_parse(value: object) -> uuid.UUID | None:
    """`value` as a UUID (a UUID, or any text form of one), else None."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
