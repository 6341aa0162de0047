"""XSF files as aenet reads and writes them (one structure per file).

Format (aenet subset of XCrySDen's XSF): a comment ``# total energy = E eV`` (or ``# cohesive energy
= E``), then ``CRYSTAL`` / ``PRIMVEC`` (three rows, one lattice vector each) / ``PRIMCOORD`` / ``N 1`` and
N rows ``symbol x y z [fx fy fz]`` (Cartesian Å, eV/Å); or, for a molecule, ``ATOMS`` followed by atom rows.
``SLAB`` and ``POLYMER`` are read as periodic in two and one directions.

The parser is strict: every problem is reported with the file and line, because silently misread
training data is worse than a crash.

Energy kinds: the comment says ``total energy`` or ``cohesive energy``; the kind is kept per frame
(``info["energy_kind"]``). Both kinds fit alike (the per-species reference energies that ldrx fits absorb
the isolated-atom energies), but not a mix of the two: :func:`ldrx.read` and :meth:`Dataset.concatenate`
refuse data sets that mix them (see :meth:`Dataset.check_energy_kinds`).
"""

from __future__ import annotations

import os

import numpy as np
from ase.data import atomic_numbers, chemical_symbols

from .._files import atomic_write
from ..errors import DataError

MAX_COORDINATE = 1e8  # Å: larger coordinates or lattice vectors are refused as misread numbers

_PBC = {"CRYSTAL": (True, True, True), "SLAB": (True, True, False), "POLYMER": (True, False, False),
        "MOLECULE": (False, False, False)}


def _symbol_to_z(tok, path, lineno):
    z = atomic_numbers.get(tok)
    if z is None:
        if tok.isdigit() and 0 < int(tok) < len(chemical_symbols):
            return int(tok)
        t = tok.capitalize()
        z = atomic_numbers.get(t)
        if z is None:
            raise DataError(f"{path}:{lineno}: unknown element '{tok}'")
    return z


