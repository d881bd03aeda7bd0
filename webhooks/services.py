"""Every write of webhooks: endpoints, events (emitted by other apps), deliveries.

Keyword-only arguments. `webhook_event_enqueue` is the one service other apps call, in
their own transaction: the event and its deliveries commit with the caller's booking or
not at all, and the first attempt is enqueued only after that commit. A beat task
(webhooks.deliver_due, every minute) sends whatever is due, so an event whose enqueue was
lost (a worker or Redis down) is still delivered.

Delivery. A worker claims one due delivery at a time (webhooks.locks, SKIP LOCKED), moves
its next_attempt_at forward by a lease and commits; then POSTs (no transaction open during
the call); then records the attempt and the outcome under the row's lock. Two workers
never send the same delivery at once: the claim is exclusive, and the lease keeps the row
from being due again while its attempt is in flight. A worker that dies mid-attempt
leaves the row due again once the lease ends (at-least-once: receivers drop duplicates by
the event id). 2xx: delivered. Anything else (status, redirect, timeout, refused address):
retried after RETRY_SCHEDULE_S, then failed after WEBHOOK_MAX_ATTEMPTS attempts.
"""

import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from config.celery import delay_after_commit
from ledger.errors import UnknownBook
from ledger.models import Book
from webhooks import locks, outbound, signing
from webhooks.errors import (
    InvalidWebhookEvent,
    InvalidWebhookPayload,
    UnknownWebhookEventType,
    WebhookDeliveryNotFound,
    WebhookDeliveryPending,
    WebhookEndpointDisabled,
    WebhookEndpointLimit,
    WebhookEndpointNotFound,
    WebhookIdempotencyConflict,
)
from webhooks.event_types import EVENT_TYPES
from webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
ENDPOINTS_PER_BOOK_MAX = 20
IDEMPOTENCY_KEY_MAX = 200
AUDIENCE_MAX = 100
DESCRIPTION_MAX = 200
PAYLOAD_BYTES_MAX = 64 * 1024
PAYLOAD_DEPTH_MAX = 16
# After the n-th failed attempt of a round the next comes RETRY_SCHEDULE_S[n-1] later
# (the last gap repeats): 1 min, 5 min, 30 min, 2 h, 8 h, 24 h.
RETRY_SCHEDULE_S = (60, 300, 1800, 7200, 28800, 86400)
DELIVER_TASK = "webhooks.tasks.deliver"
USER_AGENT = "tokenledger-webhooks/1"
_KEY_TEXT = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces


# --- payloads ------------------------------------------------------------------------------


