"""What other apps do in the transaction that books a paid top-up.

Payments books the money (`topups.services.topup_book`); an app above it that owes the
customer something for the payment (invoicing: its receipt) registers a hook here in its
AppConfig.ready, the way credit registers its funds policy with wallets, so payments
imports none of them. A hook runs inside the booking's transaction after the row is
marked paid, so what it writes commits with the payment or not at all. A hook must not
make the payment fail for its own bad input: it answers that itself (a savepoint, a log
line, a scheduled retry); an exception out of a hook is a bug and rolls the booking back.
"""

from collections.abc import Callable

from payments.models import TopUp

TopUpPaidHook = Callable[..., None]  # hook(*, topup: TopUp, actor: str)
_HOOKS: list[TopUpPaidHook] = []


def topup_paid_hook_register(hook: TopUpPaidHook) -> TopUpPaidHook:
    assert hook not in _HOOKS, f"top-up paid hook {hook} registered twice"
    _HOOKS.append(hook)
    return hook


def topup_paid_hooks_run(*, topup: TopUp, actor: str) -> None:
    assert topup.state == TopUp.State.PAID, f"top-up {topup.public_id} is not paid"
    for hook in _HOOKS:
        hook(topup=topup, actor=actor)
