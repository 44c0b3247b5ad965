"""Logic and helpers of the Semiology Visualization module (MRML, no Qt)."""
