"""Derived values handed to readers as weakref.proxy, bounded by a byte budget."""
