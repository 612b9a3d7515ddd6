"""Recording, audit chain, replay and report."""
