"""Which customer a portal page shows: tenancy exactly as the wallets API decides it.

Every page and download is under /portal/c/<external_id>/, and each view asks
`portal_customer` for that customer with the permission a finance login would need for the
same thing through the API (wallets.access): a member sees its own customers only, and a
customer it may not see answers 404, like one that does not exist, so ids cannot be probed.
"""

from django.http import Http404

from wallets import access
from wallets.errors import ApiKeyNotFound, CustomerNotFound
from wallets.models import ApiKey, Customer

# The permissions the wallets, payments and invoicing APIs ask of finance logins; members
# need none of them for their own customers.
VIEW_CUSTOMER = "wallets.view_customer"
VIEW_KEYS = "wallets.view_apikey"
ADD_KEYS = "wallets.add_apikey"
CHANGE_KEYS = "wallets.change_apikey"
VIEW_TOPUPS = "payments.view_topup"
ADD_TOPUPS = "payments.add_topup"
CHANGE_AUTO_TOPUP = "payments.change_autotopupsettings"
VIEW_INVOICES = "invoicing.view_invoice"
VIEW_RECEIPTS = "invoicing.view_receipt"


def portal_customer(request, external_id: str, perm: str = VIEW_CUSTOMER) -> Customer:
    try:
        return access.customer_for_user(user=request.user, external_id=external_id, perm=perm)
    except CustomerNotFound as error:
        raise Http404(str(error)) from error


def portal_customers(request):
    """The customers this login may open, by name (the switcher and the home redirect)."""
    return access.customers_visible(user=request.user, perm=VIEW_CUSTOMER).order_by(
        "name", "external_id"
    )


def portal_api_key(request, customer: Customer, pk: int, perm: str) -> ApiKey:
    """A key of this customer that the login may change; another customer's is a 404 even
    for a login that may see both (the URL names the customer)."""
    try:
        key = access.api_key_for_user(user=request.user, pk=pk, perm=perm)
    except ApiKeyNotFound as error:
        raise Http404(str(error)) from error
    if key.customer_id != customer.id:
        raise Http404(f"API key {pk} does not exist")
    return key


def actor_of(request) -> str:
    return f"user:{request.user.get_username()}"
