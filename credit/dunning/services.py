"""Evaluate customers against their book's dunning ladder; every step taken and every
reinstatement is a DunningAction with its reason. One transaction per customer.

Where standing is decided. Each evaluation records, on DunningStanding, the level in
force, what was overdue and when. The authorization path (credit.selectors.credit_funds)
reads that row and, for a customer held back, whether an invoice past due at the
evaluation is still open (credit.losses.selectors.still_overdue_customers): once every
one is paid or credited (through invoicing, by any method), the customer is in good
standing at once, with no hook into invoicing and no write on the hot path; a payment on
a later invoice lifts nothing. The next evaluation (Celery beat) records the
reinstatement. A write-off is not a payment: one made after the evaluation leaves the
invoice open there until the next evaluation.
"""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from credit import locks, selectors
from credit.dunning import cards
from credit.errors import InvalidCreditInput
from credit.losses.selectors import AgingRow, aging_list
from credit.models import DunningAction, DunningStanding, DunningStep
from wallets.models import Customer
from webhooks.services import webhook_event_enqueue

logger = logging.getLogger(__name__)

ACTOR = "system:dunning"
REINSTATE = "reinstate"
REMINDER_EVENT = "customer.reminder"
LEVELS = [level for level, _label in DunningStanding.Level.choices]  # weakest first
LEVEL_OF_ACTION = {
    DunningStep.Action.REMINDER: DunningStanding.Level.REMINDED,
    DunningStep.Action.RESTRICT: DunningStanding.Level.RESTRICTED,
    DunningStep.Action.SUSPEND: DunningStanding.Level.SUSPENDED,
}


def _stronger(level: str, other: str) -> str:
    return max(level, other, key=LEVELS.index)


def _overdue(customer: Customer, rows: list[AgingRow]) -> tuple[int, int]:
    """(amount overdue, days past due of the oldest overdue invoice) in its own book."""
    mine = [r for r in rows if r.customer_id == customer.id and r.book_id == customer.book_id]
    return sum(r.overdue for r in mine), max((r.oldest_days_past_due for r in mine), default=0)


def _reminder(customer: Customer, standing: DunningStanding, step: DunningStep, overdue, days):
    scale = customer.currency.scale
    webhook_event_enqueue(
        book_id=customer.book_id,
        event_type=REMINDER_EVENT,
        payload={
            "customer": customer.external_id,
            "currency": customer.currency.code,
            "overdue_minor": str(overdue),
            "scale": scale,
            "days_past_due": days,
            "episode": standing.episode,
            "step": step.position,
        },
        idempotency_key=f"credit:dunning:{customer.pk}:{standing.episode}:{step.position}",
    )


def _record(customer, standing, step, action, reason, overdue, days, now, actor, **fields):
    return DunningAction.objects.create(
        customer=customer,
        episode=standing.episode,
        step=step,
        action=action,
        reason=reason,
        days_past_due=days,
        overdue_minor=overdue,
        at=now,
        actor=actor,
        **fields,
    )


def _take(customer, standing, step: DunningStep, overdue: int, days: int, now, actor):
    reason = (
        f"{days} days past due (step: {step.days_past_due}), "
        f"{overdue} overdue (step: {step.amount_overdue_minor})"
    )
    outcome = DunningAction.Outcome.DONE
    if step.action == DunningStep.Action.REMINDER:
        _reminder(customer, standing, step, overdue, days)
    elif step.action == DunningStep.Action.CARD_RETRY:
        outcome = DunningAction.Outcome.PENDING
    elif step.action == DunningStep.Action.RESTRICT:
        standing.restrict_request_max_minor = step.restrict_request_max_minor
    level = LEVEL_OF_ACTION.get(step.action)
    if level is not None:
        standing.level = _stronger(standing.level, level)
    standing.last_position = step.position
    # A card retry is charged after this commit, by the run that took it (cards.py).
    details = {"next_try_at": now.isoformat()} if outcome == DunningAction.Outcome.PENDING else {}
    return _record(
        customer,
        standing,
        step,
        step.action,
        reason,
        overdue,
        days,
        now,
        actor,
        outcome=outcome,
        details=details,
    )


