"""The payment rules: pure values and functions, no I/O."""
