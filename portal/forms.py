"""The portal's forms: what a customer may type, checked before any service is called."""

from datetime import date, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# The usage page shows at most this many days at once (one chart column a day).
USAGE_DAYS_MAX = 400
USAGE_DAYS_DEFAULT = 30


class UsageFilterForm(forms.Form):
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("To (inclusive)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    # Free text behind a select: the options are what the period holds (known only after
    # the dates are read); any other value simply matches nothing.
    model = forms.CharField(label=_("Model"), required=False, max_length=200, widget=forms.Select)
    api_key = forms.CharField(
        label=_("API key"), required=False, max_length=200, widget=forms.Select
    )

    def options_set(self, *, models, api_keys) -> None:
        everything = [("", _("All"))]
        self.fields["model"].widget.choices = everything + [(name, name) for name in models]
        self.fields["api_key"].widget.choices = everything + [
            (key, key or _("(none)")) for key in api_keys if key
        ]

    def clean(self):
        data = super().clean()
        today = timezone.now().date()
        until = data.get("until") or today
        since = data.get("since") or until - timedelta(days=USAGE_DAYS_DEFAULT - 1)
        if since > until:
            raise forms.ValidationError(_("The first day is after the last."))
        if (until - since).days + 1 > USAGE_DAYS_MAX:
            raise forms.ValidationError(
                _("Choose at most %(days)s days at once.") % {"days": USAGE_DAYS_MAX}
            )
        data["since"], data["until"] = since, until
        return data


def default_period() -> tuple[date, date]:
    today = timezone.now().date()
    return today - timedelta(days=USAGE_DAYS_DEFAULT - 1), today


class TopUpForm(forms.Form):
    # The amount stays text: payments parses it exactly (Decimal, never a float) and says
    # what is wrong with it; the browser only helps with the keyboard.
    amount = forms.CharField(
        label=_("Amount"),
        max_length=32,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    save_card = forms.BooleanField(label=_("Keep this card for auto top-up"), required=False)


class AutoTopUpForm(forms.Form):
    enabled = forms.BooleanField(label=_("Top up automatically"), required=False)
    threshold = forms.DecimalField(
        label=_("When the available balance falls below"),
        min_value=0,
        decimal_places=2,
        max_digits=14,
    )
    target = forms.DecimalField(label=_("Top up to"), min_value=0, decimal_places=2, max_digits=14)


def _limit_field(label):
    return forms.DecimalField(
        label=label,
        required=False,
        min_value=0,
        decimal_places=2,
        max_digits=14,
        help_text=_("Empty: no limit."),
    )


class ApiKeyForm(forms.Form):
    """A key's name, spend limits (major units; empty is no limit) and model allow-list
    (one model per line or comma-separated; empty allows every model)."""

    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    daily_limit = _limit_field(_("Daily spend limit"))
    monthly_limit = _limit_field(_("Monthly spend limit"))
    total_limit = _limit_field(_("Total spend limit"))
    allowed_models = forms.CharField(
        label=_("Allowed models"),
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line or separated by commas. Empty: every model."),
    )

    def clean_allowed_models(self) -> list[str]:
        text = self.cleaned_data["allowed_models"]
        names = [part.strip() for part in text.replace(",", "\n").splitlines()]
        return [name for name in names if name]
