"""Tests of the container configuration, Dockerfile and host audits."""
