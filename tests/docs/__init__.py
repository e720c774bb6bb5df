"""Tests of the documentation site (tests/docs/test_site_in_a_browser.py)."""
