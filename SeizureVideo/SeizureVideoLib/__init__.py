"""Logic and helpers of the Seizure Video module (MRML, no Qt)."""
