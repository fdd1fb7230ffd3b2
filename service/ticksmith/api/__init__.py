"""HTTP on the service's own loop: metrics, health, and reads from the cache."""