def parse_xsf(text: str, path: str = "<string>", energy_required: bool = True) -> dict:
    """Parse the text of one XSF file into a dict with numbers, positions, cell, pbc, energy, forces,
    energy_kind ('total' or 'cohesive')."""
    lines = text.splitlines()
    energy = None
    energy_kind = None
    energy_line = None
    pbc = (False, False, False)
    periodic_kw = None
    periodic_line = None
    cell = None
    cell_line = None
    atoms_start = None
    n_declared = None
    i = 0
    nlines = len(lines)
    while i < nlines:
        raw = lines[i]
        s = raw.strip()
        i += 1
        if not s:
            continue
        if s[0] == "#":
            low = s.lower()
            for kind in ("total energy", "cohesive energy"):
                k = low.find(kind)
                if k >= 0:
                    rest = s[k + len(kind):]
                    if rest.lstrip()[:1] != "=":
                        raise DataError(f"{path}:{i}: expected '# {kind} = E eV', got '{s[:80]}'")
                    tok = rest.lstrip()[1:].split()
                    try:
                        value = float(tok[0])
                    except (IndexError, ValueError):
                        raise DataError(f"{path}:{i}: cannot read the energy in '{s[:80]}'") from None
                    if energy is not None:
                        raise DataError(f"{path}:{i}: a second energy line (the first is line {energy_line})")
                    if not np.isfinite(value):
                        raise DataError(f"{path}:{i}: energy is not finite")
                    energy, energy_line, energy_kind = value, i, kind.split()[0]
            continue
        key = s.split()[0].upper()
        if key in _PBC:
            periodic_kw, periodic_line = key, i
            pbc = _PBC[key]
        elif key == "PRIMVEC":
            if i + 3 > nlines:
                raise DataError(f"{path}:{i}: PRIMVEC needs three rows (file ends)")
            cell_line = i
            try:
                cell = np.array([[float(x) for x in lines[i + k].split()] for k in range(3)])
            except ValueError:
                raise DataError(f"{path}:{i + 1}: PRIMVEC rows must hold three numbers") from None
            if cell.shape != (3, 3):
                raise DataError(f"{path}:{i + 1}: PRIMVEC rows must hold three numbers each")
            if not (np.abs(cell) <= MAX_COORDINATE).all():
                k = int(np.argmax(~(np.abs(cell) <= MAX_COORDINATE).all(axis=1)))
                raise DataError(f"{path}:{i + 1 + k}: PRIMVEC is not finite or beyond {MAX_COORDINATE:g} Å")
            i += 3
        elif key == "CONVVEC":
            i += 3
        elif key == "PRIMCOORD":
            if i >= nlines:
                raise DataError(f"{path}:{i}: PRIMCOORD without the 'N 1' line (file ends)")
            head = lines[i].split()
            try:
                n_declared = int(head[0])
            except (IndexError, ValueError):
                raise DataError(f"{path}:{i + 1}: expected 'N 1' after PRIMCOORD, got '{lines[i].strip()}'") from None
            if n_declared <= 0:
                raise DataError(f"{path}:{i + 1}: PRIMCOORD declares {n_declared} atoms")
            atoms_start = i + 1
            break
        elif key == "ATOMS":
            atoms_start = i
            break
        elif key in ("ANIMSTEPS",):
            raise DataError(f"{path}:{i}: animated XSF files are not supported (one structure per file)")
        else:
            raise DataError(f"{path}:{i}: unexpected line '{s[:60]}'")
    if atoms_start is None:
        raise DataError(f"{path}:{nlines}: the file ends without a PRIMCOORD or ATOMS block (no PRIMCOORD)")
    if periodic_kw is not None and periodic_kw != "MOLECULE" and cell is None:
        raise DataError(f"{path}:{periodic_line}: {periodic_kw} structure without PRIMVEC")
    if cell is not None and periodic_kw not in (None, "MOLECULE"):
        periodic = [k for k in range(3) if _PBC[periodic_kw][k]]
        rows = cell[periodic]
        gram = rows @ rows.T
        scale = np.prod(np.diag(gram))
        if not (np.linalg.det(gram) > 1e-12 * scale) or not np.isfinite(np.linalg.det(gram)):
            raise DataError(f"{path}:{cell_line}: the periodic PRIMVEC rows are zero or linearly dependent")
    if n_declared is None:  # ATOMS block: rows until a blank line or the end
        end = atoms_start
        while end < nlines and lines[end].strip():
            end += 1
        rows = lines[atoms_start:end]
        pbc = (False, False, False)
        cell = np.zeros((3, 3))
    else:
        rows = lines[atoms_start:atoms_start + n_declared]
        if len(rows) < n_declared:
            raise DataError(f"{path}:{nlines}: PRIMCOORD declares {n_declared} atoms but the file has {len(rows)} "
                            f"atom rows (file ends)")
        for k, r in enumerate(rows):
            if not r.strip():
                raise DataError(f"{path}:{atoms_start + k + 1}: PRIMCOORD declares {n_declared} atoms but "
                                f"the atom rows end after {k}")
        for k in range(atoms_start + n_declared, nlines):
            t = lines[k].strip()
            if t and t[0] != "#":
                raise DataError(f"{path}:{k + 1}: more atom rows than the {n_declared} declared by PRIMCOORD")
    n = len(rows)
    if n == 0:
        raise DataError(f"{path}:{atoms_start}: no atom rows after ATOMS")
    numbers = np.empty(n, dtype=np.int32)
    data = np.empty((n, 6))
    width = None
    for k, r in enumerate(rows):
        tok = r.split()
        if width is None:
            width = len(tok)
            if width not in (4, 7):
                raise DataError(f"{path}:{atoms_start + k + 1}: an atom row needs 4 fields (symbol x y z) "
                                f"or 7 (with forces), found {width}")
        elif len(tok) != width:
            raise DataError(f"{path}:{atoms_start + k + 1}: atom row has {len(tok)} fields, the first had {width}")
        numbers[k] = _symbol_to_z(tok[0], path, atoms_start + k + 1)
        try:
            data[k, :width - 1] = [float(x) for x in tok[1:]]
        except ValueError:
            raise DataError(f"{path}:{atoms_start + k + 1}: non-numeric field in '{r.strip()}'") from None
    positions = data[:, :3].copy()
    forces = data[:, 3:6].copy() if width == 7 else np.full((n, 3), np.nan)
    if not np.isfinite(positions).all():
        k = int(np.argmax(~np.isfinite(positions).all(axis=1)))
        raise DataError(f"{path}:{atoms_start + k + 1}: atom {k} has a non-finite coordinate")
    if not (np.abs(positions) <= MAX_COORDINATE).all():
        k = int(np.argmax(~(np.abs(positions) <= MAX_COORDINATE).all(axis=1)))
        raise DataError(f"{path}:{atoms_start + k + 1}: atom {k} has a coordinate beyond {MAX_COORDINATE:g} Å")
    if width == 7 and not np.isfinite(forces).all():
        k = int(np.argmax(~np.isfinite(forces).all(axis=1)))
        raise DataError(f"{path}:{atoms_start + k + 1}: atom {k} has a non-finite force")
    if energy is None and energy_required:
        raise DataError(f"{path}:1: no energy line ('# total energy = ... eV')")
    return dict(numbers=numbers, positions=positions, cell=cell, pbc=np.array(pbc), forces=forces,
                energy=np.nan if energy is None else energy, energy_kind=energy_kind)


def read_xsf(path, energy_required: bool = True) -> dict:
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        text = f.read()
    return parse_xsf(text, os.fspath(path), energy_required)


def write_xsf(path, numbers, positions, cell=None, pbc=(True, True, True), energy=None, forces=None,
              energy_kind="total"):
    """Write one structure as aenet reads it (force columns always written: aenet's generate.x rejects
    files without them; unknown forces are written as 0)."""
    positions = np.asarray(positions, float)
    n = len(positions)
    forces = np.zeros((n, 3)) if forces is None else np.nan_to_num(np.asarray(forces, float))
    out = []
    if energy is not None and np.isfinite(energy):
        out.append(f"# {energy_kind} energy = {energy:.10f} eV\n\n")
    if any(pbc):
        out.append("CRYSTAL\nPRIMVEC\n")
        for v in np.asarray(cell, float):
            out.append(f" {v[0]:.12f} {v[1]:.12f} {v[2]:.12f}\n")
        out.append(f"PRIMCOORD\n{n} 1\n")
    else:
        out.append("ATOMS\n")
    for z, r, fo in zip(numbers, positions, forces):
        out.append(f"{chemical_symbols[int(z)]:<3s} {r[0]:16.10f} {r[1]:16.10f} {r[2]:16.10f} "
                   f"{fo[0]:14.8f} {fo[1]:14.8f} {fo[2]:14.8f}\n")
    text = "".join(out).encode()
    atomic_write(path, lambda f: f.write(text))
