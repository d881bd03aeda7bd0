"""The credit app's contributions to wallets, loaded in CreditConfig.ready: the funds
policy of credit customers (what an authorization may hold: the limit less the exposure)
and the credit position shown by the wallet endpoint. Wallets imports nothing of credit;
without this app a credit customer has no funds (wallets.funding)."""

from credit import api, selectors
from wallets import funding
from wallets.models import Customer

funding.funds_policy(Customer.Billing.CREDIT)(selectors.credit_funds)
funding.wallet_details_register(fields=api.CreditPositionOutput, body=api.credit_position_body)
