"""Expected credit loss: aging of receivables, the provision matrix, the allowance booked
at each period end, write-offs and recoveries (IFRS 9 simplified approach)."""
