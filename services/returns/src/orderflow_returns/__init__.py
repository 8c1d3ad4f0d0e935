"""Returns service: the 30-day return window, money-back refunds and warranty claims."""
