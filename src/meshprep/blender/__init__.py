"""The Blender backend: ``bpy`` in a worker subprocess, with a time limit.

:mod:`~meshprep.blender.process` finds a Python with ``bpy`` and runs one job per fresh
process (:mod:`~meshprep.blender.blender_worker`, which imports only the standard library and
``bpy``); embedded scripts never run (see the worker). Two uses:
:func:`~meshprep.blender.formats.export_glb` lets :func:`meshprep.load` read FBX, BLEND, ABC and
USD files (the worker exports them to glTF, which is then loaded as usual), and
:func:`~meshprep.blender.render.render_job` renders the frames that
:func:`meshprep.render.blender.render_blender` builds from the built-in renderer's cameras and
conventions. Nothing here imports the ``io`` or ``render`` stages.
"""

from .formats import BLENDER_FORMATS, export_glb, import_axes
from .process import (
    DEFAULT_TIMEOUT,
    WORKER,
    BlenderError,
    BlenderUnavailable,
    blender_python,
    require_blender,
    run_job,
)
from .render import ENGINES, render_job

__all__ = ["BLENDER_FORMATS", "DEFAULT_TIMEOUT", "ENGINES", "WORKER", "BlenderError",
           "BlenderUnavailable", "blender_python", "export_glb", "import_axes", "render_job",
           "require_blender", "run_job"]
