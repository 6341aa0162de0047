"""MLIP file formats: ``.mtp`` potentials (MLIP-2/3, also read by LAMMPS pair_style mlip and motep) and
``.cfg`` configurations.

``.mtp``: text, one ``key = value`` per line; the radial basis block (``radial_basis_type``, then
``min_dist``, ``max_dist``, ``radial_basis_size``, ``radial_funcs_count`` - or MLIP-3/motep's ``min``,
``max``, ``size``), the ``radial_coeffs`` block (S^2 blocks ``i-j`` of radial_funcs_count brace lists of
radial_basis_size numbers), then the basis (``alpha_index_basic``, ``alpha_index_times``,
``alpha_moment_mapping``) and the linear coefficients. Untrained templates leave out scaling, the
radial coefficients and the linear coefficients. Written in MLIP-2's layout (``min_dist`` ...).

``.cfg``: blocks ``BEGIN_CFG`` .. ``END_CFG`` with ``Size``, ``Supercell`` (optional), ``AtomData:``
(``id type cartes_x cartes_y cartes_z [fx fy fz]``, or ``direct_x ..``), ``Energy``, ``PlusStress:``
(the virial, eV, = -stress * volume) and ``Feature`` lines. ``type`` indexes the potential's species.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np

from ..errors import DataError, ModelFileError

__all__ = ["read_mtp", "write_mtp", "read_cfg", "write_cfg"]

_INT_KEYS = {"species_count", "radial_basis_size", "radial_funcs_count", "alpha_moments_count",
             "alpha_index_basic_count", "alpha_index_times_count", "alpha_scalar_moments", "size"}
_FLOAT_KEYS = {"scaling", "min_dist", "max_dist", "min", "max", "min_val", "max_val"}
_ALIASES = {"min": "min_dist", "min_val": "min_dist", "max": "max_dist", "max_val": "max_dist",
            "size": "radial_basis_size", "basis_size": "radial_basis_size"}


def _brace_numbers(text, cast, where):
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise ModelFileError(f"{where}: expected a list in braces, got {text.strip()[:60]!r}")
    body = body[1:-1].strip()
    if not body:
        return []
    try:
        return [cast(v) for v in body.split(",")]
    except ValueError as exc:
        raise ModelFileError(f"{where}: {exc}") from None


def _brace_rows(text, where, width):
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise ModelFileError(f"{where}: expected a list of lists in braces")
    rows = re.findall(r"\{([^{}]*)\}", body[1:-1])
    out = []
    for r in rows:
        try:
            vals = [int(v) for v in r.split(",")]
        except ValueError as exc:
            raise ModelFileError(f"{where}: {exc}") from None
        if len(vals) != width:
            raise ModelFileError(f"{where}: entry {{{r}}} should have {width} numbers")
        out.append(vals)
    return out


def read_mtp(path) -> dict:
    """Parse an MLIP ``.mtp`` file into a dict (keys as in the file; radial_coeffs [S, S, n_mu, n_q],
    species_coeffs, moment_coeffs as arrays or None for an untrained template). Checks the counts
    against each other and names the file and line of any problem."""
    path = str(path)
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: cannot read ({exc})") from exc
    if not lines or lines[0].strip() != "MTP":
        raise ModelFileError(f"{path}, line 1: not an MLIP .mtp file (first line must be 'MTP')")
    d: dict = {"scaling": 1.0, "radial_coeffs": None, "species_coeffs": None, "moment_coeffs": None}
    where = {}
    k = 1
    while k < len(lines):
        line = lines[k]
        at = f"{path}, line {k + 1}"
        s = line.strip()
        k += 1
        if not s:
            continue
        if s == "radial_coeffs":
            for key in ("species_count", "radial_funcs_count", "radial_basis_size"):
                if key not in d:
                    raise ModelFileError(f"{at}: radial_coeffs before {key}")
            S, nmu, nq = d["species_count"], d["radial_funcs_count"], d["radial_basis_size"]
            rc = np.zeros((S, S, nmu, nq))
            for i, j in itertools.product(range(S), repeat=2):
                if k >= len(lines):
                    raise ModelFileError(f"{path}, line {k}: file ends inside radial_coeffs (expected block {i}-{j})")
                if lines[k].strip() != f"{i}-{j}":
                    raise ModelFileError(f"{path}, line {k + 1}: expected radial_coeffs block '{i}-{j}', got "
                                         f"{lines[k].strip()[:40]!r}")
                k += 1
                for m in range(nmu):
                    if k >= len(lines):
                        raise ModelFileError(f"{path}, line {k}: file ends inside radial_coeffs block {i}-{j}")
                    vals = _brace_numbers(lines[k], float, f"{path}, line {k + 1}")
                    if len(vals) != nq:
                        raise ModelFileError(f"{path}, line {k + 1}: radial_coeffs block {i}-{j} has {len(vals)} "
                                             f"numbers, radial_basis_size is {nq}")
                    rc[i, j, m] = vals
                    k += 1
            d["radial_coeffs"] = rc
            continue
        if "=" not in s:
            raise ModelFileError(f"{at}: expected 'key = value', got {s[:60]!r}")
        key, value = (t.strip() for t in s.split("=", 1))
        key = _ALIASES.get(key, key)
        where[key] = at
        try:
            if key in _INT_KEYS or key == "radial_basis_size":
                d[key] = int(value)
            elif key in _FLOAT_KEYS or key in ("min_dist", "max_dist"):
                d[key] = float(value)
            elif key == "alpha_index_basic":
                d[key] = _brace_rows(value, at, 4)
            elif key == "alpha_index_times":
                d[key] = _brace_rows(value, at, 4)
            elif key == "alpha_moment_mapping":
                d[key] = _brace_numbers(value, int, at)
            elif key in ("species_coeffs", "moment_coeffs"):
                d[key] = np.array(_brace_numbers(value, float, at))
            else:
                d[key] = value
        except ValueError as exc:
            if isinstance(exc, ModelFileError):
                raise
            raise ModelFileError(f"{at}: bad value for {key}: {value[:60]!r}") from None
    _check_mtp(d, path, where)
    return d


def _check_mtp(d, path, where):
    need = ["species_count", "min_dist", "max_dist", "radial_basis_size", "radial_funcs_count", "alpha_moments_count",
            "alpha_index_basic", "alpha_index_times", "alpha_scalar_moments", "alpha_moment_mapping"]
    for key in need:
        if key not in d:
            raise ModelFileError(f"{path}: missing '{key}'")
    if d.get("radial_basis_type", "RBChebyshev") != "RBChebyshev":
        raise ModelFileError(f"{where['radial_basis_type']}: only RBChebyshev radial bases are supported")

    def count(key, n, what):
        if key in d and d[key] != n:
            raise ModelFileError(f"{where[key]}: {key} = {d[key]}, but {what} has {n} entries")

    count("alpha_index_basic_count", len(d["alpha_index_basic"]), "alpha_index_basic")
    count("alpha_index_times_count", len(d["alpha_index_times"]), "alpha_index_times")
    if len(d["alpha_moment_mapping"]) != d["alpha_scalar_moments"]:
        raise ModelFileError(f"{where['alpha_moment_mapping']}: alpha_moment_mapping has "
                             f"{len(d['alpha_moment_mapping'])} entries, alpha_scalar_moments is {d['alpha_scalar_moments']}")
    nmu = d["radial_funcs_count"]
    used = max((b[0] for b in d["alpha_index_basic"]), default=-1) + 1
    if used > nmu:
        raise ModelFileError(f"{where['alpha_index_basic']}: uses radial function {used - 1}, but radial_funcs_count "
                             f"is {nmu}")
    if d["radial_basis_size"] < 2:
        raise ModelFileError(f"{where['radial_basis_size']}: radial_basis_size must be at least 2")
    n_nodes = d["alpha_moments_count"]
    nb = len(d["alpha_index_basic"])
    for t in d["alpha_index_times"]:
        if not (0 <= t[0] < t[3] and 0 <= t[1] < t[3] and nb <= t[3] < n_nodes):
            raise ModelFileError(f"{where['alpha_index_times']}: entry {t} refers to nodes out of range "
                                 f"(alpha_moments_count {n_nodes})")
    for m in d["alpha_moment_mapping"]:
        if not 0 <= m < n_nodes:
            raise ModelFileError(f"{where['alpha_moment_mapping']}: node {m} out of range (alpha_moments_count {n_nodes})")
    S = d["species_count"]
    if d["species_coeffs"] is not None and len(d["species_coeffs"]) != S:
        raise ModelFileError(f"{where['species_coeffs']}: {len(d['species_coeffs'])} species_coeffs for species_count {S}")
    if d["moment_coeffs"] is not None and len(d["moment_coeffs"]) != d["alpha_scalar_moments"]:
        raise ModelFileError(f"{where['moment_coeffs']}: {len(d['moment_coeffs'])} moment_coeffs for "
                             f"alpha_scalar_moments {d['alpha_scalar_moments']}")
    if not d["max_dist"] > d["min_dist"] >= 0:
        raise ModelFileError(f"{where['max_dist']}: need 0 <= min_dist < max_dist")


def _fmt(x):
    return f"{x:.16e}"  # 17 significant digits: floats survive the round trip exactly


def _fmt_list(v):
    return "{" + ", ".join(_fmt(x) for x in v) + "}"


def _fmt_rows(rows):
    return "{" + ", ".join("{" + ", ".join(str(int(x)) for x in r) + "}" for r in rows) + "}"


def write_mtp(path, d: dict):
    """Write a dict as read_mtp returns it (MLIP-2 layout). Untrained parts (None) are left out."""
    S = d["species_count"]
    out = ["MTP", f"version = {d.get('version', '1.1.0')}", f"potential_name = {d.get('potential_name', 'MTP1m')}"]
    if d.get("radial_coeffs") is not None:
        out.append(f"scaling = {_fmt(d.get('scaling', 1.0))}")
    out += [f"species_count = {S}", f"potential_tag = {d.get('potential_tag', '')}",
            "radial_basis_type = RBChebyshev", f"\tmin_dist = {_fmt(d['min_dist'])}",
            f"\tmax_dist = {_fmt(d['max_dist'])}", f"\tradial_basis_size = {d['radial_basis_size']}",
            f"\tradial_funcs_count = {d['radial_funcs_count']}"]
    if d.get("radial_coeffs") is not None:
        rc = np.asarray(d["radial_coeffs"])
        out.append("\tradial_coeffs")
        for i, j in itertools.product(range(S), repeat=2):
            out.append(f"\t\t{i}-{j}")
            out += [f"\t\t\t{_fmt_list(rc[i, j, m])}" for m in range(d["radial_funcs_count"])]
    out += [f"alpha_moments_count = {d['alpha_moments_count']}",
            f"alpha_index_basic_count = {len(d['alpha_index_basic'])}",
            f"alpha_index_basic = {_fmt_rows(d['alpha_index_basic'])}",
            f"alpha_index_times_count = {len(d['alpha_index_times'])}",
            f"alpha_index_times = {_fmt_rows(d['alpha_index_times'])}",
            f"alpha_scalar_moments = {len(d['alpha_moment_mapping'])}",
            "alpha_moment_mapping = {" + ", ".join(str(int(m)) for m in d["alpha_moment_mapping"]) + "}"]
    if d.get("species_coeffs") is not None:
        out.append(f"species_coeffs = {_fmt_list(d['species_coeffs'])}")
    if d.get("moment_coeffs") is not None:
        out.append(f"moment_coeffs = {_fmt_list(d['moment_coeffs'])}")
    from ..data import atomic_write
    text = "\n".join(out) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


# ---------------------------------------------------------------------------------------------- .cfg

def read_cfg(path, species):
    """Frames of an MLIP ``.cfg`` file as a Dataset; `species` (symbols or atomic numbers) maps the
    ``type`` column (0-based) to elements. Energies, forces and PlusStress (virial, converted to ASE stress)
    are read where present; a missing field that the block announces (e.g. AtomData rows) is an error naming
    the file and line."""
    from ..data import Dataset
    from ..elements import species_numbers
    zs = species_numbers(species)
    path = str(path)
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    frames = []
    k = 0

    def fail(line_no, msg):
        raise DataError(f"{path}, line {line_no}: {msg}")

    while k < len(lines):
        if lines[k].strip() != "BEGIN_CFG":
            if lines[k].strip():
                fail(k + 1, f"expected BEGIN_CFG, got {lines[k].strip()[:40]!r}")
            k += 1
            continue
        start = k + 1
        k += 1
        fr = {"n": None, "cell": None, "atoms": None, "energy": np.nan, "virial": None, "features": {}}
        while True:
            if k >= len(lines):
                fail(start, "BEGIN_CFG without END_CFG")
            s = lines[k].strip()
            k += 1
            if s == "END_CFG":
                break
            if not s:
                continue
            head = s.split()[0].rstrip(":")
            if head == "Size":
                try:
                    fr["n"] = int(lines[k].split()[0])
                except (IndexError, ValueError):
                    fail(k + 1, "Size must be followed by the number of atoms")
                k += 1
            elif head == "Supercell":
                rows = []
                while k < len(lines) and len(rows) < 3:
                    parts = lines[k].split()
                    try:
                        row = [float(x) for x in parts]
                    except ValueError:
                        break
                    if len(row) != 3:
                        break
                    rows.append(row)
                    k += 1
                if not rows:
                    fail(k + 1, "Supercell without lattice rows")
                fr["cell"] = np.array(rows)
            elif head == "AtomData":
                cols = s.split(":", 1)[1].split()
                if fr["n"] is None:
                    fail(k, "AtomData before Size")
                for c in ("type",):
                    if c not in cols:
                        fail(k, f"AtomData lacks the '{c}' column")
                cart = all(c in cols for c in ("cartes_x", "cartes_y", "cartes_z"))
                direct = all(c in cols for c in ("direct_x", "direct_y", "direct_z"))
                if not cart and not direct:
                    fail(k, "AtomData needs cartes_x cartes_y cartes_z or direct_x direct_y direct_z")
                rows = []
                for a in range(fr["n"]):
                    if k >= len(lines):
                        fail(k, f"file ends after {a} of {fr['n']} AtomData rows")
                    parts = lines[k].split()
                    if len(parts) != len(cols):
                        fail(k + 1, f"AtomData row has {len(parts)} values, the header names {len(cols)}")
                    try:
                        rows.append([float(x) for x in parts])
                    except ValueError:
                        fail(k + 1, "non-numeric AtomData value")
                    k += 1
                fr["atoms"] = (cols, np.array(rows).reshape(fr["n"], len(cols)), cart, k)
            elif head == "Energy":
                try:
                    fr["energy"] = float(lines[k].split()[0])
                except (IndexError, ValueError):
                    fail(k + 1, "Energy must be followed by a number")
                k += 1
            elif head in ("PlusStress", "Stress"):
                try:
                    fr["virial"] = np.array([float(x) for x in lines[k].split()])
                except ValueError:
                    fail(k + 1, f"{head} values must be numbers")
                if len(fr["virial"]) != 6:
                    fail(k + 1, f"{head} needs 6 values (xx yy zz yz xz xy)")
                k += 1
            elif head == "Feature":
                parts = s.split(None, 2)
                if len(parts) >= 2:
                    fr["features"][parts[1]] = parts[2] if len(parts) > 2 else ""
            else:
                fail(k, f"unknown field {head!r}")
        if fr["n"] is None:
            fail(start, "configuration without Size")
        if fr["atoms"] is None:
            fail(start, "configuration without AtomData")
        cols, tab, cart, end = fr["atoms"]
        types = tab[:, cols.index("type")].astype(int)
        if types.min() < 0 or types.max() >= len(zs):
            fail(end, f"atom type {int(types.max())} but only {len(zs)} species given")
        xyz = ["cartes_x", "cartes_y", "cartes_z"] if cart else ["direct_x", "direct_y", "direct_z"]
        pos = tab[:, [cols.index(c) for c in xyz]]
        cell = fr["cell"]
        if cell is not None and cell.shape != (3, 3):
            fail(start, "only 3-D periodic Supercells are supported")
        if not cart:
            if cell is None:
                fail(start, "direct coordinates without a Supercell")
            pos = pos @ cell
        fcols = ["fx", "fy", "fz"]
        forces = tab[:, [cols.index(c) for c in fcols]] if all(c in cols for c in fcols) else np.full((fr["n"], 3), np.nan)
        frames.append(dict(numbers=np.array([zs[t] for t in types], np.int32), positions=pos, forces=forces,
                           cell=cell if cell is not None else np.zeros((3, 3)), pbc=[cell is not None] * 3,
                           energy=fr["energy"], virial=fr["virial"], features=fr["features"], line=start))
    if not frames:
        raise DataError(f"{path}: no BEGIN_CFG block")
    offsets = np.concatenate([[0], np.cumsum([len(f["numbers"]) for f in frames])])
    cells = np.array([f["cell"] for f in frames])
    stress = None
    if any(f["virial"] is not None for f in frames):
        vol = np.abs(np.linalg.det(cells))
        stress = np.full((len(frames), 6), np.nan)
        for i, f in enumerate(frames):
            if f["virial"] is not None and vol[i] > 0:
                stress[i] = -f["virial"] / vol[i]
    return Dataset(np.concatenate([f["numbers"] for f in frames]), np.concatenate([f["positions"] for f in frames]),
                   cells, np.array([f["pbc"] for f in frames]), offsets, np.array([f["energy"] for f in frames]),
                   np.concatenate([f["forces"] for f in frames]), stress,
                   [f"{path}:{f['line']}" for f in frames], [{"features": f["features"]} for f in frames])


def write_cfg(path, data, species):
    """Write a Dataset (or Atoms / list of Atoms) as an MLIP ``.cfg``; `species` gives the type order."""
    from ..elements import species_numbers
    from ..models.base import as_dataset
    from ..data import atomic_write
    data = as_dataset(data)
    zs = species_numbers(species)
    index = {z: t for t, z in enumerate(zs)}
    out = []
    for f in range(len(data)):
        a0, a1 = data.offsets[f], data.offsets[f + 1]
        nums = data.numbers[a0:a1]
        missing = sorted(set(int(z) for z in nums) - set(index))
        if missing:
            raise DataError(f"{data.ids[f]} (frame {f}): atomic numbers {missing} are not among the species {zs}")
        out += ["BEGIN_CFG", " Size", f"    {a1 - a0}"]
        if data.pbc[f].all():
            out.append(" Supercell")
            out += ["    " + " ".join(f"{x:16.10f}" for x in row) for row in data.cells[f]]
        F = data.forces[a0:a1]
        has_f = np.isfinite(F).all()
        out.append(" AtomData:  id type       cartes_x      cartes_y      cartes_z" +
                   ("           fx          fy          fz" if has_f else ""))
        for i in range(a1 - a0):
            r = data.positions[a0 + i]
            row = f"    {i + 1:6d} {index[int(nums[i])]:4d} {r[0]:16.10f} {r[1]:16.10f} {r[2]:16.10f}"
            if has_f:
                row += f" {F[i, 0]:14.8f} {F[i, 1]:14.8f} {F[i, 2]:14.8f}"
            out.append(row)
        if np.isfinite(data.energy[f]):
            out += [" Energy", f"    {data.energy[f]:.12f}"]
        if data.stress is not None and np.isfinite(data.stress[f]).all() and data.pbc[f].all():
            vir = -data.stress[f] * abs(np.linalg.det(data.cells[f]))
            out += [" PlusStress:  xx          yy          zz          yz          xz          xy",
                    "    " + " ".join(f"{v:14.8f}" for v in vir)]
        out.append("END_CFG")
        out.append("")
    text = "\n".join(out)
    atomic_write(path, lambda fh: fh.write(text.encode()))
