"""The hand model behind `ht`: ADBench's bone layout, a synthetic model of that layout, and
ADBench's hand files.

Bone order (22 bones, each parent before its children), as ADBench's pose mapping reads it:

    0 wrist (the root) · 1–4 thumb · 5–8 index · 9–12 middle · 13–16 ring · 17–20 pinky ·
    21 forearm (child of the wrist)

Each finger runs from the palm outwards: the metacarpal (fixed), the proximal phalanx (flexion
and abduction, 2 pose angles), the middle and distal phalanges (flexion, 1 angle each). That is
ADBench's `to_pose_params`: θ[6 + 4f … 9 + 4f] are finger f's angles for its bones 2, 3, 4; the
wrist, forearm and metacarpals get none. Only the order is ADBench's contract (the pose mapping
addresses bones by position); the parents are read from bones.txt.

A module of its own so the problem module stays the math: nothing here is differentiated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from adcompare.datafile import finite_number, read_text
from adcompare.errors import UserError

BONES = 22
FINGERS = 5
POSE_SIZE = 26                 # global rotation (3), translation (3), 5 fingers × [2, 1, 1]
FOREARM = 21
SIMPLE, COMPLICATED = 1, 2     # the `variant` option
PARENTS = (-1, *[p for f in range(FINGERS) for p in (0, 1 + 4 * f, 2 + 4 * f, 3 + 4 * f)], 0)

# Rest-pose geometry of the synthetic hand, in metres: per finger (thumb … pinky) the metacarpal
# base on the wrist (x), its splay about z, and the four bone lengths.
FINGER_BASE_X = (-0.025, -0.018, 0.0, 0.017, 0.032)
FINGER_SPLAY = (0.9, 0.12, 0.0, -0.1, -0.22)
FINGER_LENGTHS = ((0.035, 0.035, 0.03, 0.025), (0.07, 0.042, 0.025, 0.02), (0.068, 0.046, 0.028, 0.021),
                  (0.064, 0.043, 0.027, 0.02), (0.06, 0.034, 0.02, 0.018))
WRIST_LENGTH, FOREARM_LENGTH = 0.02, 0.1
BONE_RADIUS = 0.008
# Skinning: a Gaussian falloff with distance to each bone plus a small share on every bone, so
# that every pose parameter moves every vertex (even a two-point check instance sees all 26).
FALLOFF, WEIGHT_FLOOR = 0.012, 0.02
NOISE = 0.002                  # of the target points around the posed model


# --- the synthetic model ------------------------------------------------------------------------
def rigid(rotation: np.ndarray, translation) -> np.ndarray:
    """[R t; 0 1] as a 4×4 homogeneous transform."""
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = rotation, translation
    return m


def rotation_xz(tx: float, tz: float) -> np.ndarray:
    """Rz(tz)·Rx(tx): ADBench's Euler convention with no y angle."""
    cx, sx, cz, sz = np.cos(tx), np.sin(tx), np.cos(tz), np.sin(tz)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ rx


def bone_lengths() -> np.ndarray:
    lengths = np.empty(BONES)
    lengths[0], lengths[FOREARM] = WRIST_LENGTH, FOREARM_LENGTH
    for f in range(FINGERS):
        lengths[1 + 4 * f: 5 + 4 * f] = FINGER_LENGTHS[f]
    return lengths


def base_relatives(rng: np.random.Generator, lengths: np.ndarray) -> np.ndarray:
    """(22, 4, 4) rest transforms of each bone in its parent's frame. A bone's frame has its
    origin at the joint and +y along the bone; a child starts at its parent's tip. Small random
    rest angles make every instance's hand a little different."""
    rel = np.empty((BONES, 4, 4))
    rel[0] = np.eye(4)
    rel[FOREARM] = rigid(rotation_xz(0.0, np.pi), (0.0, 0.0, 0.0))   # points back, along −y
    for f in range(FINGERS):
        first = 1 + 4 * f
        rel[first] = rigid(rotation_xz(rng.normal(0, 0.05), FINGER_SPLAY[f] + rng.normal(0, 0.03)),
                           (FINGER_BASE_X[f], WRIST_LENGTH, 0.0))
        for b in range(first + 1, first + 4):
            rel[b] = rigid(rotation_xz(rng.normal(0.1, 0.05), rng.normal(0, 0.03)), (0.0, lengths[b - 1], 0.0))
    return rel


