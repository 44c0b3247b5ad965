"""Slicer-side helpers shared by the EpilepsySuite modules (MRML only, never Qt).

They work on any ``vtkMRMLScene``: ``slicer.mrmlScene`` inside 3D Slicer, or a scene from
:func:`EpilepsySuiteMRML.scene.create_scene` built with the ``slicer-core`` package headless.
"""
