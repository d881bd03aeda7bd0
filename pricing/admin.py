"""Finance's screens for the price books.

Upstream prices and catalogue imports are read-only (they come from
`pricing_import_catalog`). A retail price book version can be added here, with its
overrides, through the same service as everywhere else; existing versions are
read-only, since a price change is a new version (the database refuses edits anyway).
"""

from django import forms
from django.contrib import admin

from ledger.admin import ReadOnlyAdmin
from pricing import services
from pricing.models import CatalogImport, RetailPriceBook, RetailPriceOverride, UpstreamPrice
from pricing.rating import PRICE_FIELDS, OverrideTerms


@admin.register(CatalogImport)
class CatalogImportAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "source_name",
        "effective_from",
        "entries_total",
        "imported_count",
        "skipped_count",
        "versions_created_count",
        "actor",
        "imported_at",
    ]
    ordering = ["-effective_from"]


@admin.register(UpstreamPrice)
class UpstreamPriceAdmin(ReadOnlyAdmin):
    list_display = [
        "provider",
        "model",
        "effective_from",
        "input_per_token_atto",
        "output_per_token_atto",
        "cache_read_per_token_atto",
        "cache_write_per_token_atto",
        "tier_threshold_tokens",
        "catalog_import",
    ]
    list_filter = ["provider", "mode", "effective_from"]
    search_fields = ["model", "provider"]
    list_select_related = ["catalog_import"]
    ordering = ["provider", "model", "-effective_from"]


class RetailPriceOverrideInline(admin.TabularInline):
    model = RetailPriceOverride
    fields = ["provider", "model", "markup_bps", *PRICE_FIELDS]
    extra = 1
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return obj is None  # only with a new version of the book

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None


class RetailPriceBookForm(forms.ModelForm):
    class Meta:
        model = RetailPriceBook
        fields = ["book", "name", "plan", "customer", "markup_bps", "currency", "effective_from"]

    def clean(self):
        data = super().clean()
        book, effective_from = data.get("book"), data.get("effective_from")
        if book is not None and effective_from is not None:
            latest = (
                RetailPriceBook.objects.filter(
                    book=book, plan=data.get("plan", ""), customer=data.get("customer", "")
                )
                .order_by("-effective_from")
                .first()
            )
            if latest is not None and latest.effective_from > effective_from:
                raise forms.ValidationError(
                    f"version {latest.id} is in force from {latest.effective_from:%Y-%m-%d %H:%M}"
                    "; a new version must not be dated before it"
                )
        return data


@admin.register(RetailPriceBook)
class RetailPriceBookAdmin(admin.ModelAdmin):
    form = RetailPriceBookForm
    list_display = [
        "id",
        "name",
        "book",
        "plan",
        "customer",
        "markup_bps",
        "currency",
        "effective_from",
        "actor",
    ]
    list_filter = ["book", "currency"]
    search_fields = ["name", "plan", "customer"]
    ordering = ["book", "plan", "customer", "-effective_from"]
    inlines = [RetailPriceOverrideInline]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        """Written in save_related, through the service, together with its overrides."""

    def save_related(self, request, form, formsets, change):
        overrides = []
        for formset in formsets:
            for override_form in formset.forms:
                data = override_form.cleaned_data
                if not data or not override_form.has_changed():
                    continue
                terms = OverrideTerms(
                    markup_bps=data.get("markup_bps"),
                    **{name: data.get(name) for name in PRICE_FIELDS},
                )
                overrides.append(
                    services.RetailOverrideSpec(
                        model=data["model"], terms=terms, provider=data.get("provider") or ""
                    )
                )
        data = form.cleaned_data
        created = services.retail_price_book_create(
            book=data["book"],
            name=data["name"],
            plan=data.get("plan", ""),
            customer=data.get("customer", ""),
            markup_bps=data["markup_bps"],
            currency=data["currency"],
            effective_from=data["effective_from"],
            actor=f"admin:{request.user.get_username()}",
            overrides=overrides,
        )
        # The admin's log entry and redirect name the version the service wrote.
        form.instance.pk = created.pk
        for formset in formsets:
            formset.new_objects = list(created.overrides.order_by("id"))
            formset.changed_objects = []
            formset.deleted_objects = []
