"""Continuous monitoring: scan on push, re-match stored SBOMs when advisories change, alerts
and their delivery to webhooks."""
