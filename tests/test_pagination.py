"""Every paginated list takes any limit and offset a query string can hold: a limit is cut
to LIMIT_MAX, an offset past bigint is an empty page, never a 500 (found by schemathesis)."""

import pytest
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from config.pagination import LIMIT_MAX, OFFSET_MAX, BoundedLimitOffsetPagination

HUGE = "44642336981676089344"  # past PostgreSQL's bigint


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/ledger/accounts/", "/api/wallets/customers/"])
def test_a_limit_or_offset_past_bigint_is_an_answer_not_a_500(finance_client, path):
    for query in (f"limit={HUGE}", f"offset={HUGE}", f"limit={HUGE}&offset={HUGE}"):
        response = finance_client.get(f"{path}?{query}")
        assert response.status_code == 200, (query, response.content)
        assert "results" in response.json()
    assert finance_client.get(f"{path}?offset={HUGE}").json()["results"] == []


def test_a_larger_limit_is_cut_to_the_maximum_and_the_offset_bounded():
    paginator = BoundedLimitOffsetPagination()
    request = Request(APIRequestFactory().get(f"/?limit={LIMIT_MAX * 5}&offset={HUGE}"))
    assert paginator.get_limit(request) == LIMIT_MAX
    assert paginator.get_offset(request) == OFFSET_MAX < 2**63
