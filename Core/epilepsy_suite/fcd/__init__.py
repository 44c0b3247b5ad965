"""The fcd method."""
