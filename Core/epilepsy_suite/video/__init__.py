"""The video method."""
