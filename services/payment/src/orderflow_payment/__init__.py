"""Payment service: authorise, capture, void and refund through payment providers; the money
ledger."""
