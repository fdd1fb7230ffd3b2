"""Indicators computed from closed bars."""
