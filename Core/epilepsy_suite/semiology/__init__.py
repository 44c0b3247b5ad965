"""The semiology method."""