def dunning_evaluate(
    *,
    customer: Customer,
    actor: str = ACTOR,
    now: datetime | None = None,
    aging: list[AgingRow] | None = None,
    steps: list[DunningStep] | None = None,
) -> list[DunningAction]:
    """Walk the customer down its book's ladder as far as its overdue invoices reach
    today (each step once per episode), or reinstate it when nothing is overdue any more.
    `aging`, `steps`: a batch's one aging query and its book's ladder, if the caller has
    them."""
    now = now or timezone.now()
    if aging is None:
        aging = aging_list(as_of=now.date(), customer_ids=[customer.pk])
    overdue, days = _overdue(customer, aging)
    if steps is None:
        steps = list(DunningStep.objects.filter(book_id=customer.book_id).order_by("position"))
    taken = []
    with transaction.atomic():
        standing = locks.standing_lock(customer_id=customer.pk, now=now)
        exposure = selectors.exposures_get(customers=[customer])[customer.pk]
        behind = standing.level != DunningStanding.Level.GOOD or standing.last_position
        if overdue <= 0 and behind:
            reason = f"nothing overdue: paid or credited since {standing.evaluated_at:%Y-%m-%d}"
            taken.append(_record(customer, standing, None, REINSTATE, reason, 0, 0, now, actor))
            standing.level = DunningStanding.Level.GOOD
            standing.last_position = 0
            standing.restrict_request_max_minor = None
        elif overdue > 0:
            for step in steps:
                if step.position <= standing.last_position:
                    continue
                if days < step.days_past_due or overdue < step.amount_overdue_minor:
                    break  # an ordered ladder: later steps wait for this one
                if not behind:
                    standing.episode += 1
                    behind = True
                taken.append(_take(customer, standing, step, overdue, days, now, actor))
        standing.overdue_minor = max(overdue, 0)
        standing.receivable_credits_minor = exposure.receivable_credits_minor
        standing.evaluated_at = now
        standing.save()
    for action in taken:
        logger.info("dunning %s: %s (%s)", customer.external_id, action.action, action.reason)
    return taken


def dunning_evaluate_all(*, actor: str = ACTOR, now: datetime | None = None) -> dict[str, int]:
    """The beat job: every customer with something overdue today, and every customer not
    in good standing (to reinstate it); one aging query for all of them."""
    now = now or timezone.now()
    aging = aging_list(as_of=now.date())
    wanted = {r.customer_id for r in aging if r.customer_id is not None and r.overdue > 0}
    wanted |= set(
        DunningStanding.objects.exclude(
            level=DunningStanding.Level.GOOD, last_position=0
        ).values_list("customer_id", flat=True)
    )
    by_customer: dict[int, list[AgingRow]] = {}
    for row in aging:
        by_customer.setdefault(row.customer_id, []).append(row)
    counts = {"customers": 0, "actions": 0}
    customers = Customer.objects.select_related("currency").filter(pk__in=wanted).order_by("pk")
    ladders: dict[int, list[DunningStep]] = {}
    for step in DunningStep.objects.order_by("book_id", "position"):
        ladders.setdefault(step.book_id, []).append(step)
    for customer in customers:
        actions = dunning_evaluate(
            customer=customer,
            actor=actor,
            now=now,
            aging=by_customer.get(customer.pk, []),
            steps=ladders.get(customer.book_id, []),
        )
        counts["customers"] += 1
        counts["actions"] += len(actions)
    # Outside any transaction: each charge is a Stripe call between two short ones.
    counts["card_tries"] = len(cards.dunning_card_charges_due(now=now))
    return counts


def dunning_step_set(
    *,
    book,
    position: int,
    days_past_due: int,
    action: str,
    actor: str,
    amount_overdue_minor: int = 0,
    restrict_request_max_minor: int | None = None,
    card_tries_max: int = 3,
) -> DunningStep:
    """Add or replace a rung of the book's ladder (finance). Steps already taken keep
    their records (DunningAction names the step as it is now)."""
    if action not in DunningStep.Action.values:
        raise InvalidCreditInput(f"action is one of {DunningStep.Action.values}")
    for name, value in (
        ("position", position),
        ("days_past_due", days_past_due),
        ("amount_overdue_minor", amount_overdue_minor),
    ):
        if type(value) is not int or value < 0:
            raise InvalidCreditInput(f"{name} must be a non-negative integer")
    if position < 1:
        raise InvalidCreditInput("position starts at 1")
    if action == DunningStep.Action.RESTRICT and (
        type(restrict_request_max_minor) is not int or restrict_request_max_minor < 0
    ):
        raise InvalidCreditInput("restrict needs restrict_request_max_minor >= 0")
    if type(card_tries_max) is not int or not 1 <= card_tries_max <= 10:
        raise InvalidCreditInput("card_tries_max is 1..10")
    step, _made = DunningStep.objects.update_or_create(
        book=book,
        position=position,
        defaults={
            "days_past_due": days_past_due,
            "amount_overdue_minor": amount_overdue_minor,
            "action": action,
            "restrict_request_max_minor": restrict_request_max_minor,
            "card_tries_max": card_tries_max,
        },
    )
    logger.info("dunning step %s #%s %s by %s", book.code, position, action, actor)
    return step
