import pytest

from settlement.commitments.services import contract_create
from tests.metering.conftest import catalogue_subset, world  # noqa: F401  (fixtures)


@pytest.fixture
def openai_contract(world):  # noqa: F811  (the fixture imported above)
    return contract_create(
        book=world["distributor"],
        provider="openai",
        name="2026 enterprise",
        currency=world["usd"],
        discount_bps=1000,
        tolerance_bps=10,
        tolerance_minor=1000,
        actor="test",
    )
