"""Tests that drive the web app in a real browser (a package, so its test_app.py and the unit one can coexist)."""
