"""The arithmetic of a contract's terms, in one place: the draw-down books with it and
reconciliation expects with it. Pure integer functions on minor units (and tokens).

- A discount of `d` basis points makes usage worth `list x (10000 - d) / 10000`,
  rounded once, half-even (`net_of_discount`).
- A money commitment pays for usage at that net value, so its balance covers at most
  `list_capacity(balance, d)` of list cost: the largest list amount whose net value
  does not exceed the balance (the draw never over-draws the account).
- A token commitment bought `tokens` tokens for `price` minor units; after `used`
  tokens its value drawn is `token_value(price, tokens, used)`, a cumulative
  allocation: drawing every token draws exactly the price, whatever the batches.
"""

BPS = 10_000


def half_even_div(numerator: int, denominator: int) -> int:
    """numerator / denominator (denominator > 0), rounded half to even."""
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def net_of_discount(list_minor: int, discount_bps: int) -> int:
    """List cost less the contract's discount, rounded once, half-even."""
    return half_even_div(list_minor * (BPS - discount_bps), BPS)


def list_capacity(balance_minor: int, discount_bps: int) -> int | None:
    """The most list cost a balance pays for at the discount; None when unbounded (a
    100 % discount: usage is free)."""
    if discount_bps >= BPS:
        return None
    # Largest L with L x (BPS - d) <= balance x BPS: its exact net value is at most the
    # balance, so the half-even rounding of it is too.
    return balance_minor * BPS // (BPS - discount_bps)


def token_value(price_minor: int, tokens: int, used: int) -> int:
    """The part of a token commitment's price that `used` of its `tokens` are worth."""
    return half_even_div(price_minor * used, tokens)


def proportion(amount: int, part: int, whole: int) -> int:
    """`amount x part / whole`, rounded down; all of it when the part is the whole."""
    if part >= whole:
        return amount
    return amount * part // whole
