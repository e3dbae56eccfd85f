"""The guard of the browser test modules: skip them where Chromium or Playwright is missing,
except under CI, which must run them."""

from __future__ import annotations

import os

import pytest


def require_chromium() -> None:
    try:
        from tests.support.browser import chromium_path
    except ImportError:  # the test extra is not installed
        found = None
    else:
        found = chromium_path()
    if found is None:
        if os.environ.get("CI"):
            raise RuntimeError("CI must run the browser tests: chromium or playwright is missing")
        pytest.skip("headless Chromium is not installed here", allow_module_level=True)
