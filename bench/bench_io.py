"""Reading speed: 10,842 XSF files (the synthetic LDR-sized set written as aenet XSF) with ldrx.read,
next to ase.io.read on the same files.

    python bench/bench_io.py [--frames 10842]
"""

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main():
    import ldrx
    from ldrx.io import write_xsf
    import synthetic
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=10842)
    ap.add_argument("--ase-files", type=int, default=1000, help="files read with ASE for the comparison")
    args = ap.parse_args()
    folder = HERE / "out" / f"xsf_{args.frames}"
    if not folder.exists() or len(list(folder.glob("*.xsf"))) != args.frames:
        data = synthetic.load(args.frames)
        folder.mkdir(parents=True, exist_ok=True)
        for f in range(len(data)):
            a0, a1 = data.offsets[f], data.offsets[f + 1]
            write_xsf(folder / f"{f}.xsf", data.numbers[a0:a1], data.positions[a0:a1], data.cells[f],
                      energy=data.energy[f], forces=data.forces[a0:a1])
    t = time.perf_counter()
    d = ldrx.read(folder)
    dt = time.perf_counter() - t
    print(f"ldrx.read: {len(d)} XSF files, {d.n_atoms} atoms in {dt:.2f} s ({dt / len(d) * 1e6:.0f} µs per file), "
          f"overlap check included")
    import ase.io
    files = sorted(folder.glob("*.xsf"))[: args.ase_files]
    t = time.perf_counter()
    for p in files:
        ase.io.read(p)
    da = (time.perf_counter() - t) / len(files)
    print(f"ase.io.read: {da * 1e6:.0f} µs per file ({len(files)} files); ldrx is x{da / (dt / len(d)):.1f} faster")


if __name__ == "__main__":
    main()
