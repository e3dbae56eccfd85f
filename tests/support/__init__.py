"""Helpers the tests import: loopback SMTP and HTTP servers, listings, settings, `digest`
processes, a headless browser. No tests here."""
