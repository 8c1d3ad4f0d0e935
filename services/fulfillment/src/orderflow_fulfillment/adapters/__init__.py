"""Side effects: SQL repositories over the service's own schema."""
