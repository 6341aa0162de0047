"""Average Li-intercalation voltages from any fitted ldrx model (the LDR benchmark's eq. 1).

For the reaction TMO2 + Li -> LiTMO2 (one electron per Li), the average voltage against Li metal is

    V = -(E[LiTMO2] - E[TMO2] - E[Li]) / F                                  (per formula unit)

with energies per formula unit and E[Li] the energy per atom of Li metal (the LDR paper used the DFT
energy of bcc Li; here the user gives it). With energies in eV and one electron per Li, dividing by F
turns eV per Li into volts: V (volt) = -(dE in eV) / (1 e). For x Li removed from a cell,
V = -(E[lithiated] - E[delithiated] - x E[Li]) / x.

Structures
----------
:func:`layered` builds the alpha-NaFeO2-type (O3, R-3m) LiTMO2 and its delithiated TMO2 for
TM = Ti V Cr Mn Fe Co Ni Cu with pymatgen, in the hexagonal setting: Li 3a (0, 0, 0), TM 3b (0, 0, 1/2),
O 6c (0, 0, z). The geometry comes from one measured structure and one table of radii, the same recipe
for every TM (most of these LiTMO2 have no measured R-3m structure: LiMnO2 is monoclinic or orthorhombic,
LiTiO2 and LiFeO2 are disordered rocksalts, LiCuO2 is monoclinic):

* LiCoO2 (Orman and Wiseman, Acta Cryst. C 40, 12 (1984)): a = 2.8156 Å, c = 14.0542 Å, z(O) = 0.2396.
* Shannon's effective ionic radii (Acta Cryst. A 32, 751 (1976)), octahedral: O2- 1.40 Å, TM3+
  Ti 0.670, V 0.640, Cr 0.615, Mn 0.645 (high spin), Fe 0.645 (high spin), Co 0.545 (low spin),
  Ni 0.560 (low spin), Cu 0.540 (low spin; Cu3+ is tabulated low spin only).

From LiCoO2 we take the Li-O slab thickness h_Li = (1/3 - z) c and the TMO2 slab's shape; for another TM
the TMO2 slab (in-plane a and half-thickness h_TM = (z - 1/6) c) is scaled by the ratio of TM-O bond
lengths (r_TM + r_O) / (r_Co + r_O), and c = 6 (h_Li + h_TM), z = 1/3 - h_Li / c. For LiCrO2 this gives
a = 2.917 Å against about 2.90 Å measured; for LiNiO2 2.838 Å against about 2.88 Å. The delithiated TMO2
keeps the lithiated cell with the Li sites emptied (topotactic delithiation; still R-3m). Static
voltages therefore carry the error of this geometry; with ``relax=True`` positions and cell of both are
relaxed with the model (ASE FrechetCellFilter + BFGS). Pass a, c, z (e.g. from the Materials Project or
your own DFT relaxation) to use other geometries.

:func:`disordered_rocksalt` draws random cation occupations of a rocksalt supercell for a composition such
as "Li1.2Mn0.4Ti0.4O2" with pymatgen's random-ordering routine
(``pymatgen.transformations.standard_transformations.get_randomly_manipulated_structures``, seeded),
and removes Li from each sample for its delithiated counterpart.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, field

import numpy as np

TMS = ("Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu")
SHANNON_TM3 = {"Ti": 0.670, "V": 0.640, "Cr": 0.615, "Mn": 0.645, "Fe": 0.645, "Co": 0.545, "Ni": 0.560,
               "Cu": 0.540}   # Å, octahedral TM3+ (Shannon 1976)
R_O = 1.40                    # Å, O2-, octahedral (Shannon 1976)
LICOO2 = {"a": 2.8156, "c": 14.0542, "z": 0.2396}   # Orman and Wiseman 1984


def layered_parameters(tm: str) -> dict:
    """(a, c, z) of layered R-3m LiTMO2 from LiCoO2 and Shannon radii (see the module docstring)."""
    if tm not in SHANNON_TM3:
        raise ValueError(f"unknown transition metal {tm!r}; choose from {list(TMS)}")
    a0, c0, z0 = LICOO2["a"], LICOO2["c"], LICOO2["z"]
    h_li = (1 / 3 - z0) * c0
    h_tm0 = (z0 - 1 / 6) * c0
    s = (SHANNON_TM3[tm] + R_O) / (SHANNON_TM3["Co"] + R_O)
    a, h_tm = a0 * s, h_tm0 * s
    c = 6 * (h_li + h_tm)
    return {"a": a, "c": c, "z": 1 / 3 - h_li / c}


def layered(tm: str, a: float | None = None, c: float | None = None, z: float | None = None):
    """(LiTMO2, TMO2) as ASE Atoms, alpha-NaFeO2 type (R-3m), hexagonal cell of 3 formula units.
    a, c (Å) and z (oxygen 6c) default to :func:`layered_parameters`."""
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.ase import AseAtomsAdaptor
    p = layered_parameters(tm)
    a = p["a"] if a is None else float(a)
    c = p["c"] if c is None else float(c)
    z = p["z"] if z is None else float(z)
    s = Structure.from_spacegroup("R-3m", Lattice.hexagonal(a, c), ["Li", tm, "O"],
                                  [[0, 0, 0], [0, 0, 0.5], [0, 0, z]])
    delith = s.copy()
    delith.remove_species(["Li"])
    return AseAtomsAdaptor.get_atoms(s), AseAtomsAdaptor.get_atoms(delith)


def _fit_supercell(fractions, min_cations=20, max_cations=96):
    """Smallest diagonal supercell (of the cubic rocksalt cell, or else of its primitive fcc cell) whose
    cation sites take the cation fractions exactly: ("conventional" | "primitive", (n1, n2, n3))."""
    best = None
    for kind, per, sides in (("conventional", 4, range(1, 5)), ("primitive", 1, range(1, 7))):
        for n1 in sides:
            for n2 in sides:
                for n3 in sides:
                    if not n1 >= n2 >= n3:
                        continue
                    n = per * n1 * n2 * n3
                    if not min_cations <= n <= max_cations:
                        continue
                    if all(abs(x * n - round(x * n)) < 1e-6 for x in fractions):
                        key = (kind != "conventional", n1 / n3 > 2, n)  # near-cubic, then small
                        if best is None or key < best[0]:
                            best = (key, kind, (n1, n2, n3))
    return None if best is None else (best[1], best[2])


def disordered_rocksalt(composition: str, n_samples: int = 5, supercell=None, a: float = 4.15,
                        seed: int = 0, li_removed: float = 1.0):
    """[(lithiated, delithiated, n_Li_removed)] for `n_samples` random cation occupations of a rocksalt
    supercell with the cation ratio of `composition` (per two O, e.g. "Li1.2Mn0.4Ti0.4O2"; lattice
    parameter `a` Å of the cubic cell). `supercell` (n1, n2, n3) multiplies the cubic cell; None picks the
    smallest cell (20 to 96 cations) that takes the composition exactly, cubic-cell supercells first, else
    supercells of the primitive fcc cell. Each delithiated cell lacks a random `li_removed` fraction of
    its Li (all by default). The same seed gives the same cells."""
    from pymatgen.core import Composition, Lattice, Structure
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.transformations.standard_transformations import get_randomly_manipulated_structures
    comp = Composition(composition)
    anions = {el.symbol: x for el, x in comp.items() if el.symbol == "O"}
    if not anions:
        raise ValueError(f"composition {composition!r} has no O")
    cations = {el.symbol: x for el, x in comp.items() if el.symbol != "O"}
    if "Li" not in cations:
        raise ValueError(f"composition {composition!r} has no Li to remove")
    scale = 1.0 / anions["O"]
    total = sum(cations.values()) * scale  # cations per O
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"composition {composition!r} is not a rocksalt (cations per O = {total:.3f}, need 1)")
    fcc = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]  # rocksalt (Fm-3m): cations fcc, anions + (1/2, 0, 0)
    base = Structure(Lattice.cubic(a), ["Li"] * 4 + ["O"] * 4, fcc + [[x + 0.5, y, z] for x, y, z in fcc])
    if supercell is None:
        fit = _fit_supercell([x * scale for x in cations.values()])
        if fit is None:
            raise ValueError(f"{composition!r}: no supercell of 20-96 cation sites takes this composition "
                             f"exactly; pass supercell=(n1, n2, n3)")
        kind, supercell = fit
        if kind == "primitive":
            base = base.get_primitive_structure()
    base.make_supercell(list(supercell))
    cat = [i for i, site in enumerate(base) if site.specie.symbol == "Li"]
    n = len(cat)
    counts = {el: x * scale * n for el, x in cations.items()}
    rounded = {el: int(round(v)) for el, v in counts.items()}
    if any(abs(counts[el] - rounded[el]) > 0.5 + 1e-9 for el in counts) or sum(rounded.values()) != n:
        raise ValueError(f"{composition!r} does not fit {n} cation sites of a {supercell} supercell; "
                         f"counts would be {counts}")
    # fill every cation site with the first species, then let pymatgen place the others at random
    first, *others = sorted(rounded, key=lambda el: -rounded[el])
    struct = base.copy()
    for i in cat:
        struct[i] = first
    manipulations = []
    # pymatgen's manipulation format: [oxidation ratio (unused when random), count, candidate sites, species]
    free = list(cat)
    for el in others:
        manipulations.append([0, rounded[el], free, el])
    samples = get_randomly_manipulated_structures(struct, manipulations, seed=seed, n_return=n_samples)
    rng = np.random.default_rng([seed, 7])
    out = []
    for s in samples:
        li = [i for i, site in enumerate(s) if site.specie.symbol == "Li"]
        k = max(1, int(round(li_removed * len(li))))
        rm = sorted(rng.choice(li, k, replace=False).tolist())
        d = s.copy()
        d.remove_sites(rm)
        out.append((AseAtomsAdaptor.get_atoms(s), AseAtomsAdaptor.get_atoms(d), k))
    return out


def relax(atoms, model, fmax: float = 0.05, steps: int = 300, cell: bool = True):
    """Relax positions (and the cell, with `cell`) with the model: ASE BFGS on a FrechetCellFilter.
    Returns (relaxed copy, energy in eV, converged)."""
    from ase.optimize import BFGS
    a = atoms.copy()
    a.calc = model.calculator()
    if cell:
        from ase.filters import FrechetCellFilter
        target = FrechetCellFilter(a)
    else:
        target = a
    import warnings
    from ..errors import ExtrapolationWarning
    opt = BFGS(target, logfile=None)
    with warnings.catch_warnings(record=True) as caught:  # one summary instead of one warning per step
        warnings.simplefilter("always", ExtrapolationWarning)
        converged = bool(opt.run(fmax=fmax, steps=steps))
        energy = float(a.get_potential_energy())
    extra = [w for w in caught if issubclass(w.category, ExtrapolationWarning)]
    for w in caught:
        if not issubclass(w.category, ExtrapolationWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if extra:
        warnings.warn(f"relaxing {a.get_chemical_formula()}: {len(extra)} step(s) left the model's training "
                      f"domain, e.g. {str(extra[-1].message).split(': ', 1)[-1]}", ExtrapolationWarning, stacklevel=2)
    return a, energy, converged


def _energy(model, atoms) -> float:
    return float(model.predict(atoms, forces=False, stress=False).energy[0])


def voltage(e_lithiated: float, e_delithiated: float, e_li: float, n_li: float = 1.0) -> float:
    """Average voltage (V) for removing `n_li` Li: -(E_lith - E_delith - n_li E_Li) / n_li, energies in eV."""
    return -(e_lithiated - e_delithiated - n_li * e_li) / n_li


@dataclass
class VoltageResult:
    name: str
    static_V: float
    relaxed_V: float | None = None
    samples_static: list = field(default_factory=list)
    samples_relaxed: list = field(default_factory=list)
    converged: bool | None = None


def layered_voltages(model, e_li: float, tms=TMS, relaxed: bool = False, fmax: float = 0.05,
                     steps: int = 300, progress: bool = True) -> list:
    """Static (and relaxed) voltages of layered LiTMO2 / TMO2 for each TM, [VoltageResult]."""
    from tqdm.auto import tqdm
    out = []
    for tm in tqdm(list(tms), desc="layered LiTMO2", disable=not progress, leave=False):
        lith, delith = layered(tm)
        nfu = sum(1 for s in lith.get_chemical_symbols() if s == "Li")
        r = VoltageResult(f"Li{tm}O2", voltage(_energy(model, lith) / nfu, _energy(model, delith) / nfu, e_li))
        if relaxed:
            _, el, c1 = relax(lith, model, fmax, steps)
            _, ed, c2 = relax(delith, model, fmax, steps)
            r.relaxed_V = voltage(el / nfu, ed / nfu, e_li)
            r.converged = c1 and c2
        out.append(r)
    return out


def composition_voltage(model, composition: str, e_li: float, n_samples: int = 5, seed: int = 0,
                        relaxed: bool = False, **kw) -> VoltageResult:
    """Mean and spread of the voltage over random disordered-rocksalt samples of `composition`."""
    res = VoltageResult(composition, float("nan"))
    conv = True
    for lith, delith, k in disordered_rocksalt(composition, n_samples=n_samples, seed=seed, **kw):
        res.samples_static.append(voltage(_energy(model, lith), _energy(model, delith), e_li, k))
        if relaxed:
            _, el, c1 = relax(lith, model)
            _, ed, c2 = relax(delith, model)
            res.samples_relaxed.append(voltage(el, ed, e_li, k))
            conv = conv and c1 and c2
    res.static_V = float(np.mean(res.samples_static))
    if relaxed:
        res.relaxed_V = float(np.mean(res.samples_relaxed))
        res.converged = conv
    return res


def write_csv(results, path, relaxed: bool):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        head = ["tm", "voltage_static_V"] + (["voltage_relaxed_V"] if relaxed else [])
        head += ["voltage_static_std_V", "n_samples"]
        w.writerow(head)
        for r in results:
            row = [r.name, f"{r.static_V:.4f}"] + ([f"{r.relaxed_V:.4f}"] if relaxed else [])
            sd = float(np.std(r.samples_static)) if r.samples_static else float("nan")
            row += [f"{sd:.4f}" if r.samples_static else "", len(r.samples_static) or 1]
            w.writerow(row)


def read_dft_csv(path) -> dict:
    """{name: voltage} from a CSV with columns `tm` (or `name`) and `voltage_V` (or `voltage`)."""
    out = {}
    with open(path, newline="") as f:
        rows = csv.DictReader(f)
        if rows.fieldnames is None:
            raise ValueError(f"{path}: empty CSV")
        kname = next((k for k in ("tm", "name", "composition") if k in rows.fieldnames), None)
        kv = next((k for k in ("voltage_V", "voltage", "dft_voltage_V") if k in rows.fieldnames), None)
        if kname is None or kv is None:
            raise ValueError(f"{path}: needs columns 'tm' (or 'name') and 'voltage_V' (got {rows.fieldnames})")
        for i, row in enumerate(rows, start=2):
            try:
                out[row[kname].strip()] = float(row[kv])
            except ValueError:
                raise ValueError(f"{path}, line {i}: voltage {row[kv]!r} is not a number") from None
    return out


def _key(name: str) -> str:
    """'LiCoO2' and 'Co' name the same layered compound."""
    return name[2:-2] if name.startswith("Li") and name.endswith("O2") and name[2:-2] in TMS else name


def parity_plot(results, dft: dict, path, relaxed: bool):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    dft = {_key(k): v for k, v in dft.items()}
    fig, ax = plt.subplots(figsize=(5.2, 5.0))
    pts = []
    for label, attr, mk in (("static", "static_V", "o"), ("relaxed", "relaxed_V", "s")):
        if label == "relaxed" and not relaxed:
            continue
        xs, ys, names = [], [], []
        for r in results:
            k = _key(r.name)
            if k in dft and getattr(r, attr) is not None:
                xs.append(dft[k]); ys.append(getattr(r, attr)); names.append(r.name)
        if xs:
            err = np.sqrt(np.mean((np.array(ys) - np.array(xs)) ** 2))
            ax.scatter(xs, ys, marker=mk, label=f"{label} (RMSE {err:.2f} V)")
            for x, y, n in zip(xs, ys, names):
                ax.annotate(n, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
            pts += xs + ys
    if not pts:
        plt.close(fig)
        raise ValueError("none of the computed compounds is in the DFT CSV")
    lo, hi = min(pts) - 0.3, max(pts) + 0.3
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlim(lo, hi); ax.set_ylim(lo, hi)
    ax.set_xlabel("DFT voltage (V vs Li/Li+)")
    ax.set_ylabel("model voltage (V vs Li/Li+)")
    ax.set_title("Average Li-intercalation voltage")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table(results, relaxed: bool) -> str:
    head = f"{'compound':<22s} {'static (V)':>11s}" + (f" {'relaxed (V)':>12s}" if relaxed else "") + f" {'spread (V)':>11s}"
    lines = [head, "-" * len(head)]
    for r in results:
        sd = f"{np.std(r.samples_static):11.3f}" if len(r.samples_static) > 1 else f"{'':>11s}"
        rel = (f" {r.relaxed_V:12.3f}" + ("" if r.converged else "*")) if relaxed else ""
        lines.append(f"{r.name:<22s} {r.static_V:11.3f}{rel} {sd}")
    if relaxed and any(not r.converged for r in results):
        lines.append("* relaxation did not converge within the step limit")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- command line
def add_parser(subparsers):
    v = subparsers.add_parser("voltage", help="average Li-intercalation voltages of layered LiTMO2 (and "
                                              "disordered rocksalts) from a fitted model",
                              description="V = -(E[LiTMO2] - E[TMO2] - E[Li]) per formula unit, static and "
                                          "(--relax) after relaxing positions and cell with the model.")
    v.add_argument("model", help="a model file written by ldrx (model.save / ldrx fit --out)")
    v.add_argument("--e-li", type=float, required=True, dest="e_li",
                   help="energy of Li metal per atom (eV), on the model's energy scale (e.g. DFT bcc Li)")
    v.add_argument("--tm", default=",".join(TMS), help=f"layered LiTMO2 to compute (default {','.join(TMS)})")
    v.add_argument("--composition", action="append", default=[],
                   help="disordered rocksalt composition, e.g. Li1.2Mn0.4Ti0.4O2 (repeatable)")
    v.add_argument("--samples", type=int, default=5, help="random occupations per composition")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--relax", action="store_true", help="also relax positions and cell (ASE FrechetCellFilter + BFGS)")
    v.add_argument("--csv", default=None, help="write the table as CSV")
    v.add_argument("--dft", default=None, help="CSV of DFT voltages (columns tm, voltage_V): parity plot")
    v.add_argument("--plot", default="voltage_parity.png", help="parity plot path (with --dft)")
    v.set_defaults(func=_cmd)
    return v


def _cmd(args):
    import ldrx
    try:
        import pymatgen.core  # noqa: F401
    except ImportError:
        raise ValueError("ldrx voltage builds its structures with pymatgen: pip install \"ldrx[pymatgen]\"") from None
    model = ldrx.load(args.model)
    tms = [t.strip() for t in args.tm.split(",") if t.strip()]
    bad = [t for t in tms if t not in TMS]
    if bad:
        from ..errors import UsageError
        raise UsageError(f"--tm: unknown transition metal {bad[0]!r}; choose from {','.join(TMS)}")
    results = layered_voltages(model, args.e_li, tms, relaxed=args.relax)
    for comp in args.composition:
        results.append(composition_voltage(model, comp, args.e_li, args.samples, args.seed, relaxed=args.relax))
    print(table(results, args.relax))
    if args.csv:
        write_csv(results, args.csv, args.relax)
        print(f"table written to {args.csv}")
    if args.dft:
        parity_plot(results, read_dft_csv(args.dft), args.plot, args.relax)
        print(f"parity plot written to {args.plot}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    import argparse
    p = argparse.ArgumentParser(prog="ldrx")
    add_parser(p.add_subparsers(dest="command", required=True))
    a = p.parse_args()
    sys.exit(a.func(a))
