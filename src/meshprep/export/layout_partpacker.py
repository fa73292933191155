"""``partpacker``: PartPacker's two packed volumes ("dual volume packing") of a part-aware asset.

Matched against NVlabs/PartPacker ``data/bipartite_contraction.py`` (the released data
processing; its training dataset code is not public). Per asset, from the run's ``parts.npz``
(:func:`meshprep.io.parts.save_parts`), the steps of its ``run``, re-implemented here with
numpy / scipy / trimesh (FCL and meshiki are not dependencies of meshprep):

1. parts: the stored part ids where the asset has more than one (the script's scene
   geometries, ``len(scene.geometry) > 1``); else the mesh's connected components grouped as
   meshiki's ``Mesh.smart_group_components`` groups them (ashawkey/meshiki
   ``include/meshiki/mesh.h``: faces linked across an edge shared by two faces, then components
   merged where two boundary loops share points, ``boundary_may_connect``: at least 4 shared
   points, or half of either loop's);
2. box normalization: the whole object centred on its box, the box's longest side 0.95;
3. per part: visuals dropped, ``merge_vertices``, duplicate and degenerate faces removed,
   ``fix_normals``;
4. ``smart_grouping``: of colliding parts, merge pairs where one is a single-layer plane, one
   is small (mean watertight-component volume below 5 % of the total and largest extent below
   5 % of the largest; 10 % above 16 parts) or their boxes' IoU exceeds 0.5;
5. ``stitch_nonwatertight_mesh``: open boundary loops that are (loosely) coplanar and convex
   closed with a fan, oriented after an adjacent face;
6. the collision graph of the parts dilated about their centroid by ``2 / 512`` in radius;
7. ``merge_odd_loops`` (skipped above 100 adjacency entries, as the script does): in every
   cycle with an odd number of edges the edge of the deepest penetration is contracted;
8. breadth-first 2-colouring from the part nearest the centre outwards, the first colour of
   each further connected component alternating;
9. written as the script writes them: ``<id>_color0.obj`` and ``<id>_color1.obj`` (each
   volume's parts concatenated) and ``<id>.obj`` (both, volume 1 moved by ``+1`` along z).

Collision tests are triangle-against-triangle as in FCL's mesh-mesh test (fcl ``src/intersect.cpp``
``Intersect::intersect_Triangle``: 17 separating axes, so touching triangles meet; a part
wholly inside another does not collide). FCL reports one depth per contact (the smaller of the
two triangles' deepest vertex behind the other's plane) and the script keeps whichever contact
of a pair came last; we keep the pair's deepest.
"""

from __future__ import annotations

from collections.abc import Hashable
from itertools import combinations
from pathlib import Path

import numpy as np
import trimesh
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from meshprep.errors import MeshprepError
from meshprep.io.parts import PARTS_FILE, Parts, read_parts_file

from .layouts import Key, Layout, LayoutSkip, plain_id, register, write_text

NAME = "partpacker"
LOADER = "NVlabs/PartPacker:data/bipartite_contraction.py"
#: the script's box normalization: the longest side of the object's box
BOX_SIDE = 0.95
#: ``--dilate_size``: radius added to each part before the collision graph
DILATE = 2.0 / 512.0
#: ``merge_odd_loops`` is skipped above this many adjacency entries (both directions)
MAX_GRAPH_ENTRIES = 100
#: meshiki's ``boundary_may_connect`` distance for a shared point
SHARED_POINT = 1e-8
#: the z offset of volume 1 in the combined ``<id>.obj``
COMBINED_OFFSET = (0.0, 0.0, 1.0)

PartKey = tuple[int, ...]


# ---------------------------------------------------------------------------------------------
# parts: stored ids, or meshiki-style grouped connected components


def asset_parts(mesh: trimesh.Trimesh, parts: Parts) -> dict[PartKey, trimesh.Trimesh]:
    """The script's input parts: one mesh per stored part, or per grouped component.

    Parameters
    ----------
    mesh : trimesh.Trimesh
        The stored mesh.
    parts : Parts
        Its per-face part ids.

    Returns
    -------
    dict
        ``{(index,): mesh}`` in part (or component) order; parts without faces left out.
    """
    used = np.flatnonzero(parts.face_counts() > 0)
    if len(used) > 1:
        groups = [np.flatnonzero(parts.face_part == p) for p in used]
    else:
        groups = grouped_components(np.asarray(mesh.vertices), np.asarray(mesh.faces))
    return {(i,): _submesh(mesh, faces) for i, faces in enumerate(groups)}