def absolutes(rel: np.ndarray, parents) -> np.ndarray:
    out = np.empty_like(rel)
    for b, p in enumerate(parents):
        out[b] = rel[b] if p < 0 else out[p] @ rel[b]
    return out


def rigid_inverse(m: np.ndarray) -> np.ndarray:
    r, t = m[:3, :3], m[:3, 3]
    return rigid(r.T, -r.T @ t)


def skin_points(rng: np.random.Generator, vertices: int, lengths: np.ndarray, rest: np.ndarray):
    """Rest positions (V, 3) on a tube around each bone, with the bone each one belongs to;
    bones take vertices round-robin in a shuffled order, so any V covers as many as it can."""
    order = rng.permutation(BONES)
    home = order[np.arange(vertices) % BONES]
    along = rng.uniform(0.0, 1.0, vertices) * lengths[home]
    angle = rng.uniform(0.0, 2 * np.pi, vertices)
    radius = np.where(home == FOREARM, 3.0, 1.0) * BONE_RADIUS
    local = np.stack([radius * np.cos(angle), along, radius * np.sin(angle), np.ones(vertices)], axis=1)
    world = np.einsum("vij,vj->vi", rest[home], local)
    return world[:, :3], home


def skinning_weights(positions: np.ndarray, lengths: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """(V, 22) weights summing to 1 per vertex: falloff with the distance to each bone's segment."""
    start = rest[:, :3, 3]
    axis = rest[:, :3, 1] * lengths[:, None]
    rel = positions[:, None, :] - start[None]
    t = np.clip(np.sum(rel * axis, axis=-1) / np.sum(axis * axis, axis=-1), 0.0, 1.0)
    distance = np.linalg.norm(rel - t[..., None] * axis, axis=-1)
    raw = np.exp(-((distance / FALLOFF) ** 2)) + WEIGHT_FLOOR
    return raw / raw.sum(axis=1, keepdims=True)


def strip_triangles(home: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(V − 2, 3) triangles: consecutive triples of the vertices ordered along each bone, a strip
    over the whole skin (every triangle has three distinct vertices)."""
    order = np.lexsort((positions[:, 1], home))
    return np.stack([order[:-2], order[1:-1], order[2:]], axis=1)


def target_pose(rng: np.random.Generator) -> np.ndarray:
    """The known pose the targets are observed at: a turned, moved hand with bent fingers."""
    theta = np.empty(POSE_SIZE)
    theta[:3] = rng.normal(0.0, 0.4, 3)
    theta[3:6] = (0.0, 0.0, 0.4) + rng.normal(0.0, 0.02, 3)
    fingers = theta[6:].reshape(FINGERS, 4)
    fingers[:, 0] = rng.uniform(0.0, 0.6, FINGERS)            # proximal flexion
    fingers[:, 1] = rng.normal(0.0, 0.1, FINGERS)             # proximal abduction
    fingers[:, 2:] = rng.uniform(0.0, 0.8, (FINGERS, 2))      # middle, distal flexion
    return theta


def barycentric(rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, 2) uniform points of the triangle u ≥ 0, v ≥ 0, u + v ≤ 1."""
    uv = rng.uniform(0.0, 1.0, (count, 2))
    outside = uv.sum(axis=1) > 1.0
    uv[outside] = 1.0 - uv[outside]
    return uv


def synthetic_model(rng: np.random.Generator, vertices: int) -> dict:
    """A hand of ADBench's layout: bones, inverse rest absolutes consistent with them, skin,
    weights and a triangle strip."""
    lengths = bone_lengths()
    rel = base_relatives(rng, lengths)
    rest = absolutes(rel, PARENTS)
    positions, home = skin_points(rng, vertices, lengths, rest)
    return {
        "parents": PARENTS,
        "base_relatives": rel,
        "inverse_base_absolutes": np.stack([rigid_inverse(m) for m in rest]),
        "base_positions": np.concatenate([positions, np.ones((vertices, 1))], axis=1),
        "weights": skinning_weights(positions, lengths, rest),
        "triangles": strip_triangles(home, positions) if vertices >= 3 else np.zeros((0, 3), dtype=np.int64),
    }


def constants_from(model: dict, correspondences: np.ndarray, points: np.ndarray, variant: int) -> dict:
    """What `f` reads: the model, the targets, and per point the vertex (simple) or the three
    triangle corners (complicated) it corresponds to."""
    consts = {k: model[k] for k in ("parents", "base_relatives", "inverse_base_absolutes",
                                     "base_positions", "weights")}
    consts["variant"] = variant
    consts["points"] = np.asarray(points, dtype=np.float64)
    if variant == SIMPLE:
        consts["correspondences"] = np.asarray(correspondences, dtype=np.int64)
    else:
        consts["corners"] = np.ascontiguousarray(model["triangles"][correspondences].T, dtype=np.int64)
    return consts


# --- ADBench's files ----------------------------------------------------------------------------
def _number(path: Path, line: int, text: str, kind, what: str):
    """An int, or a finite float, read from `text`."""
    if kind is float:
        return finite_number(text, f"ht: {path}:{line}", what)
    try:
        return int(text)
    except ValueError:
        raise UserError(f"ht: {path}:{line}: {what} must be an integer, got {text!r}") from None


def _text(path: Path, what: str) -> str:
    """The text of one of the hand's files; UserError (prefixed "ht:") if it is missing, not a
    file, not UTF-8 or empty."""
    try:
        return read_text(path, what)
    except UserError as err:
        raise UserError(f"ht: {err}") from None


def _lines(path: Path):
    """(line number, stripped text) of the non-empty lines of a model file."""
    if not path.exists():
        raise UserError(f"ht: {path} does not exist (the model folder holds bones.txt, vertices.txt, "
                        "triangles.txt)")
    lines = _text(path, "model file").splitlines()
    return [(i, s.strip()) for i, s in enumerate(lines, start=1) if s.strip()]


def read_bones(path: Path):
    """bones.txt: `name:parent:` 16 base-relative then 16 inverse-base-absolute entries, each
    matrix row by row (ADBench's reader takes the second matrix as the inverse as it stands)."""
    parents, rel, inv = [], [], []
    for line, text in _lines(path):
        fields = text.split(":")
        if len(fields) != 34:
            raise UserError(f"ht: {path}:{line}: expected name:parent: and 32 matrix entries (34 fields), "
                            f"got {len(fields)}")
        parent = _number(path, line, fields[1], int, "the parent")
        if not -1 <= parent < len(parents):
            raise UserError(f"ht: {path}:{line}: bone {len(parents)} has parent {parent}; a parent is -1 "
                            "(root) or an earlier bone")
        values = [_number(path, line, v, float, "a matrix entry") for v in fields[2:]]
        parents.append(parent)
        rel.append(np.reshape(values[:16], (4, 4)))
        inv.append(np.reshape(values[16:], (4, 4)))
    if len(parents) != BONES:
        raise UserError(f"ht: {path} defines {len(parents)} bones; ADBench's hand model has {BONES}")
    return tuple(parents), np.stack(rel), np.stack(inv)


def read_vertices(path: Path):
    """vertices.txt: `x:y:z:` 5 ignored fields `:n:` then n `bone:weight` pairs."""
    positions, weights = [], []
    for line, text in _lines(path):
        fields = text.split(":")
        count = _number(path, line, fields[8], int, "the bone count") if len(fields) > 8 else -1
        if count < 0 or len(fields) != 9 + 2 * count:
            raise UserError(f"ht: {path}:{line}: expected x:y:z, 5 ignored fields, a bone count n and n "
                            f"bone:weight pairs, got {len(fields)} fields")
        positions.append([_number(path, line, v, float, "a coordinate") for v in fields[:3]])
        row = np.zeros(BONES)
        for j in range(count):
            bone = _number(path, line, fields[9 + 2 * j], int, "a bone index")
            if not 0 <= bone < BONES:
                raise UserError(f"ht: {path}:{line}: bone index {bone} is outside 0 … {BONES - 1}")
            row[bone] = _number(path, line, fields[10 + 2 * j], float, "a weight")
        weights.append(row)
    positions = np.asarray(positions)
    return np.concatenate([positions, np.ones((len(positions), 1))], axis=1), np.stack(weights)


def read_triangles(path: Path, vertices: int) -> np.ndarray:
    """triangles.txt: `a:b:c` vertex indices."""
    triangles = []
    for line, text in _lines(path):
        fields = text.split(":")
        if len(fields) != 3:
            raise UserError(f"ht: {path}:{line}: expected three vertex indices a:b:c, got {len(fields)} fields")
        corners = [_number(path, line, v, int, "a vertex index") for v in fields]
        if not all(0 <= v < vertices for v in corners):
            raise UserError(f"ht: {path}:{line}: a vertex index is outside 0 … {vertices - 1}")
        triangles.append(corners)
    return np.asarray(triangles, dtype=np.int64).reshape(-1, 3)


def _guard_points(path: Path, line: int, count: int) -> None:
    """UserError before anything of the header's size is allocated when even the smallest
    instance with `count` points (one vertex, the simple variant) would not fit in memory."""
    from adcompare.problems.registry import get_problem, guard_memory

    problem = get_problem("ht")
    options = {"points": count, "vertices": 1, "variant": SIMPLE}
    n = problem.input_size(**options)
    try:
        guard_memory(problem.name, n, problem.output_size(n, **options), problem.constant_elements(n, **options),
                     problem=problem, options=options)
    except UserError as err:
        raise UserError(f"{path}:{line}: {err}") from None


def read_instance(path: Path):
    """The instance file: `N n_theta`, N lines `correspondence x y z`, then 2N values us (only in
    the complicated variant) and n_theta values θ. Read as whitespace-separated values, as
    ADBench's reader does; the count after the points tells the variants apart."""
    lines = _text(path, "data file").splitlines()
    tokens = [(i, t) for i, s in enumerate(lines, start=1) for t in s.split()]
    if len(tokens) < 2:
        raise UserError(f"ht: {path}:1: expected the point count and the pose size")
    count = _number(path, tokens[0][0], tokens[0][1], int, "the point count")
    n_theta = _number(path, tokens[1][0], tokens[1][1], int, "the pose size")
    if count < 1:
        raise UserError(f"ht: {path}:{tokens[0][0]}: the point count must be at least 1, got {count}")
    if n_theta != POSE_SIZE:
        raise UserError(f"ht: {path}:{tokens[1][0]}: the pose size must be {POSE_SIZE}, got {n_theta}")
    _guard_points(path, tokens[0][0], count)
    body = tokens[2:]
    if len(body) < 4 * count:
        last = tokens[-1][0]
        raise UserError(f"ht: {path}:{last}: the file ends within the {count} correspondence lines")
    rows = [body[4 * i: 4 * i + 4] for i in range(count)]
    correspondences = np.array([_number(path, r[0][0], r[0][1], int, "a correspondence") for r in rows],
                               dtype=np.int64)
    points = np.array([[_number(path, ln, t, float, "a point coordinate") for ln, t in r[1:]] for r in rows])
    rest = body[4 * count:]
    if len(rest) not in (POSE_SIZE, 2 * count + POSE_SIZE):
        line = rest[0][0] if rest else tokens[-1][0]
        raise UserError(f"ht: {path}:{line}: after the {count} points expected {POSE_SIZE} pose values (simple) "
                        f"or {2 * count} us and {POSE_SIZE} pose values (complicated), found {len(rest)} values")
    values = np.array([_number(path, ln, t, float, "a parameter") for ln, t in rest])
    variant = SIMPLE if len(rest) == POSE_SIZE else COMPLICATED
    # x = θ, then us: the instance file keeps them the other way round.
    x = values if variant == SIMPLE else np.concatenate([values[2 * count:], values[:2 * count]])
    lines = [r[0][0] for r in rows]
    return correspondences, points, x, variant, lines


def read_hand(path: Path):
    """(options, constants, x) of an ADBench hand instance; the model is read from the folder
    `model/` beside the instance file (ADBench's data/hand/<set>/model/)."""
    correspondences, points, x, variant, lines = read_instance(path)
    folder = path.parent / "model"
    if not folder.is_dir():
        state = "is a file, not a folder" if folder.exists() else "does not exist"
        raise UserError(f"ht: the model folder {folder} {state} (ADBench keeps bones.txt, vertices.txt "
                        "and triangles.txt in model/ beside the instance files)")
    parents, rel, inv = read_bones(folder / "bones.txt")
    base_positions, weights = read_vertices(folder / "vertices.txt")
    vertices = len(base_positions)
    model = {"parents": parents, "base_relatives": rel, "inverse_base_absolutes": inv,
             "base_positions": base_positions, "weights": weights}
    if variant == SIMPLE:
        limit, what = vertices, "vertex"
    else:
        model["triangles"] = read_triangles(folder / "triangles.txt", vertices)
        limit, what = len(model["triangles"]), "triangle"
    for line, index in zip(lines, correspondences):
        if not 0 <= index < limit:
            raise UserError(f"ht: {path}:{line}: correspondence {index} is not a {what} of the model "
                            f"(0 … {limit - 1})")
    options = {"points": len(points), "vertices": vertices, "variant": variant}
    return options, constants_from(model, correspondences, points, variant), x
