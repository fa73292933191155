"""Import every module of meshprep with only the base install: none may need an extra to import.

The one exception is a script that runs inside Blender's own Python (it imports ``bpy`` at the
top and is never imported by meshprep itself).
"""

import importlib
import pkgutil
import sys

import meshprep

failed = []
for info in pkgutil.walk_packages(meshprep.__path__, "meshprep."):
    try:
        importlib.import_module(info.name)
    except ModuleNotFoundError as error:
        if error.name != "bpy":
            failed.append(f"{info.name}: {error}")
if failed:
    sys.exit("modules that do not import with the base install:\n" + "\n".join(failed))
print("every meshprep module imports with the base install")
