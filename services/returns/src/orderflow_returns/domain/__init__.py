"""The returns service's rules, pure: return window, refund pricing, warranty, RMA states.

Nothing here does I/O or reads a clock: every function takes the facts and the time it judges.
"""
