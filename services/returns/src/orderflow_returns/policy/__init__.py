"""Data files shipped with the service (the default warranty policy)."""
