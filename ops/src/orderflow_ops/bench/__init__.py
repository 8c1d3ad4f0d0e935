"""The end-to-end benchmark (``orderflow-bench``, ``make bench``): see :mod:`.cli`."""
