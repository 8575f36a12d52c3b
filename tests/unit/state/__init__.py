"""Tests of the sync state store."""
