"""Rendering: cameras trainers read, a headless numba rasterizer, passes and transforms.json."""

from .cameras import Camera, CameraSet, look_at, parse_cameras
from .views import PASSES, RenderResult, render_views, world_transform

__all__ = ["PASSES", "Camera", "CameraSet", "RenderResult", "look_at", "parse_cameras",
           "render_views", "world_transform"]
