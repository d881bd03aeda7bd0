"""credit.services.credit_limit_set and the selectors it feeds."""

import pytest

from credit import selectors
from credit.errors import InvalidCreditLimit
from credit.models import CreditLimit, CreditLimitChange
from credit.services import credit_limit_set

pytestmark = pytest.mark.django_db

USD = 10**9


def test_credit_limit_service_refuses_bad_values(world):
    for bad in (-1, 1.5, "5", 2**63, True):
        with pytest.raises(InvalidCreditLimit) as refused:
            credit_limit_set(customer=world["globex"], credit_limit_minor=bad, actor="t")
        assert refused.value.code == "invalid_credit_limit"
    assert not CreditLimit.objects.exists() and not CreditLimitChange.objects.exists()


def test_the_own_limit_or_else_the_default_applies(world, settings):
    settings.CREDIT_LIMIT_DEFAULT = "12.5"
    globex = world["globex"]
    assert selectors.credit_position_get(customer=globex).credit_limit_minor == 12_500_000_000
    credit_limit_set(customer=globex, credit_limit_minor=0, actor="t")
    position = selectors.credit_position_get(customer=globex)
    assert (position.own_limit_minor, position.credit_limit_minor) == (0, 0)
    assert position.limit_is_default is False
    credit_limit_set(customer=globex, credit_limit_minor=None, actor="t")
    position = selectors.credit_position_get(customer=globex)
    assert position.limit_is_default and position.credit_limit_minor == 12_500_000_000
    assert CreditLimit.objects.count() == 1  # one row per customer, null = the default
    assert CreditLimitChange.objects.count() == 2
