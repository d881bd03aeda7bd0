"""Billing profiles and tax rates (finance only):

profiles/                     GET every seller book's billing profile
profiles/{book}/              GET one, PUT create or replace it
profiles/{book}/tax-rates/    GET its rates (every version), POST a new rate
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.fields import DecimalString
from config.pagination import BoundedLimitOffsetPagination
from invoicing import services
from invoicing.api.common import (
    ADD_TAX_RATES,
    CHANGE_PROFILES,
    VIEW_PROFILES,
    VIEW_TAX_RATES,
    actor,
    amount_in,
    money,
    needs,
    paginated,
    time,
)
from invoicing.errors import (
    BillingProfileNotFound,
    CurrencyUnknown,
    InvalidInvoicingInput,
)
from invoicing.models import BillingProfile, Language, TaxRate
from ledger.amounts import InvalidAmount
from ledger.models import Asset, Book


class BillingProfileOutput(serializers.Serializer):
    book = serializers.CharField()
    legal_name = serializers.CharField()
    address = serializers.CharField()
    tax_id = serializers.CharField()
    logo = serializers.CharField(help_text="a path under MEDIA_ROOT, or empty")
    invoice_prefix = serializers.CharField()
    credit_note_prefix = serializers.CharField()
    receipt_prefix = serializers.CharField()
    currency = serializers.CharField()
    payment_terms_days = serializers.IntegerField()
    language = serializers.ChoiceField(choices=Language.choices)
    fee_bps = serializers.IntegerField(help_text="fee line: basis points of the usage")
    fee_fixed = serializers.CharField(help_text="fee line: a fixed amount per invoice")
    fee_fixed_minor = serializers.IntegerField()
    fee_description = serializers.CharField()
    updated_at = serializers.DateTimeField()
    updated_by = serializers.CharField()


def profile_body(profile: BillingProfile) -> dict:
    return {
        "book": profile.book.code,
        "legal_name": profile.legal_name,
        "address": profile.address,
        "tax_id": profile.tax_id,
        "logo": profile.logo.name or "",
        "invoice_prefix": profile.invoice_prefix,
        "credit_note_prefix": profile.credit_note_prefix,
        "receipt_prefix": profile.receipt_prefix,
        "currency": profile.currency.code,
        "payment_terms_days": profile.payment_terms_days,
        "language": profile.language,
        "fee_bps": profile.fee_bps,
        "fee_fixed": money(profile.fee_fixed_minor, profile.currency),
        "fee_fixed_minor": profile.fee_fixed_minor,
        "fee_description": profile.fee_description,
        "updated_at": time(profile.updated_at),
        "updated_by": profile.updated_by,
    }


class BillingProfileInput(serializers.Serializer):
    legal_name = serializers.CharField(max_length=300)
    currency = serializers.CharField(max_length=16, help_text="asset code, e.g. USD")
    address = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    tax_id = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    logo = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=100, help_text="under MEDIA_ROOT"
    )
    invoice_prefix = serializers.CharField(required=False, allow_blank=True, default="INV-")
    credit_note_prefix = serializers.CharField(required=False, allow_blank=True, default="CN-")
    receipt_prefix = serializers.CharField(required=False, allow_blank=True, default="RC-")
    payment_terms_days = serializers.IntegerField(required=False, default=30)
    language = serializers.ChoiceField(choices=Language.choices, required=False, default="en")
    fee_bps = serializers.IntegerField(required=False, default=0)
    fee_fixed = DecimalString(required=False, default="0", help_text="per invoice")
    fee_description = serializers.CharField(
        required=False, allow_blank=True, default="Platform fee", max_length=200
    )


def _profiles():
    return BillingProfile.objects.select_related("book", "currency")


def _book(code: str) -> Book:
    book = Book.objects.filter(code=code).first()
    if book is None:
        raise BillingProfileNotFound(f"book {code!r} does not exist", details={"book": code})
    return book


def _profile(code: str) -> BillingProfile:
    profile = _profiles().filter(book__code=code).first()
    if profile is None:
        raise BillingProfileNotFound(f"book {code!r} has no billing profile")
    return profile


class BillingProfileListApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    permission_classes = [needs(GET=VIEW_PROFILES)]

    @extend_schema(responses=BillingProfileOutput(many=True))
    def get(self, request):
        return paginated(request, self, _profiles().order_by("book__code"), profile_body)


class BillingProfileDetailApi(APIView):
    api_errors = {
        "GET": (BillingProfileNotFound,),
        "PUT": (BillingProfileNotFound, InvalidInvoicingInput, CurrencyUnknown, InvalidAmount),
    }
    permission_classes = [needs(GET=VIEW_PROFILES, PUT=CHANGE_PROFILES)]

    @extend_schema(responses=BillingProfileOutput)
    def get(self, request, book):
        return Response(profile_body(_profile(book)))

    @extend_schema(
        request=BillingProfileInput,
        responses=BillingProfileOutput,
        description="Create or replace the seller book's billing profile: how its documents "
        "name it (a reseller's name only: white label), number prefixes, currency, terms, "
        "language (en, zh-hans) and an optional fee line (basis points of the usage and/or "
        "a fixed amount per invoice) on the invoices drafted from now on.",
    )
    def put(self, request, book):
        seller = _book(book)
        data = BillingProfileInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        code = values.pop("currency")
        currency = Asset.objects.filter(code=code).first()
        if currency is None:
            raise CurrencyUnknown(f"currency {code!r} is not a ledger asset")
        fee_fixed_minor = amount_in(values.pop("fee_fixed"), currency)
        profile = services.billing_profile_set(
            book=seller,
            currency=currency,
            fee_fixed_minor=fee_fixed_minor,
            actor=actor(request),
            **values,
        )
        return Response(profile_body(_profiles().get(pk=profile.pk)))


class TaxRateOutput(serializers.Serializer):
    id = serializers.IntegerField()
    region = serializers.CharField()
    rate_bps = serializers.IntegerField()
    inclusive = serializers.BooleanField()
    kind = serializers.ChoiceField(choices=TaxRate.Kind.choices)
    effective_from = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField()


def tax_rate_body(rate: TaxRate) -> dict:
    return {
        "id": rate.pk,
        "region": rate.region,
        "rate_bps": rate.rate_bps,
        "inclusive": rate.inclusive,
        "kind": rate.kind,
        "effective_from": time(rate.effective_from),
        "created_at": time(rate.created_at),
        "created_by": rate.created_by,
    }


class TaxRateInput(serializers.Serializer):
    region = serializers.CharField(max_length=16, help_text='"DE", "US-CA"')
    rate_bps = serializers.IntegerField(help_text="basis points: 1900 = 19%")
    inclusive = serializers.BooleanField(required=False, default=False)
    kind = serializers.ChoiceField(choices=TaxRate.Kind.choices, required=False, default="standard")
    effective_from = serializers.DateTimeField()


class TaxRateListApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    api_errors = {
        "GET": (BillingProfileNotFound,),
        "POST": (BillingProfileNotFound, InvalidInvoicingInput),
    }
    permission_classes = [needs(GET=VIEW_TAX_RATES, POST=ADD_TAX_RATES)]

    @extend_schema(responses=TaxRateOutput(many=True))
    def get(self, request, book):
        rates = _profile(book).tax_rates.order_by("region", "effective_from", "pk")
        return paginated(request, self, rates, tax_rate_body)

    @extend_schema(
        request=TaxRateInput,
        responses={201: TaxRateOutput},
        description="A rate for buyers of a region from a moment on (a change is a new "
        "rate; rates are never edited). reverse_charge and exempt have rate 0.",
    )
    def post(self, request, book):
        profile = _profile(book)
        data = TaxRateInput(data=request.data)
        data.is_valid(raise_exception=True)
        rate = services.tax_rate_add(profile=profile, actor=actor(request), **data.validated_data)
        return Response(tax_rate_body(rate), status=status.HTTP_201_CREATED)
