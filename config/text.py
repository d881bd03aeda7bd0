"""Text PostgreSQL can store, checked where input enters rather than by the database.

PostgreSQL text and jsonb cannot hold U+0000, and the driver cannot send a str holding a
lone UTF-16 surrogate (it is not valid Unicode, so it has no UTF-8 form); either would
fail deep in a write or a query, as a 500 or a failed batch.
"""

NUL = "\x00"
# How JSON spells U+0000 (it cannot carry it raw): a text without this cannot hold one.
NUL_ESCAPE = "\\u0000"


def is_valid_unicode(text: str) -> bool:
    """False for a str holding a lone surrogate (JSON may spell one: "\\ud800")."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def is_storable_text(text: str) -> bool:
    """Text PostgreSQL can store: valid Unicode, without U+0000."""
    return NUL not in text and is_valid_unicode(text)
