"""Side effects of the cart service: SQL repositories (schema-qualified) and seed files."""
