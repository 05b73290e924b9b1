"""Test-wide settings: compiled code is cached in a fresh directory per test run,
so the tests neither read nor fill the user's cache."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("TC_CACHE_DIR", tempfile.mkdtemp(prefix="tc-test-cache-"))
