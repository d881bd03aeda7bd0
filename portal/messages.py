"""What a customer reads when a service refuses: one translated sentence per stable error
code (the services' own messages are English, for the API and the logs). A code without
a sentence here falls back to a generic one, never to the English message."""

from django.utils.translation import gettext_lazy as _

from config.errors import DomainError

REFUSALS = {
    "invalid_topup": _("Enter an amount such as 25 or 25.50."),
    "topup_amount_out_of_range": _("A top-up is between %(minimum)s and %(maximum)s."),
    "prepaid_only": _("This account is billed on credit: it has no wallet to top up."),
    "currency_not_supported": _("Card payments are not available in this account's currency."),
    "stripe_unavailable": _("The payment service did not answer. Nothing was charged; try again."),
    "stripe_not_configured": _("Card payments are not available right now. Nothing was charged."),
    "invalid_auto_topup_settings": _(
        "Check the amounts: the target must be above the threshold and at most the largest top-up."
    ),
    "payment_method_required": _("Save a card first: auto top-up charges it."),
    "invalid_amount": _("Enter an amount such as 25 or 25.50."),
    "invalid_api_key_input": _("Check the limits and the models you entered."),
    "invalid_input": _("Check what you entered."),
}
FALLBACK = _("That did not work. Nothing was changed; try again or contact us.")


def refusal_text(error: DomainError, **values) -> str:
    template = REFUSALS.get(error.code, FALLBACK)
    details = {**(getattr(error, "details", None) or {}), **values}
    try:
        return str(template) % details if "%(" in str(template) else str(template)
    except (KeyError, TypeError, ValueError):
        return str(FALLBACK)
