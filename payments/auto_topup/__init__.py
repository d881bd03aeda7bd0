"""Auto top-up: the customer's settings (configuration), the card saved for it through
Stripe (saved_cards), and the attempts that charge it off-session (attempts)."""
