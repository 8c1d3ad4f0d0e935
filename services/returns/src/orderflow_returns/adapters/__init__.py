"""Side effects of the returns service: SQL on its own schema."""
