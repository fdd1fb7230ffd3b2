"""Authoritative in-memory state: per-symbol tick windows and time bars."""
