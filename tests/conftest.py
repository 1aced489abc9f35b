"""Property tests are reproducible: the same examples on every run, on every machine.

Hypothesis draws from a seed derived from each test's code (``derandomize``) and no local example
database is replayed, so CI cannot pass or fail by chance. Every failure ever found is pinned as an
``@example`` or in ``tests/resilience/fuzz_corpus.json``; the longer randomised search lives in
``benchmarks/fuzz_engine.py`` (or run the tests with ``--hypothesis-profile=explore``).
"""

from hypothesis import settings

settings.register_profile("reproducible", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile("reproducible")
