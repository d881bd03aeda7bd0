"""The ledger's HTTP API: read the books, post manual adjustments.

Views are thin: validate input, call one selector or service, serialise the output.
Amounts leave as both the integer in the asset's smallest unit (`*_minor`) and a
decimal string; they come in as decimal strings and are converted exactly.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.csv_export import EXPORT_RENDERERS, csv_response, text_cell
from config.errors import DomainError, InvalidInput
from config.fields import DecimalString
from ledger import selectors, services
from ledger.amounts import InvalidAmount, amount_text, from_minor_units, to_minor_units
from ledger.errors import (
    AccountMismatch,
    AccountNotFound,
    IdempotencyConflict,
    InvalidEvent,
    UnbalancedEntry,
    UnknownAccount,
    UnknownBook,
)
from ledger.models import Account, Book, Entry, Event, Posting
from ledger.permissions import CanPostAdjustment, CanReadLedger
from ledger.posting_rules import PostingSpec

ADJUSTMENT_POSTINGS_MAX = 100


class MissingIdempotencyKey(DomainError):
    code = "idempotency_key_required"


# --- serializers -----------------------------------------------------------------------


class BookOutput(serializers.ModelSerializer):
    class Meta:
        model = Book
        fields = ["id", "code", "name", "kind", "created_at"]


class AccountOutput(serializers.ModelSerializer):
    book = serializers.SlugRelatedField(slug_field="code", read_only=True)
    asset = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Account
        fields = [
            "id",
            "book",
            "asset",
            "code",
            "type",
            "name",
            "debits_must_not_exceed_credits",
            "credits_must_not_exceed_debits",
        ]


class PostingOutput(serializers.ModelSerializer):
    account_code = serializers.CharField(source="account.code")
    asset = serializers.CharField(source="asset.code")
    amount = serializers.SerializerMethodField()
    amount_minor = serializers.IntegerField(source="amount")

    class Meta:
        model = Posting
        fields = [
            "id",
            "account",
            "account_code",
            "asset",
            "side",
            "phase",
            "amount",
            "amount_minor",
        ]

    def get_amount(self, posting: Posting) -> str:
        return from_minor_units(posting.amount, posting.asset.scale)


class EntryOutput(serializers.ModelSerializer):
    book = serializers.SlugRelatedField(slug_field="code", read_only=True)
    sequence = serializers.IntegerField(source="event_id")
    event_type = serializers.CharField(source="event.type")
    postings = PostingOutput(many=True)

    class Meta:
        model = Entry
        fields = [
            "id",
            "sequence",
            "event_type",
            "book",
            "memo",
            "reverses",
            "recorded_at",
            "postings",
        ]


class EventOutput(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = [
            "sequence",
            "type",
            "payload",
            "idempotency_key",
            "input_hash",
            "prev_hash",
            "hash",
            "occurred_at",
            "recorded_at",
            "actor",
        ]


def _money(amount: int, scale: int) -> dict:
    return {"amount": from_minor_units(amount, scale), "amount_minor": amount}


# --- read views ------------------------------------------------------------------------


class BookListApi(generics.ListAPIView):
    permission_classes = [CanReadLedger]
    serializer_class = BookOutput
    queryset = Book.objects.order_by("code")


_ACCOUNT_FILTERS = [
    OpenApiParameter("book", str, description="book code"),
    OpenApiParameter("code", str, description="account code prefix, e.g. wallet:"),
]


class AccountListApi(generics.ListAPIView):
    permission_classes = [CanReadLedger]
    serializer_class = AccountOutput

    @extend_schema(parameters=_ACCOUNT_FILTERS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        queryset = Account.objects.select_related("book", "asset").order_by("id")
        if book := self.request.query_params.get("book"):
            queryset = queryset.filter(book__code=book)
        if code := self.request.query_params.get("code"):
            queryset = queryset.filter(code__startswith=code)
        return queryset


BalanceOutput = inline_serializer(
    "Balance",
    {
        "account": serializers.IntegerField(),
        "asset": serializers.CharField(),
        "balance": serializers.DictField(),
        # The live balance only; a balance as of a sequence or time has none of these.
        "available": serializers.DictField(required=False),
        "pending_debits": serializers.DictField(required=False),
        "pending_credits": serializers.DictField(required=False),
        "last_sequence": serializers.IntegerField(required=False),
        "as_of_sequence": serializers.IntegerField(
            required=False, allow_null=True, help_text="as asked; null for a balance as_of a time"
        ),
    },
)


def _account_or_404(account_id: int) -> Account:
    account = Account.objects.select_related("asset").filter(pk=account_id).first()
    if account is None:
        raise AccountNotFound(f"account {account_id} does not exist")
    return account


class _Query(serializers.Serializer):
    as_of_sequence = serializers.IntegerField(required=False, min_value=0)
    as_of = serializers.DateTimeField(required=False)
    after_sequence = serializers.IntegerField(required=False, min_value=0, default=0)
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=selectors.STATEMENT_PAGE_SIZE_MAX, default=100
    )


class AccountBalanceApi(APIView):
    api_errors = (AccountNotFound,)
    permission_classes = [CanReadLedger]

    @extend_schema(
        parameters=[
            OpenApiParameter("as_of_sequence", int, description="balance after this event"),
            OpenApiParameter("as_of", OpenApiTypes.DATETIME, description="balance at a time"),
        ],
        responses=BalanceOutput,
    )
    def get(self, request, account_id: int):
        account = _account_or_404(account_id)
        query = _Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        scale = account.asset.scale
        sequence, at = query.validated_data.get("as_of_sequence"), query.validated_data.get("as_of")
        if sequence is not None or at is not None:
            amount = selectors.account_balance_as_of(
                account_id=account_id, sequence=sequence, at=at
            )
            return Response(
                {
                    "account": account_id,
                    "asset": account.asset.code,
                    "balance": _money(amount, scale),
                    "as_of_sequence": sequence,
                }
            )
        live = selectors.account_balance_get(account_id=account_id)
        return Response(
            {
                "account": account_id,
                "asset": account.asset.code,
                "balance": _money(live.balance, scale),
                "available": _money(live.available, scale),
                "pending_debits": _money(live.debits_pending, scale),
                "pending_credits": _money(live.credits_pending, scale),
                "last_sequence": live.last_sequence,
            }
        )


StatementOutput = inline_serializer(
    "Statement",
    {
        "account": serializers.IntegerField(),
        "lines": serializers.ListField(child=serializers.DictField()),
        "next_after_sequence": serializers.IntegerField(allow_null=True),
    },
)


class AccountStatementApi(APIView):
    api_errors = (AccountNotFound,)
    permission_classes = [CanReadLedger]

    @extend_schema(
        parameters=[
            OpenApiParameter("after_sequence", int, description="continue after this event"),
            OpenApiParameter("limit", int, description="lines per page (max 1000)"),
        ],
        responses=StatementOutput,
    )
    def get(self, request, account_id: int):
        account = _account_or_404(account_id)
        query = _Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        limit = query.validated_data["limit"]
        lines = selectors.account_statement_list(
            account_id=account_id,
            after_sequence=query.validated_data["after_sequence"],
            limit=limit,
        )
        scale = account.asset.scale
        return Response(
            {
                "account": account_id,
                "lines": [
                    {
                        "posting": line.posting_id,
                        "entry": line.entry_id,
                        "sequence": line.sequence,
                        "recorded_at": line.recorded_at,
                        "memo": line.memo,
                        "side": line.side,
                        **_money(line.amount, scale),
                        "running_balance": from_minor_units(line.running_balance, scale),
                        "running_balance_minor": line.running_balance,
                    }
                    for line in lines
                ],
                # A full page may have more after it; a short page is the end.
                "next_after_sequence": lines[-1].sequence if len(lines) >= limit else None,
            }
        )


class EntryListApi(generics.ListAPIView):
    permission_classes = [CanReadLedger]
    serializer_class = EntryOutput

    @extend_schema(parameters=[OpenApiParameter("book", str, description="book code")])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        queryset = (
            Entry.objects.select_related("book", "event")
            .prefetch_related("postings__account", "postings__asset")
            .order_by("-id")
        )
        if book := self.request.query_params.get("book"):
            queryset = queryset.filter(book__code=book)
        return queryset


class EntryDetailApi(generics.RetrieveAPIView):
    permission_classes = [CanReadLedger]
    serializer_class = EntryOutput
    queryset = Entry.objects.select_related("book", "event").prefetch_related(
        "postings__account", "postings__asset"
    )


class EventDetailApi(generics.RetrieveAPIView):
    permission_classes = [CanReadLedger]
    serializer_class = EventOutput
    queryset = Event.objects.all()
    lookup_field = "sequence"


TrialBalanceOutput = inline_serializer(
    "TrialBalanceRow",
    {
        "book": serializers.CharField(),
        "asset": serializers.CharField(),
        "debits": serializers.CharField(),
        "credits": serializers.CharField(),
        "difference": serializers.CharField(),
        "balanced": serializers.BooleanField(),
    },
    many=True,
)


class TrialBalanceApi(APIView):
    permission_classes = [CanReadLedger]

    @extend_schema(
        parameters=[OpenApiParameter("book", int, description="book id")],
        responses=TrialBalanceOutput,
    )
    def get(self, request):
        rows = selectors.trial_balance_list(book_id=_book_id_param(request))
        return Response(
            [
                {
                    "book": row.book_code,
                    "asset": row.asset_code,
                    "debits": from_minor_units(row.debits, row.scale),
                    "credits": from_minor_units(row.credits, row.scale),
                    "difference": from_minor_units(row.difference, row.scale),
                    "balanced": row.difference == 0,
                }
                for row in rows
            ]
        )


# --- CSV exports -----------------------------------------------------------------------
# What finance downloads to reconcile: the same figures as the JSON views, every row.

_CSV = {(200, "text/csv"): OpenApiTypes.STR}


def _book_id_param(request) -> int | None:
    book = request.query_params.get("book")
    if book is not None and not book.isdigit():
        raise InvalidInput("book must be a book id", details={"book": book})
    return int(book) if book else None


class TrialBalanceCsvApi(APIView):
    permission_classes = [CanReadLedger]
    renderer_classes = EXPORT_RENDERERS

    @extend_schema(
        parameters=[OpenApiParameter("book", int, description="book id")], responses=_CSV
    )
    def get(self, request):
        rows = selectors.trial_balance_list(book_id=_book_id_param(request))
        return csv_response(
            "trial-balance.csv",
            ["book", "asset", "debits", "credits", "difference", "balanced"],
            (
                [
                    text_cell(row.book_code),
                    text_cell(row.asset_code),
                    from_minor_units(row.debits, row.scale),
                    from_minor_units(row.credits, row.scale),
                    from_minor_units(row.difference, row.scale),
                    "yes" if row.difference == 0 else "NO",
                ]
                for row in rows
            ),
        )


class BalancesCsvApi(APIView):
    permission_classes = [CanReadLedger]
    renderer_classes = EXPORT_RENDERERS

    @extend_schema(
        parameters=_ACCOUNT_FILTERS,
        responses=_CSV,
    )
    def get(self, request):
        rows = selectors.account_balances_iter(
            book_code=request.query_params.get("book"),
            code_prefix=request.query_params.get("code"),
        )
        return csv_response(
            "balances.csv",
            [
                "book",
                "account",
                "code",
                "type",
                "asset",
                "balance",
                "balance_minor",
                "pending_debits",
                "pending_credits",
                "available",
                "last_sequence",
            ],
            (
                [
                    text_cell(row.book_code),
                    row.account_id,
                    text_cell(row.account_code),
                    row.account_type,
                    text_cell(row.asset_code),
                    from_minor_units(row.balance.balance, row.scale),
                    row.balance.balance,
                    from_minor_units(row.balance.debits_pending, row.scale),
                    from_minor_units(row.balance.credits_pending, row.scale),
                    from_minor_units(row.balance.available, row.scale),
                    row.balance.last_sequence,
                ]
                for row in rows
            ),
        )


class AccountStatementCsvApi(APIView):
    api_errors = (AccountNotFound,)
    permission_classes = [CanReadLedger]
    renderer_classes = EXPORT_RENDERERS

    @extend_schema(responses=_CSV)
    def get(self, request, account_id: int):
        account = _account_or_404(account_id)
        scale = account.asset.scale
        lines = selectors.account_statement_iter(account_id=account_id)
        return csv_response(
            f"statement-{account_id}.csv",
            [
                "sequence",
                "entry",
                "posting",
                "recorded_at",
                "memo",
                "side",
                "amount",
                "amount_minor",
                "running_balance",
                "running_balance_minor",
            ],
            (
                [
                    line.sequence,
                    line.entry_id,
                    line.posting_id,
                    line.recorded_at.isoformat(),
                    text_cell(line.memo),
                    line.side,
                    from_minor_units(line.amount, scale),
                    line.amount,
                    from_minor_units(line.running_balance, scale),
                    line.running_balance,
                ]
                for line in lines
            ),
        )


# --- adjustments -----------------------------------------------------------------------


class AdjustmentPostingInput(serializers.Serializer):
    account = serializers.IntegerField(min_value=1)
    side = serializers.ChoiceField(choices=["D", "C"])
    amount = DecimalString(help_text="decimal string in asset units")


class AdjustmentInput(serializers.Serializer):
    book = serializers.SlugField(help_text="book code")
    memo = serializers.CharField(max_length=500)
    postings = AdjustmentPostingInput(many=True, min_length=2, max_length=ADJUSTMENT_POSTINGS_MAX)


AdjustmentOutput = inline_serializer(
    "AdjustmentResult",
    {
        "sequence": serializers.IntegerField(),
        "entries": serializers.ListField(child=serializers.IntegerField()),
        "replayed": serializers.BooleanField(),
    },
)


def _unbalanced(exc: UnbalancedEntry, accounts) -> UnbalancedEntry:
    """The ledger's check names the asset by id and the difference in minor units."""
    asset = next((a.asset for a in accounts if a.asset_id == exc.details.get("asset")), None)
    if asset is None:
        return exc
    difference = exc.details["difference"]
    side = "debits exceed credits" if difference > 0 else "credits exceed debits"
    amount = amount_text(abs(difference), code=asset.code, scale=asset.scale)
    return UnbalancedEntry(
        f"the postings do not balance in {asset.code}: {side} by {amount}",
        details={
            "asset": asset.code,
            "phase": exc.details["phase"],
            "difference_minor": difference,
        },
    )