def _payload_check(value: object, path: str = "data", depth: int = 0) -> None:
    """Exact JSON only: str, int, bool, None, lists and objects with string keys."""
    if depth > PAYLOAD_DEPTH_MAX:
        raise InvalidWebhookPayload(f"{path}: nested deeper than {PAYLOAD_DEPTH_MAX}")
    if isinstance(value, float):
        raise InvalidWebhookPayload(
            f'{path} is a float ({value!r}); send exact decimals as strings, e.g. "12.50"',
            details={"path": path},
        )
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidWebhookPayload(f"{path} contains U+0000", details={"path": path})
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _payload_check(item, f"{path}[{index}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or "\x00" in key:
                raise InvalidWebhookPayload(f"{path}: keys must be strings", details={"path": path})
            _payload_check(item, f"{path}.{key}", depth + 1)
        return
    raise InvalidWebhookPayload(
        f"{path} is a {type(value).__name__}; only JSON types (decimals as strings)",
        details={"path": path},
    )


def payload_validate(payload: object) -> dict:
    if not isinstance(payload, dict):
        raise InvalidWebhookPayload("the payload must be a JSON object (a dict)")
    _payload_check(payload)
    size = len(json.dumps(payload, ensure_ascii=False).encode())
    if size > PAYLOAD_BYTES_MAX:
        raise InvalidWebhookPayload(f"the payload is {size} bytes; at most {PAYLOAD_BYTES_MAX}")
    # What jsonb gives back (tuples become lists), so an identical retry compares equal.
    return json.loads(json.dumps(payload))


def event_type_check(event_type: object) -> str:
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise UnknownWebhookEventType(
            f"{event_type!r} is not a webhook event type",
            details={"known": sorted(EVENT_TYPES)},
        )
    return event_type


def event_types_check(event_types: object) -> list[str]:
    if not isinstance(event_types, list | tuple):
        raise UnknownWebhookEventType("event_types must be a list of event types")
    return sorted({event_type_check(t) for t in event_types})


# --- endpoints -----------------------------------------------------------------------------


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _audience_check(audience: object) -> str:
    if (
        not isinstance(audience, str)
        or len(audience) > AUDIENCE_MAX
        or (audience and not _KEY_TEXT.match(audience))
    ):
        raise InvalidWebhookEvent(f"an audience is 0..{AUDIENCE_MAX} printable ASCII characters")
    return audience


def webhook_endpoint_create(
    *,
    book: Book,
    url: str,
    event_types: list[str],
    actor: str,
    description: str = "",
    audience: str = "",
) -> WebhookEndpoint:
    """A new active endpoint with a new secret (the caller shows it). With an `audience`
    (an emitting app's, never the API's) it receives only that audience's events, and is
    the book's only endpoint of it."""
    outbound.url_check(url)
    types = event_types_check(event_types)
    audience = _audience_check(audience)
    description = (description or "")[:DESCRIPTION_MAX]
    with transaction.atomic():
        locks.book_endpoints_lock(book=book)
        # The limit is on a seller's own endpoints; an audience's is one per audience
        # (a unique constraint), however many customers a book has.
        if (
            not audience
            and WebhookEndpoint.objects.filter(book=book, audience="").count()
            >= ENDPOINTS_PER_BOOK_MAX
        ):
            raise WebhookEndpointLimit(
                f"book {book.code} has {ENDPOINTS_PER_BOOK_MAX} endpoints, the most it may"
            )
        endpoint = WebhookEndpoint.objects.create(
            book=book,
            url=url,
            description=description,
            secret=_new_secret(),
            event_types=types,
            audience=audience,
            created_by=actor,
            updated_by=actor,
        )
    logger.info("webhook endpoint %s of %s created by %s", endpoint.pk, book.code, actor)
    return endpoint


def _endpoint_locked(endpoint_id: int) -> WebhookEndpoint:
    endpoint = locks.endpoint_lock(endpoint_id=endpoint_id)
    if endpoint is None:
        raise WebhookEndpointNotFound(f"webhook endpoint {endpoint_id} does not exist")
    return endpoint


def webhook_endpoint_activate(*, endpoint_id: int, active: bool, actor: str) -> WebhookEndpoint:
    """Disable (its pending deliveries wait) or enable again (they are due)."""
    with transaction.atomic():
        endpoint = _endpoint_locked(endpoint_id)
        endpoint.active, endpoint.updated_by = bool(active), actor
        endpoint.save(update_fields=["active", "updated_by", "updated_at"])
    logger.info("webhook endpoint %s active=%s by %s", endpoint_id, active, actor)
    return endpoint


def webhook_endpoint_url_set(*, endpoint_id: int, url: str, actor: str) -> WebhookEndpoint:
    """Another URL, for the next attempt on (pending deliveries go there)."""
    outbound.url_check(url)
    with transaction.atomic():
        endpoint = _endpoint_locked(endpoint_id)
        if endpoint.url != url:
            endpoint.url, endpoint.updated_by = url, actor
            endpoint.save(update_fields=["url", "updated_by", "updated_at"])
            logger.info("webhook endpoint %s URL changed by %s", endpoint_id, actor)
    return endpoint


def webhook_endpoint_secret_rotate(*, endpoint_id: int, actor: str) -> WebhookEndpoint:
    """A new secret, in force for the next attempt (the old one stops signing at once)."""
    with transaction.atomic():
        endpoint = _endpoint_locked(endpoint_id)
        endpoint.secret, endpoint.updated_by = _new_secret(), actor
        endpoint.secret_rotated_at = timezone.now()
        endpoint.save(update_fields=["secret", "updated_by", "updated_at", "secret_rotated_at"])
    logger.info("webhook endpoint %s secret rotated by %s", endpoint_id, actor)
    return endpoint


# --- events --------------------------------------------------------------------------------


def webhook_event_enqueue(
    *, book_id: int, event_type: str, payload: dict, idempotency_key: str, audience: str = ""
) -> WebhookEvent:
    """Record an event for a seller's book and one delivery per active endpoint that
    wants its type (the seller's own, and with an `audience` the book's endpoint of that
    audience), in the caller's transaction; the first attempts are enqueued once it
    commits. The same key again: the same event if type, payload and audience are the
    same (nothing new is made), else webhook_idempotency_conflict."""
    if type(book_id) is not int:
        raise InvalidWebhookEvent("book_id must be an int")
    event_type_check(event_type)
    if (
        not isinstance(idempotency_key, str)
        or not 0 < len(idempotency_key) <= IDEMPOTENCY_KEY_MAX
        or not _KEY_TEXT.match(idempotency_key)
    ):
        raise InvalidWebhookEvent(
            f"the idempotency key must be 1..{IDEMPOTENCY_KEY_MAX} printable ASCII characters"
        )
    payload = payload_validate(payload)
    audience = _audience_check(audience)
    if not Book.objects.filter(pk=book_id).exists():
        raise UnknownBook(f"book {book_id} does not exist")
    now = timezone.now()
    try:
        with transaction.atomic():  # a savepoint in the caller's transaction
            event = WebhookEvent.objects.create(
                book_id=book_id,
                type=event_type,
                payload=payload,
                idempotency_key=idempotency_key,
                created_at=now,
                audience=audience,
            )
    except IntegrityError:
        # The key is taken (a committed event, or one earlier in this transaction).
        event = WebhookEvent.objects.get(book_id=book_id, idempotency_key=idempotency_key)
        if event.type != event_type or event.payload != payload or event.audience != audience:
            raise WebhookIdempotencyConflict(
                f"idempotency key {idempotency_key!r} was used for another event of this book",
                details={"event_id": f"evt_{event.public_id.hex}"},
            ) from None
        return event
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(
            Q(audience="") | Q(audience=audience), book_id=book_id, active=True
        )
        if not endpoint.event_types or event_type in endpoint.event_types
    ]
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(event=event, endpoint=endpoint, next_attempt_at=now, created_at=now)
        for endpoint in endpoints
    )
    for delivery in deliveries:
        delay_after_commit(DELIVER_TASK, delivery.pk)
    return event