def _submesh(mesh: trimesh.Trimesh, faces: np.ndarray) -> trimesh.Trimesh:
    """The faces ``faces`` of ``mesh`` with only the vertices they use."""
    used, inverse = np.unique(mesh.faces[faces], return_inverse=True)
    return trimesh.Trimesh(mesh.vertices[used], inverse.reshape(-1, 3), process=False)


def _linked_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half-edges of ``faces`` and which pair up: ``(edges (3M, 2), face (3M,), twin (3M,))``,
    twin -1 on a boundary. As meshiki's half-edge build: the first two faces (in face order)
    using an edge are linked, a third one sees a boundary."""
    m = len(faces)
    edges = np.concatenate([faces[:, [1, 2]], faces[:, [2, 0]], faces[:, [0, 1]]])
    face = np.tile(np.arange(m), 3)
    key = np.sort(edges, axis=1)
    order = np.lexsort((face, key[:, 1], key[:, 0]))
    sorted_key = key[order]
    starts = np.ones(len(order), bool)
    starts[1:] = np.any(sorted_key[1:] != sorted_key[:-1], axis=1)
    group = np.cumsum(starts) - 1
    rank = np.arange(len(order)) - np.flatnonzero(starts)[group]
    twin = np.full(len(order), -1)
    second_pos = np.flatnonzero(rank == 1)
    twin[order[second_pos]] = order[second_pos - 1]
    twin[order[second_pos - 1]] = order[second_pos]
    return edges, face, twin


def _face_components(faces: np.ndarray, twin: np.ndarray, face: np.ndarray) -> np.ndarray:
    """Connected component of each face across linked half-edges."""
    m = len(faces)
    linked = twin >= 0
    graph = coo_matrix((np.ones(int(linked.sum())), (face[linked], face[twin[linked]])),
                       shape=(m, m))
    return connected_components(graph, directed=False)[1]


def _boundary_loops(edges: np.ndarray, face: np.ndarray, twin: np.ndarray,
                    component: np.ndarray, n_vertices: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The boundary loops (connected runs of unlinked half-edges): ``(vertex, loop,
    loop_component)``, each boundary vertex with its loop, and each loop's component."""
    open_ = twin < 0
    if not open_.any():
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0, int)
    runs = edges[open_]
    graph = coo_matrix((np.ones(len(runs)), (runs[:, 0], runs[:, 1])),
                       shape=(n_vertices, n_vertices))
    label = connected_components(graph, directed=False)[1]
    vertex = np.unique(runs)
    _, loop = np.unique(label[vertex], return_inverse=True)
    loop_component = np.zeros(int(loop.max()) + 1, int)
    loop_component[loop[np.searchsorted(vertex, runs[:, 0])]] = component[face[open_]]
    return vertex, loop, loop_component


def grouped_components(vertices: np.ndarray, faces: np.ndarray) -> list[np.ndarray]:
    """Connected components merged where their boundary loops meet (meshiki's
    ``smart_group_components`` on an uncleaned mesh).

    Parameters
    ----------
    vertices : numpy.ndarray
        ``(N, 3)`` positions.
    faces : numpy.ndarray
        ``(M, 3)`` vertex indices.

    Returns
    -------
    list of numpy.ndarray
        Face indices of each group, ordered by their first face.
    """
    edges, face, twin = _linked_edges(faces)
    component = _face_components(faces, twin, face)
    vertex, loop, loop_component = _boundary_loops(edges, face, twin, component,
                                                   len(vertices))
    parent = list(range(int(component.max()) + 1))
    for a, b in _connecting_loops(vertices[vertex], loop, loop_component):
        _union(parent, int(loop_component[a]), int(loop_component[b]))
    roots = np.array([_find(parent, c) for c in range(len(parent))])[component]
    order = np.argsort(roots, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(roots[order])) + 1)
    return sorted(groups, key=lambda g: int(g[0]))


def _connecting_loops(points: np.ndarray, loop: np.ndarray, loop_component: np.ndarray
                      ) -> np.ndarray:
    """Pairs of loops of different components that ``boundary_may_connect``: at least 4 of
    their point pairs coincide (within 1e-8), or as many as half of either loop's points."""
    pairs = cKDTree(points).query_pairs(SHARED_POINT, output_type="ndarray") \
        if len(points) > 1 else np.zeros((0, 2), int)
    owners = np.sort(loop[pairs], axis=1) if len(pairs) else np.zeros((0, 2), int)
    owners = owners[loop_component[owners[:, 0]] != loop_component[owners[:, 1]]]
    if len(owners) == 0:
        return owners
    keys, count = np.unique(owners, axis=0, return_counts=True)
    size = np.bincount(loop)
    ratio = np.maximum(count / size[keys[:, 0]], count / size[keys[:, 1]])
    return keys[(count >= 4) | (ratio >= 0.5)]


