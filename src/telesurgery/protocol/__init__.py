"""Wire messages and their binary codec (pure; golden bytes)."""
