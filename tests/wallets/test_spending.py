"""The hook metering calls after usage spent customers' money (wallets.spending)."""

from wallets import spending


def test_observers_hear_each_spending_once_and_nothing_for_none(monkeypatch):
    monkeypatch.setattr(spending, "_observers", [])
    heard = []

    def observer(*, external_ids):
        heard.append(external_ids)

    spending.spending_observer_register(observer)
    spending.spending_observer_register(observer)  # ready() may run twice: still one
    spending.customers_spent(external_ids=["acme", "initech", "acme"])
    spending.customers_spent(external_ids=set())
    assert heard == [frozenset({"acme", "initech"})]


def test_payments_registers_its_balance_watch_at_startup():
    from payments.alerts.balance_watch import balances_watch_after_spending

    assert balances_watch_after_spending in spending._observers
