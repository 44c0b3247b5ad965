"""The cavity method."""
