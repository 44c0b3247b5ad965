"""EpilepsySuite core: the pure-Python methods behind the Slicer modules.

Subpackages: ``data`` (embedded template and atlas), ``io`` (checked image I/O, atomic writes),
``geometry`` (SimpleITK <-> TorchIO), ``fcd``, ``cavity``, ``semiology``, ``video``.
"""

__version__ = "0.1.0"
