"""Credit tests build on the wallets' world (metering's customers acme / globex /
initech; globex is billed on credit) and its fixtures."""

from tests.payments.conftest import stripe_proxy  # noqa: F401  (fixture)
from tests.wallets.conftest import (  # noqa: F401  (fixtures)
    _fresh_process_caches,
    catalogue_subset,
    finance,
    world,
)
