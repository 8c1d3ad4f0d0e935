"""Side effects: SQL repositories, the ledger store, payment provider adapters."""