# --- delivery ------------------------------------------------------------------------------


def event_body(event: WebhookEvent) -> bytes:
    """What every attempt of every delivery of `event` sends, byte for byte."""
    return json.dumps(
        {
            "id": f"evt_{event.public_id.hex}",
            "type": event.type,
            "created": int(event.created_at.timestamp()),
            "data": event.payload,
        },
        separators=(",", ":"),
        sort_keys=True,
        ensure_ascii=False,
    ).encode()


def retry_delay(attempts_in_round: int) -> timedelta:
    index = min(max(attempts_in_round, 1), len(RETRY_SCHEDULE_S)) - 1
    return timedelta(seconds=RETRY_SCHEDULE_S[index])


def _lease() -> timedelta:
    """How long a claimed attempt keeps its row from being due again: well past what one
    POST can take (connect, send and read are each bounded by WEBHOOK_TIMEOUT_S)."""
    return timedelta(seconds=max(60.0, 10 * float(settings.WEBHOOK_TIMEOUT_S)))


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    number: int  # the attempt's number, reserved by the claim
    url: str
    secret: str
    event_id: str
    body: bytes


def _claim_one(*, now: datetime, delivery_ids: list[int] | None) -> Claim | None:
    with transaction.atomic():
        rows = locks.deliveries_due_claim(now=now, limit=1, delivery_ids=delivery_ids)
        if not rows:
            return None
        delivery = rows[0]
        delivery.attempts += 1
        delivery.attempts_in_round += 1
        delivery.next_attempt_at = now + _lease()
        delivery.save(update_fields=["attempts", "attempts_in_round", "next_attempt_at"])
        event, endpoint = delivery.event, delivery.endpoint
        return Claim(
            delivery_id=delivery.pk,
            number=delivery.attempts,
            url=endpoint.url,
            secret=endpoint.secret,
            event_id=f"evt_{event.public_id.hex}",
            body=event_body(event),
        )