def _find(parent: list[int], x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def _union(parent: list[int], a: int, b: int) -> None:
    """Merge the sets of ``a`` and ``b`` (the smaller root stays the root)."""
    ra, rb = _find(parent, a), _find(parent, b)
    if ra != rb:
        parent[max(ra, rb)] = min(ra, rb)


# ---------------------------------------------------------------------------------------------
# normalization and clean-up


def box_normalize(meshes: dict[PartKey, trimesh.Trimesh]) -> None:
    """Centre the parts together on their box and scale its longest side to 0.95, in place.

    The script's matrix scales without scaling the translation (``-centroid``); with the
    store's mesh centred on its box that is the same transform.
    """
    stacked = np.concatenate([m.vertices for m in meshes.values()])
    lo, hi = stacked.min(axis=0), stacked.max(axis=0)
    scale = BOX_SIDE / float(np.max(hi - lo))
    for mesh in meshes.values():
        mesh.vertices = (mesh.vertices - (lo + hi) / 2.0) * scale


def clean_part(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """The script's per-part clean-up: merged vertices, unique non-degenerate faces, outward
    consistent winding (and, beyond the script, unreferenced vertices dropped)."""
    mesh.merge_vertices()
    mesh.update_faces(mesh.unique_faces() & mesh.nondegenerate_faces())
    mesh.remove_unreferenced_vertices()
    mesh.fix_normals()
    return mesh


# ---------------------------------------------------------------------------------------------
# collisions (FCL's mesh-mesh test: triangle pairs by separating axes)


def contact_depth(a: trimesh.Trimesh, b: trimesh.Trimesh) -> float | None:
    """Whether the surfaces of ``a`` and ``b`` cross, and how deep.

    Parameters
    ----------
    a, b : trimesh.Trimesh

    Returns
    -------
    float or None
        None when no triangle of one meets a triangle of the other; else the largest contact
        depth of a meeting pair (:func:`_penetration`).
    """
    lo = np.maximum(a.bounds[0], b.bounds[0])
    hi = np.minimum(a.bounds[1], b.bounds[1])
    if np.any(lo > hi):
        return None
    ta, tb = _triangles_in(a.triangles, lo, hi), _triangles_in(b.triangles, lo, hi)
    if len(ta) == 0 or len(tb) == 0:
        return None
    ia, ib = _candidate_pairs(ta, tb)
    depth = None
    for start in range(0, len(ia), 65536):
        pa, pb = ta[ia[start:start + 65536]], tb[ib[start:start + 65536]]
        hit = _triangles_meet(pa, pb)
        if hit.any():
            d = float(_penetration(pa[hit], pb[hit]).max())
            depth = d if depth is None else max(depth, d)
    return depth


def _triangles_in(triangles: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The triangles whose boxes meet the box ``[lo, hi]``."""
    keep = np.all(triangles.min(axis=1) <= hi + 1e-12, axis=1) & \
        np.all(triangles.max(axis=1) >= lo - 1e-12, axis=1)
    return triangles[keep]


def _candidate_pairs(ta: np.ndarray, tb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs of triangles whose boxes overlap (a KD-tree on the box centres: each pair is
    found from its larger triangle's side)."""
    ca, cb = (ta.min(1) + ta.max(1)) / 2, (tb.min(1) + tb.max(1)) / 2
    ra = np.linalg.norm(ta.max(1) - ta.min(1), axis=1) / 2 + 1e-12
    rb = np.linalg.norm(tb.max(1) - tb.min(1), axis=1) / 2 + 1e-12
    tree_a, tree_b = cKDTree(ca), cKDTree(cb)
    found = set()
    for i, near in enumerate(tree_b.query_ball_point(ca, 2 * ra)):
        found.update((i, j) for j in near)
    for j, near in enumerate(tree_a.query_ball_point(cb, 2 * rb)):
        found.update((i, j) for i in near)
    if not found:
        return np.zeros(0, int), np.zeros(0, int)
    pairs = np.array(sorted(found))
    ia, ib = pairs[:, 0], pairs[:, 1]
    overlap = np.all(ta[ia].min(1) <= tb[ib].max(1) + 1e-12, axis=1) & \
        np.all(tb[ib].min(1) <= ta[ia].max(1) + 1e-12, axis=1)
    return ia[overlap], ib[overlap]


def _triangles_meet(pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    """Per row, whether triangles ``pa[k]`` and ``pb[k]`` meet: no separating axis among both
    normals, the 9 edge-edge cross products and each edge crossed with its own normal (the
    17 axes of FCL's ``Intersect::intersect_Triangle``; touching and coplanar overlap meet)."""
    ea = np.roll(pa, -1, axis=1) - pa  # (K, 3 edges, 3)
    eb = np.roll(pb, -1, axis=1) - pb
    na, nb = np.cross(ea[:, 0], ea[:, 1]), np.cross(eb[:, 0], eb[:, 1])
    axes = [na, nb]
    axes += [np.cross(ea[:, i], eb[:, j]) for i in range(3) for j in range(3)]
    axes += [np.cross(ea[:, i], na) for i in range(3)]
    axes += [np.cross(eb[:, i], nb) for i in range(3)]
    meet = np.ones(len(pa), bool)
    for axis in axes:
        sa, sb = np.einsum("kij,kj->ki", pa, axis), np.einsum("kij,kj->ki", pb, axis)
        meet &= ~((sa.min(1) > sb.max(1)) | (sb.min(1) > sa.max(1)))
    return meet


def _penetration(pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    """Per meeting pair, FCL's contact depth: the deepest vertex of each triangle behind the
    other's (oriented) plane, the smaller of the two."""

    def behind(tri: np.ndarray, other: np.ndarray) -> np.ndarray:
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-30
        return (-np.einsum("kij,kj->ki", other - tri[:, :1], n)).max(axis=1)

    return np.minimum(behind(pa, pb), behind(pb, pa))


def collisions(meshes: dict[PartKey, trimesh.Trimesh]) -> dict[tuple[PartKey, PartKey], float]:
    """``{(key1, key2): depth}`` of every pair of parts whose surfaces cross."""
    out = {}
    for k1, k2 in combinations(meshes, 2):
        depth = contact_depth(meshes[k1], meshes[k2])
        if depth is not None:
            out[(k1, k2)] = depth
    return out


def dilated(mesh: trimesh.Trimesh, size: float = DILATE) -> trimesh.Trimesh:
    """A copy scaled about its (area) centroid so its largest radius grows by ``size``."""
    centre = mesh.centroid
    offsets = mesh.vertices - centre
    radius = float(np.max(np.linalg.norm(offsets, axis=1)))
    scale = (radius + size) / radius if radius > 0 else 1.0
    return trimesh.Trimesh(offsets * scale + centre, mesh.faces, process=False)


# ---------------------------------------------------------------------------------------------
# the script's grouping steps


def is_single_layer_plane(mesh: trimesh.Trimesh, threshold: float = 1.0) -> bool:
    """An open mesh whose face normals (up to sign) all match the first one: the norm of all
    the differences together (not per face) below ``threshold``, as the script measures it."""
    if mesh.is_watertight or len(mesh.faces) == 0:
        return False
    normals = np.abs(mesh.face_normals)
    return float(np.linalg.norm(normals - normals[0])) < threshold


def box_iou(bounds1: np.ndarray, bounds2: np.ndarray) -> float:
    """IoU of two axis-aligned boxes ``(2, 3)``."""
    lo, hi = np.maximum(bounds1[0], bounds2[0]), np.minimum(bounds1[1], bounds2[1])
    inter = 0.0 if np.any(lo >= hi) else float(np.prod(hi - lo))
    union = float(np.prod(bounds1[1] - bounds1[0]) + np.prod(bounds2[1] - bounds2[0])) - inter
    return inter / union if union > 0 else 0.0


def _size_stats(meshes: dict[PartKey, trimesh.Trimesh]
                ) -> tuple[dict[PartKey, tuple[float, float]], float, float]:
    """Per part (mean volume, largest extent) of its watertight components (``inf`` without
    any: trimesh's ``split`` keeps watertight ones only), their total volume and the largest
    extent."""
    stats, total, largest = {}, 0.0, 0.0
    for key, mesh in meshes.items():
        pieces = mesh.split(only_watertight=True)
        volumes = [float(p.volume) for p in pieces]
        extents = [float(np.max(p.extents)) for p in pieces]
        total += sum(volumes)
        largest = max([largest, *extents])
        stats[key] = (float(np.mean(volumes)) if volumes else np.inf,
                      max(extents) if extents else np.inf)
    return stats, total, largest


def smart_grouping(meshes: dict[PartKey, trimesh.Trimesh]) -> dict[PartKey, trimesh.Trimesh]:
    """Merge colliding parts that are planes, small, or mostly overlapping (the script's
    ``smart_grouping``).

    Parameters
    ----------
    meshes : dict
        ``{key: part}``.

    Returns
    -------
    dict
        The parts after merging (merged groups cleaned and appended last).
    """
    pairs = collisions(meshes)
    if not pairs:
        return meshes
    stats, total, largest = _size_stats(meshes)
    share = 0.05 if len(meshes) <= 16 else 0.1
    keys = list(meshes)
    parent = list(range(len(keys)))

    def small(key: PartKey) -> bool:
        volume, extent = stats[key]
        return volume < share * total and extent < share * largest

    for k1, k2 in pairs:
        if (is_single_layer_plane(meshes[k1]) or is_single_layer_plane(meshes[k2])
                or small(k1) or small(k2)
                or box_iou(meshes[k1].bounds, meshes[k2].bounds) > 0.5):
            _union(parent, keys.index(k1), keys.index(k2))
    return _merge_groups(meshes, keys, parent, clean=True)


def _merge_groups(meshes: dict[PartKey, trimesh.Trimesh], keys: list[PartKey],
                  parent: list[int], *, clean: bool) -> dict[PartKey, trimesh.Trimesh]:
    """Replace each group of more than one part by their concatenation (appended last)."""
    groups: dict[int, list[PartKey]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(_find(parent, i), []).append(key)
    out = dict(meshes)
    for group in groups.values():
        if len(group) < 2:
            continue
        merged = trimesh.util.concatenate([meshes[k] for k in group])
        if clean:
            clean_part(merged)
        for key in group:
            del out[key]
        out[tuple(i for key in group for i in key)] = merged
    return out


def collision_graph(meshes: dict[PartKey, trimesh.Trimesh]
                    ) -> tuple[dict[PartKey, set[PartKey]], dict[frozenset, float]]:
    """The adjacency of parts whose dilated surfaces cross, and each edge's depth."""
    pairs = collisions({k: dilated(m) for k, m in meshes.items()})
    graph: dict[PartKey, set[PartKey]] = {k: set() for k in meshes}
    depths = {}
    for (k1, k2), depth in pairs.items():
        graph[k1].add(k2)
        graph[k2].add(k1)
        depths[frozenset((k1, k2))] = depth
    return graph, depths


def simple_cycles(graph: dict[Hashable, set]) -> list[list]:
    """Every cycle of three or more nodes, one per node set (the script's depth-first search:
    from each node in turn, over nodes not yet used as a start)."""
    cycles, seen = [], set()
    done: set = set()

    def walk(node, parent, start, path, on_path):
        path.append(node)
        on_path.add(node)
        for nb in sorted(graph[node]):
            if nb == parent or nb in done:
                continue
            if nb == start and len(path) >= 3:
                key = frozenset(path)
                if key not in seen:
                    seen.add(key)
                    cycles.append(list(path))
            elif nb not in on_path:
                walk(nb, node, start, path, on_path)
        path.pop()
        on_path.discard(node)

    for node in graph:
        walk(node, None, node, [], set())
        done.add(node)
    return cycles


def merge_odd_loops(meshes: dict[PartKey, trimesh.Trimesh], graph: dict[PartKey, set[PartKey]],
                    depths: dict[frozenset, float]
                    ) -> tuple[dict[PartKey, trimesh.Trimesh], dict[PartKey, set[PartKey]]]:
    """Contract, in each cycle of odd length, its deepest edge, until no cycle stays odd (the
    script's ``merge_odd_loops``; where all of a cycle's depths are 0 the script fails, we
    take its first edge).

    Parameters
    ----------
    meshes : dict
        ``{key: part}``.
    graph : dict
        Adjacency (:func:`collision_graph`).
    depths : dict
        Depth per edge.

    Returns
    -------
    tuple
        The parts and the graph after contraction.
    """
    loops = []
    for cycle in simple_cycles(graph):
        loops.append({frozenset((cycle[i], cycle[(i + 1) % len(cycle)]))
                      for i in range(len(cycle))})
    keys = list(meshes)
    parent = list(range(len(keys)))
    while any(len(edges) % 2 for edges in loops):
        for edges in loops:
            if len(edges) % 2 == 0:
                continue
            deepest = max(sorted(edges, key=sorted), key=lambda e: depths.get(e, 0.0))
            for other in loops:
                other.discard(deepest)
            a, b = tuple(deepest)
            _union(parent, keys.index(a), keys.index(b))
    merged = _merge_groups(meshes, keys, parent, clean=False)
    return merged, _contracted(graph, merged)


def _contracted(graph: dict[PartKey, set[PartKey]], meshes: dict[PartKey, trimesh.Trimesh]
                ) -> dict[PartKey, set[PartKey]]:
    """The graph between the merged parts (an edge where any two members were adjacent)."""
    owner = {i: key for key in meshes for i in key}
    out: dict[PartKey, set[PartKey]] = {k: set() for k in meshes}
    for node, neighbours in graph.items():
        for nb in neighbours:
            a, b = owner[node[0]], owner[nb[0]]
            if a != b:
                out[a].add(b)
                out[b].add(a)
    return out


def two_colour(meshes: dict[PartKey, trimesh.Trimesh], graph: dict[PartKey, set[PartKey]]
               ) -> dict[PartKey, int]:
    """Breadth-first 2-colouring from the part whose box centre is nearest the origin; each
    further connected component starts with the other colour than the previous one did.

    Returns
    -------
    dict
        ``{key: 0 or 1}`` in the order the parts were coloured.
    """
    def distance(key: PartKey) -> float:
        v = meshes[key].vertices
        return float(np.linalg.norm((v.min(axis=0) + v.max(axis=0)) / 2.0))

    colour: dict[PartKey, int] = {}
    start = 0
    for root in sorted(meshes, key=distance):
        if root in colour:
            continue
        colour[root], start = start, 1 - start
        queue = [root]
        while queue:
            node = queue.pop(0)
            for nb in sorted(graph[node]):
                if nb not in colour:
                    colour[nb] = 1 - colour[node]
                    queue.append(nb)
    return colour


# ---------------------------------------------------------------------------------------------
# stitching open boundaries


def coplanar_and_convex(points: np.ndarray, threshold: float = 1.0) -> bool:
    """Whether a closed loop (first point repeated last) is loosely coplanar (each fan
    triangle's normal, up to sign, within ``threshold`` of the first's) and convex (its turns,
    beyond 1e-2, all of one sign in the plane)."""
    n = len(points)
    if n < 3:
        return False
    fan = np.cross(points[1:-1] - points[0], points[2:] - points[0])
    normals = fan / (np.linalg.norm(fan, axis=1, keepdims=True) + 1e-12)
    normal = normals[0]
    if len(normals) > 2 and np.any(np.linalg.norm(
            np.abs(normals[1:-1]) - np.abs(normal), axis=1) > threshold):
        return False
    axis1 = (points[1] - points[0]) / (np.linalg.norm(points[1] - points[0]) + 1e-12)
    axis2 = np.cross(normal, axis1)
    axis2 /= np.linalg.norm(axis2) + 1e-12
    flat = np.stack([(points - points[0]) @ axis1, (points - points[0]) @ axis2], axis=1)
    step1 = flat[(np.arange(n - 1) + 1) % n] - flat[:n - 1]
    step2 = flat[(np.arange(n - 1) + 2) % n] - flat[(np.arange(n - 1) + 1) % n]
    turn = step1[:, 0] * step2[:, 1] - step1[:, 1] * step2[:, 0]
    signs = np.sign(turn[np.abs(turn) > 1e-2])
    return bool(len(signs) == 0 or np.all(signs == signs[0]))


def stitch(mesh: trimesh.Trimesh) -> bool:
    """Close open boundary loops that are coplanar and convex with a fan, in place (the
    script's ``stitch_nonwatertight_mesh``).

    Returns
    -------
    bool
        Whether open boundaries are left.
    """
    from trimesh.path.exchange.misc import faces_to_path

    if mesh.is_watertight:
        return False
    if is_single_layer_plane(mesh, 1e-2):
        return True
    entities = faces_to_path(mesh, np.arange(len(mesh.faces)))["entities"]
    loops = [np.asarray(e.points) for e in entities
             if len(e.points) > 3 and e.points[0] == e.points[-1]]
    loops = _drop_touching(mesh.vertices, loops)
    fans, left = [], False
    for loop in loops:
        if not coplanar_and_convex(mesh.vertices[loop]):
            left = True
            continue
        fans.append(_oriented_fan(mesh, loop))
    if fans:
        mesh.faces = np.concatenate([mesh.faces, *fans])
    return left


def _drop_touching(vertices: np.ndarray, loops: list[np.ndarray]) -> list[np.ndarray]:
    """Loops without another loop sharing (within 1e-6) 4 points or half of either's."""
    keep = np.ones(len(loops), bool)
    for i, j in combinations(range(len(loops)), 2):
        a, b = vertices[loops[i]], vertices[loops[j]]
        close = int(np.sum(np.linalg.norm(a[:, None] - b[None], axis=-1) < 1e-6))
        if close >= 4 or close / len(a) >= 0.5 or close / len(b) >= 0.5:
            keep[i] = keep[j] = False
    return [loop for loop, k in zip(loops, keep, strict=True) if k]


def _oriented_fan(mesh: trimesh.Trimesh, loop: np.ndarray) -> np.ndarray:
    """The fan closing ``loop``, flipped when its normal opposes the faces along its first
    edges."""
    fan = np.column_stack([np.full(len(loop) - 3, loop[0]), loop[1:-2], loop[2:-1]])
    edges = np.sort(fan[:10, 1:], axis=1)
    sorted_edges = mesh.edges_sorted
    match = np.flatnonzero((sorted_edges[:, None, :] == edges[None]).all(-1).any(1))
    if len(match) == 0:
        return fan
    original = mesh.face_normals[mesh.edges_face[match]]
    normals, valid = trimesh.triangles.normals(mesh.vertices[fan[:3]])
    if not np.any(valid):
        return fan
    return np.fliplr(fan) if float(np.mean(original @ normals[0])) < 0 else fan


# ---------------------------------------------------------------------------------------------
# the two volumes and their files


def dual_volumes(mesh: trimesh.Trimesh, parts: Parts
                 ) -> tuple[trimesh.Trimesh, trimesh.Trimesh, dict[PartKey, int]]:
    """The script's two packed volumes of a mesh with parts.

    Parameters
    ----------
    mesh : trimesh.Trimesh
        The stored mesh (any frame: it is box-normalized here).
    parts : Parts
        Its per-face part ids.

    Returns
    -------
    tuple
        ``(volume0, volume1, colour)``: each volume's parts concatenated (box longest side
        0.95, centred), and ``{part indices: colour}`` of the final parts (indices into the
        stored parts, or into the grouped components when the asset has one part).
    """
    meshes = asset_parts(mesh, parts)
    box_normalize(meshes)
    meshes = {k: clean_part(m) for k, m in meshes.items()}
    meshes = {k: m for k, m in smart_grouping(meshes).items() if len(m.faces)}
    for part in meshes.values():
        stitch(part)
    graph, depths = collision_graph(meshes)
    if sum(len(v) for v in graph.values()) <= MAX_GRAPH_ENTRIES:
        meshes, graph = merge_odd_loops(meshes, graph, depths)
    colour = two_colour(meshes, graph)
    volumes = [_concatenate([meshes[k] for k, c in colour.items() if c == side])
               for side in (0, 1)]
    return volumes[0], volumes[1], colour


def _concatenate(meshes: list[trimesh.Trimesh]) -> trimesh.Trimesh:
    """The meshes as one (an empty mesh for none)."""
    if not meshes:
        return trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), int), process=False)
    return trimesh.util.concatenate(meshes)


def obj_text(mesh: trimesh.Trimesh) -> str:
    """``mesh`` as trimesh's OBJ exporter writes it (``v`` with 8 decimals, 1-based ``f``), no
    normals, colours or texture; a header-only file for an empty mesh."""
    if len(mesh.faces) == 0:
        return "# https://github.com/mikedh/trimesh\n"
    return trimesh.exchange.obj.export_obj(mesh, include_normals=False, include_color=False,
                                           include_texture=False)


def volume_paths(folder: Path, asset_id: str) -> tuple[Path, Path, Path]:
    """``<id>_color0.obj``, ``<id>_color1.obj`` and ``<id>.obj`` in ``folder``."""
    uid = plain_id(asset_id)
    return (Path(folder) / f"{uid}_color0.obj", Path(folder) / f"{uid}_color1.obj",
            Path(folder) / f"{uid}.obj")


def export_asset(store_folder: Path, out: Path, asset_id: str) -> list[Path]:
    """Write one asset's two volumes from its ``parts.npz``, as the script writes them.

    Parameters
    ----------
    store_folder : Path
        The asset's store folder.
    out : Path
        The layout's output folder.
    asset_id : str
        The asset's id (a plain file name).

    Returns
    -------
    list of Path
        The three OBJ files.

    Raises
    ------
    LayoutSkip
        The asset has no ``parts.npz`` or no faces.
    """
    path = Path(store_folder) / PARTS_FILE
    if not path.is_file():
        raise LayoutSkip(f"no {PARTS_FILE} in the store (run with parts kept)")
    mesh = read_parts_file(path)
    if len(mesh.faces) == 0:
        raise LayoutSkip(f"{PARTS_FILE} holds no faces")
    volume0, volume1, _ = dual_volumes(mesh, mesh.metadata["meshprep_parts"])
    shifted = volume1.copy()
    shifted.vertices = shifted.vertices + np.asarray(COMBINED_OFFSET)
    both = _concatenate([m for m in (volume0, shifted) if len(m.faces)])
    paths = volume_paths(out, asset_id)
    for target, volume in zip(paths, (volume0, volume1, both), strict=True):
        write_text(target, obj_text(volume))
    return list(paths)


def read_obj(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (float32) and triangles (int64, 0-based) of an OBJ's ``v`` and ``f`` lines."""
    vertices, faces = [], []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields and fields[0] == "v":
            vertices.append([float(x) for x in fields[1:4]])
        elif fields and fields[0] == "f":
            faces.append([int(x.split("/")[0]) - 1 for x in fields[1:4]])
    return (np.asarray(vertices, np.float32).reshape(-1, 3),
            np.asarray(faces, np.int64).reshape(-1, 3))


def read(folder: Path, asset_id: str) -> dict[str, np.ndarray]:
    """The two volumes as meshes (``vertices_part0``, ``faces_part0``, ``vertices_part1``,
    ``faces_part1``: the ``_part0`` / ``_part1`` suffixes of the flow trainer's batches) and
    the combined file (``vertices``, ``faces``)."""
    out: dict[str, np.ndarray] = {}
    for suffix, path in zip(("_part0", "_part1", ""), volume_paths(folder, asset_id),
                            strict=True):
        out[f"vertices{suffix}"], out[f"faces{suffix}"] = read_obj(path)
    return out


def _write_unused(samples, watertight, folder: Path, asset_id: str) -> list[Path]:
    raise MeshprepError(f"layout {NAME!r} is written from the store's {PARTS_FILE} "
                        "(export_asset), not from the samples")


NOTES = (
    "PartPacker's training dataset code is not public (nor its VAE's point/SDF sampling): we "
    "write what data/bipartite_contraction.py writes, the meshes its README calls the input of "
    "training; sample surface points and SDF from each volume in the frame of the two files "
    "(the flow trainer encodes both with one VAE and concatenates the latents; the VAE's "
    "inference box-normalizes its input to [-0.95, 0.95], so scale both volumes by one "
    "factor, 2, to keep them aligned). The flow "
    "inference turns generated vertices by TRIMESH_GLB_EXPORT ((x, y, z) -> (y, z, x)), so the "
    "model's frame is Z-up: (x, y, z)_model = (z, x, y)_ours; the unreleased loader's rotation "
    "is not known, we keep the script's frame (trimesh's glTF Y-up). Re-implemented without "
    "FCL/meshiki: collisions are FCL's triangle separating-axis test, a pair's depth its "
    "deepest contact (FCL's last contact in the script); cycles of a "
    "node set are enumerated once in sorted order (the script's set order varies). Instances "
    "of one mesh are separate parts (the script keys parts by geometry and transforms a "
    "shared geometry twice). An asset left with one part has an empty volume 1 (header-only "
    "OBJ; the script exports an empty mesh)."
)

register(Layout(
    name=NAME,
    trainer="PartPacker (dual volume packing; flow use_parts=True)",
    loader=LOADER,
    keys=(
        Key("<id>_color0.obj", "v, f", "(N0, 3), (M0, 3)", "float (8 decimals), int (1-based)",
            "volume 0: its parts concatenated (no two of them collide after the 2/512 "
            "dilation, where the graph was made bipartite)"),
        Key("<id>_color1.obj", "v, f", "(N1, 3), (M1, 3)", "float (8 decimals), int (1-based)",
            "volume 1: the other colour's parts; empty (header only) with one part"),
        Key("<id>.obj", "v, f", "(N0 + N1, 3), (M0 + M1, 3)",
            "float (8 decimals), int (1-based)",
            "both volumes in one file, volume 1 moved by +1 along z (for viewing)"),
    ),
    sign="no labels (surface meshes; parts stitched where their open loops are planar, "
         "convex)",
    coords="trimesh's glTF frame (Y up) as the script loads it: the object centred on its box, "
           "the box's longest side 0.95 (the store's canonical mesh halved at bound 0.95)",
    write=_write_unused,
    read=read,
    notes=NOTES,
    from_asset=export_asset,
    store_needs=("parts",),
))
