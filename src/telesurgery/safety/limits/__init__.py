"""Composable limits the supervisor iterates over."""
