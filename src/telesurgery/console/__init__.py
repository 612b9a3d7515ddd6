"""Surgeon consoles: the Python SDK, and web/ for the browser console."""
