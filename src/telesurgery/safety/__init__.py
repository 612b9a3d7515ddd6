"""Patient-side safety supervisor (sans-I/O: time is always a parameter)."""
