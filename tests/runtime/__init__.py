"""Tests of sealyard.runtime."""
