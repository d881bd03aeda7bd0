"""Invoicing's errors, each with a stable code (mapped to HTTP by config.errors).

Every service checks before it books, so an error leaves nothing booked.
"""

from rest_framework import status

from config.errors import Conflict, DomainError, NotFound


class InvoicingError(DomainError):
    code = "invoicing_error"


class InvalidInvoicingInput(InvoicingError):
    code = "invalid_invoicing_input"


class CurrencyUnknown(InvoicingError):
    """A currency without a known ISO 4217 minor unit (invoicing.currencies)."""

    code = "currency_unknown"


class CurrencyMismatch(InvoicingError):
    """The buyer pays in another currency than the seller's billing profile invoices in.
    (The same code as pricing's: one meaning, one status.)"""

    code = "currency_mismatch"


class BillingProfileMissing(InvoicingError):
    code = "billing_profile_missing"
    http_status = status.HTTP_422_UNPROCESSABLE_ENTITY


class BuyerDetailsMissing(InvoicingError):
    code = "buyer_details_missing"
    http_status = status.HTTP_422_UNPROCESSABLE_ENTITY


class TaxRegionUnknown(InvoicingError):
    """The seller has no tax rate in force for the buyer's region: never a silent 0."""

    code = "tax_region_unknown"
    http_status = status.HTTP_422_UNPROCESSABLE_ENTITY


class NotABuyer(InvoicingError):
    """A prepaid customer (its wallet paid), or a book that is not a reseller of the seller."""

    code = "not_invoiceable"
    http_status = status.HTTP_422_UNPROCESSABLE_ENTITY


class PeriodNotClosed(InvoicingError):
    """The period ends in the future: usage of it can still arrive."""

    code = "invoice_period_not_closed"


class PeriodBeforeLastInvoice(InvoicingError):
    """The period ends before the buyer's last finalized invoice's period: invoices
    cover nested spans of usage, each containing the one before."""

    code = "invoice_period_before_last_invoice"


class InvoiceEmpty(InvoicingError):
    """Nothing to bill: no uninvoiced usage for the buyer up to the period's end. No
    draft is made (invoices_draft_period counts the buyer as skipped)."""

    code = "invoice_empty"
    http_status = status.HTTP_422_UNPROCESSABLE_ENTITY


class InvoiceNotFound(NotFound):
    code = "invoice_not_found"


class InvoiceNotDraft(Conflict):
    code = "invoice_not_draft"


class InvoiceNotVoidable(Conflict):
    """Only a finalized invoice with no payment and no credit note, the buyer's latest,
    can be voided (older ones are corrected with credit notes)."""

    code = "invoice_not_voidable"


class InvoiceNotCreditable(Conflict):
    code = "invoice_not_creditable"


class CreditNoteExceedsInvoice(InvoicingError):
    code = "credit_note_exceeds_invoice"


class InvoiceNotPayable(Conflict):
    code = "invoice_not_payable"


class PaymentExceedsWallet(InvoicingError):
    code = "invoice_payment_exceeds_wallet"
    http_status = status.HTTP_422_UNPROCESSABLE_ENTITY


class PaymentDuplicate(Conflict):
    """A payment with this method and reference is already recorded on the invoice."""

    code = "invoice_payment_duplicate"


class TopUpNotPaid(InvoicingError):
    code = "topup_not_paid"
    http_status = status.HTTP_422_UNPROCESSABLE_ENTITY


class BillingProfileNotFound(NotFound):
    code = "billing_profile_not_found"


class CreditNoteNotFound(NotFound):
    code = "credit_note_not_found"


class ReceiptNotFound(NotFound):
    code = "receipt_not_found"


class InvoiceNotIssued(Conflict):
    """A draft has no number and no document yet: finalize it first."""

    code = "invoice_not_issued"
