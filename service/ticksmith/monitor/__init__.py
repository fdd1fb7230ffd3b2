"""Watching the process from the side: metrics, memory and the garbage collector."""
