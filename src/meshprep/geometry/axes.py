"""Axis conventions shared by the renderers: Y-up files turned Z-up."""

from __future__ import annotations

import numpy as np

#: Blender's glTF / OBJ importers turn Y-up files Z-up: (x, y, z) -> (x, -z, y)
Y_UP_TO_Z_UP = np.array([[1.0, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
