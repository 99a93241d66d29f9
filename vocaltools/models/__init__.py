"""Model zoo. ``catalog`` is plain data (no torch); ``registry`` builds and counts models."""
