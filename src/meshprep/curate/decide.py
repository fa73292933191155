"""Curation decisions: thresholds (the ``[curate]`` config section) applied to stored metrics.

Each rule either flags or drops an asset (``[curate] drop`` names the rules that drop); the
decision is ``keep``, ``flag`` or ``drop`` and the reason says which rule fired and by how much,
e.g. ``drop: plane-dominated — 0.91 of area on one plane``. Deciding needs only the metrics, so
``meshprep curate`` re-decides a whole dataset without recomputing anything.
"""

from __future__ import annotations

from collections.abc import Callable

#: rule name -> (metric, test(value, threshold), the threshold's config key, reason template)
RULES: dict[str, tuple[str, Callable, str | tuple[str, str], str]] = {
    "plane": ("plane_share", lambda v, t: v >= t, "max_plane_share",
              "plane-dominated — {v:.2f} of area on one plane"),
    "flat": ("thinness", lambda v, t: v < t, "min_thinness",
             "flat — thickness {v:.3f} of its length"),
    "ground": ("ground_tile_share", lambda v, t: v > t, "max_ground_tile_share",
               "ground tile — {v:.2f} of area on a floor under the object"),
    "multi": ("objects", lambda v, t: v > t, "max_objects",
              "multi-object — {v:.0f} separate objects"),
    "floaters": ("floater_share", lambda v, t: v > t, "max_floater_share",
                 "floaters — {v:.3f} of area in small parts apart from the object"),
    # the sign check of the sample step (sample/check.py): labels that disagree with the mesh
    "labels": ("check_far_inside", lambda v, t: v > t, "max_far_inside",
               "labels inconsistent — {v:.1%} of far points inside"),
    "label_sign": ("check_sign_disagreement", lambda v, t: v > t, "max_sign_disagreement",
                   "labels inconsistent — {v:.1%} of checked points disagree with ray parity"),
    "label_volume": ("check_volume_sigma", lambda v, t: v > t, "max_volume_sigma",
                     "labels inconsistent — inside share {v:.1f} σ from the mesh's volume"),
    "animation": ("pose_bbox_ratio", lambda v, t: not (1.0 / t <= v <= t), "max_pose_ratio",
                  "broken animation — frame-0 box {v:.2f}× the rest box"),
    # parts (load(parts=True)): curate/part_metrics.py; the count's bounds are [parts] min, max
    "parts": ("part_count", lambda v, t: not (t[0] <= v <= t[1]), ("min_parts", "max_parts"),
              "part count — {v:.0f} parts outside [{t[0]}, {t[1]}]"),
    "part_overlap": ("part_iou_max", lambda v, t: v > t, "max_part_iou",
                     "overlapping parts — voxel IoU {v:.2f} between two parts"),
    "tiny_part": ("part_min_area_share", lambda v, t: v < t, "min_part_share",
                  "tiny part — {v:.5f} of the surface area"),
    # rigs (load(rig=True)): curate/rig_metrics.py
    "rig_weights": ("rig_weight_error", lambda v, t: v > t, "max_rig_weight_error",
                    "broken rig — {v:.1%} of skinned vertices' weights do not sum to 1"),
    "rig_joints": ("rig_joints_outside", lambda v, t: v > t, "max_rig_joints_outside",
                   "broken rig — {v:.1%} of joints outside the mesh's box"),
    "rig_bones": ("rig_unused_bones", lambda v, t: v > t, "max_rig_unused_bones",
                  "broken rig — {v:.1%} of joints are leaf bones without weights"),
}


def decide(metrics: dict, params: dict, duplicate_of: str | None = None) -> tuple[str, str]:
    """``(decision, reason)`` for one asset's metrics under the ``[curate]`` parameters."""
    drops, flags = [], []
    for name, (metric, fires, key, template) in RULES.items():
        value = metrics.get(metric)
        threshold = tuple(params.get(k) for k in key) if isinstance(key, tuple) \
            else params.get(key)
        if value is None or threshold is None or \
                (isinstance(threshold, tuple) and None in threshold):
            continue  # a metric not measured, or a threshold the caller does not set
        if fires(value, threshold):
            reason = template.format(v=value, t=threshold)
            (drops if name in params["drop"] else flags).append(reason)
    if duplicate_of:
        reason = f"duplicate — same geometry hash as {duplicate_of[:16]}"
        (drops if "duplicate" in params["drop"] else flags).append(reason)
    if drops:
        return "drop", "drop: " + "; ".join(drops + flags)
    if flags:
        return "flag", "flag: " + "; ".join(flags)
    return "keep", ""