def _attempt(claim: Claim, *, now: datetime) -> str:
    """POST the claimed attempt, record it and the outcome; the delivery's state."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.EVENT_ID_HEADER: claim.event_id,
        # Signed with this clock, whatever `now` says: the receiver checks it against its own.
        signing.SIGNATURE_HEADER: signing.sign(claim.secret, int(time.time()), claim.body),
    }
    result = outbound.post(claim.url, claim.body, headers)
    with transaction.atomic():
        delivery = locks.delivery_lock(delivery_id=claim.delivery_id)
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=claim.number,
            attempted_at=now,
            status_code=result.status_code,
            error="" if result.delivered else result.error or f"HTTP {result.status_code}",
            duration_ms=result.duration_ms,
            response_excerpt=result.response_excerpt,
        )
        if delivery.attempts != claim.number or delivery.state != WebhookDelivery.State.PENDING:
            return delivery.state  # claimed again meanwhile (our lease ran out): theirs now
        if result.delivered:
            delivery.state = WebhookDelivery.State.DELIVERED
        elif delivery.attempts_in_round >= settings.WEBHOOK_MAX_ATTEMPTS:
            delivery.state = WebhookDelivery.State.FAILED
        if delivery.state == WebhookDelivery.State.PENDING:
            delivery.next_attempt_at = now + retry_delay(delivery.attempts_in_round)
        else:
            delivery.next_attempt_at, delivery.resolved_at = None, now
        delivery.save(update_fields=["state", "next_attempt_at", "resolved_at"])
    if delivery.state == WebhookDelivery.State.FAILED:
        logger.warning(
            "webhook delivery %s failed after %s attempts", delivery.pk, delivery.attempts_in_round
        )
    return delivery.state


@dataclass
class SendReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    def count(self, state: str) -> None:
        if state == WebhookDelivery.State.DELIVERED:
            self.delivered += 1
        elif state == WebhookDelivery.State.FAILED:
            self.failed += 1
        else:
            self.retrying += 1

    @property
    def attempts(self) -> int:
        return self.delivered + self.retrying + self.failed


def deliveries_send(
    *,
    now: datetime | None = None,
    limit: int = 100,
    delivery_ids: list[int] | None = None,
    budget_s: float | None = None,
) -> SendReport:
    """One attempt for each due delivery (of `delivery_ids`, if given), at most `limit`,
    each claimed alone; no new claim after `budget_s` seconds. `now` drives the schedule
    (tests pass it; default: the clock)."""
    report = SendReport()
    started = time.monotonic()
    for _ in range(limit):
        if budget_s is not None and time.monotonic() - started > budget_s:
            break
        at = now or timezone.now()
        claim = _claim_one(now=at, delivery_ids=delivery_ids)
        if claim is None:
            break
        report.count(_attempt(claim, now=at))
    return report


def webhook_delivery_resend(
    *, delivery_id: int, actor: str, now: datetime | None = None
) -> WebhookDelivery:
    """Send again now: a delivered or failed delivery starts a new round of attempts (its
    history stays). A pending one is refused: it is scheduled already, and making it due
    now could send it beside an attempt in flight."""
    now = now or timezone.now()
    with transaction.atomic():
        delivery = locks.delivery_lock(delivery_id=delivery_id)
        if delivery is None:
            raise WebhookDeliveryNotFound(f"webhook delivery {delivery_id} does not exist")
        if not delivery.endpoint.active:
            raise WebhookEndpointDisabled(
                f"endpoint {delivery.endpoint_id} is disabled; enable it to re-send"
            )
        if delivery.state == WebhookDelivery.State.PENDING:
            raise WebhookDeliveryPending(
                f"delivery {delivery_id} is pending; its next attempt is due at "
                f"{delivery.next_attempt_at.isoformat()}"
            )
        delivery.state = WebhookDelivery.State.PENDING
        delivery.attempts_in_round = 0
        delivery.resends += 1
        delivery.resolved_at = None
        delivery.next_attempt_at = now
        delivery.save(
            update_fields=[
                "state",
                "attempts_in_round",
                "resends",
                "resolved_at",
                "next_attempt_at",
            ]
        )
        delay_after_commit(DELIVER_TASK, delivery.pk)
    logger.info("webhook delivery %s re-sent by %s", delivery_id, actor)
    return delivery
