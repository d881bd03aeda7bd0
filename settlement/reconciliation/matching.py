"""Pure comparison of our metering with a provider's statement, per key (UTC day x model,
or one request): is there a difference beyond the contract's tolerance, and of what kind.

  missing_ours    the provider bills usage we have no record of
  missing_theirs  we metered usage the statement (over a period it covers) does not bill
  tokens          the token counts (input side, output side, or only the total when the
                  statement has no split) or the request counts differ
  price           the tokens agree, the cost does not
  fx              the same, on a statement converted from another currency

Our cost is what the provider should bill: metered cost at list price less the
contract's discount (half-even), plus what earlier true-ups of the key booked. A key
whose residual is within tolerance after a true-up is settled, not a difference again.
Tolerance: a cost difference within max(tolerance_minor, |ours| x tolerance_bps) is
none; token counts within |ours| x tolerance_bps likewise (requests must agree).
"""

from dataclasses import dataclass

from settlement.terms import BPS, net_of_discount


@dataclass(frozen=True, slots=True)
class Totals:
    requests: int | None
    input_side: int | None  # input + cache read + cache write
    output_side: int | None  # output + reasoning
    total_tokens: int | None
    cost_minor: int | None
    split: bool = True  # input and output sides known apart
    fx: bool = False  # some cost was converted from another currency


@dataclass(frozen=True, slots=True)
class Terms:
    discount_bps: int
    tolerance_bps: int
    tolerance_minor: int


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    ours_requests: int
    theirs_requests: int | None
    ours_tokens: int
    theirs_tokens: int | None
    ours_cost_minor: int  # expected, after earlier true-ups
    theirs_cost_minor: int | None
    delta_minor: int  # theirs less ours; 0 when the statement names no cost
    explanation: str


def expected_cost(cost_minor: int, discount_bps: int) -> int:
    """List cost less the contract's discount, rounded once, half-even: the same
    arithmetic the draw-down books the discount with (settlement.terms)."""
    return net_of_discount(cost_minor, discount_bps)


def _money_tolerance(amount: int, terms: Terms) -> int:
    return max(terms.tolerance_minor, abs(amount) * terms.tolerance_bps // BPS)


def _tokens_differ(ours: int, theirs: int, terms: Terms) -> bool:
    return abs(theirs - ours) > abs(ours) * terms.tolerance_bps // BPS


def compare(
    *, ours: Totals | None, theirs: Totals | None, covered: bool, trued_minor: int, terms: Terms
) -> Finding | None:
    """The difference at one key, or None when the two sides agree within tolerance.
    `covered`: a statement speaks for the key's day (else our usage is not missing on
    their side, just not billed yet)."""
    ours_cost = (expected_cost(ours.cost_minor, terms.discount_bps) if ours else 0) + trued_minor
    ours_requests = ours.requests if ours else 0
    ours_tokens = ours.total_tokens if ours else 0
    if ours is not None and not ours.requests:
        ours = None
    if theirs is None and (ours is None or not covered):
        return None
    theirs_cost = None if theirs is None else theirs.cost_minor
    delta = (0 if theirs is None else theirs_cost or 0) - ours_cost
    if theirs is not None and theirs_cost is None:
        delta = 0
    within = abs(delta) <= _money_tolerance(ours_cost, terms)
    reasons: list[str] = []
    if ours is None:
        kind = "missing_ours"
        reasons.append("the provider bills usage we have no record of")
    elif theirs is None:
        kind = "missing_theirs"
        reasons.append("we metered usage on a day the statement covers without it")
        delta = -ours_cost
        within = abs(delta) <= _money_tolerance(ours_cost, terms)
    else:
        kind = ""
        if theirs.requests is not None and theirs.requests != ours.requests:
            reasons.append(f"requests: ours {ours.requests}, theirs {theirs.requests}")
        if theirs.split and theirs.input_side is not None and theirs.output_side is not None:
            for side, mine, their in (
                ("input", ours.input_side, theirs.input_side),
                ("output", ours.output_side, theirs.output_side),
            ):
                if _tokens_differ(mine, their, terms):
                    reasons.append(f"{side} tokens: ours {mine}, theirs {their}")
        elif theirs.total_tokens is not None and _tokens_differ(
            ours.total_tokens, theirs.total_tokens, terms
        ):
            reasons.append(f"tokens: ours {ours.total_tokens}, theirs {theirs.total_tokens}")
        if reasons:
            kind = "tokens"
        elif theirs_cost is not None and not within:
            kind = "fx" if theirs.fx else "price"
            reasons.append(
                "the tokens agree, the cost does not"
                + (" (the statement's currency was converted)" if theirs.fx else "")
            )
        else:
            return None
    if trued_minor and within:
        return None  # accepted before: the true-up explains what is left
    explanation = "; ".join(reasons)
    if theirs_cost is not None or kind == "missing_theirs":
        explanation += f"; cost: ours {ours_cost}, theirs {theirs_cost or 0}, delta {delta}"
    if trued_minor:
        explanation += f" (after {trued_minor} of earlier true-ups)"
    return Finding(
        kind,
        ours_requests,
        None if theirs is None else theirs.requests,
        ours_tokens,
        None if theirs is None else theirs.total_tokens,
        ours_cost,
        theirs_cost,
        delta,
        explanation,
    )
