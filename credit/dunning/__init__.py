"""Dunning: a per-book ladder of steps a customer with overdue invoices walks down
(reminder, card retry, restriction, suspension) and the payment that lifts it back."""
