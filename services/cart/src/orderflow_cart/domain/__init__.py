"""The cart's rules, as pure values and functions: no database, no broker, no clock of its own."""