class AdjustmentCreateApi(APIView):
    """A manual, balanced adjustment. Requires an Idempotency-Key header."""

    api_errors = (
        MissingIdempotencyKey,
        UnknownBook,
        UnknownAccount,
        AccountMismatch,
        InvalidEvent,
        InvalidAmount,
        UnbalancedEntry,
        IdempotencyConflict,
    )
    permission_classes = [CanPostAdjustment]

    @extend_schema(
        request=AdjustmentInput,
        responses={201: AdjustmentOutput, 200: AdjustmentOutput},
        parameters=[
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)
        ],
    )
    def post(self, request):
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            raise MissingIdempotencyKey("send an Idempotency-Key header with every adjustment")
        data = AdjustmentInput(data=request.data)
        data.is_valid(raise_exception=True)
        book = Book.objects.filter(code=data.validated_data["book"]).first()
        if book is None:
            raise UnknownBook(f"book {data.validated_data['book']!r} does not exist")
        wanted = [p["account"] for p in data.validated_data["postings"]]
        accounts = Account.objects.select_related("asset").in_bulk(wanted)
        postings = []
        for index, line in enumerate(data.validated_data["postings"]):
            account = accounts.get(line["account"])
            field = f"postings[{index}]"
            if account is None:
                raise UnknownAccount(f"account {line['account']} does not exist")
            if account.book_id != book.id:
                raise AccountMismatch(
                    f"{field}.account: {account.code} is not an account of book {book.code}",
                    details={"field": f"{field}.account", "account": account.id},
                )
            amount = to_minor_units(line["amount"], account.asset.scale)
            if amount <= 0:
                raise InvalidEvent(
                    f"{field}.amount: {line['amount']} {account.asset.code} is not positive; "
                    "the side (D or C) says the direction",
                    details={"field": f"{field}.amount"},
                )
            postings.append(PostingSpec(account.id, account.asset_id, line["side"], amount))
        try:
            result = services.adjustment_post(
                book=book,
                postings=postings,
                memo=data.validated_data["memo"],
                idempotency_key=f"adjustment:{key}",
                actor=f"user:{request.user.pk}",
            )
        except UnbalancedEntry as exc:
            raise _unbalanced(exc, accounts.values()) from exc
        return Response(
            {"sequence": result.sequence, "entries": result.entry_ids, "replayed": result.replayed},
            status=status.HTTP_200_OK if result.replayed else status.HTTP_201_CREATED,
        )
