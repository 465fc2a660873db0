"""`python -m tests.second_provider_main`: codexglm with FakeCo registered beside GLM.

The end-to-end tests of several providers in one session run this instead of `python -m
codexglm`: the one line a provider needs (its registry entry) is made here, before main.
"""

from __future__ import annotations

import sys

from codexglm.cli import main
from codexglm.providers import register_provider
from tests.test_providers import FAKE

if __name__ == "__main__":
    register_provider(FAKE)
    sys.exit(main())
