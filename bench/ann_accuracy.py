"""ANN accuracy on the bundled LDR sample (90:10 split, seed 0): train/test energy and force RMSE for
energies-only training (aenet's setting) and energies + forces training, with training times.

    python bench/ann_accuracy.py [--epochs 500] [--force-weights 0 0.01] [--force-fraction 1]
                                 [--descriptor chebyshev|bispectrum]

The short energies + forces setting pinned by tests/test_accuracy.py (the 500-epoch run takes minutes):

    python bench/ann_accuracy.py --epochs 40 --force-weights 0.01 --force-fraction 0.25
"""

import argparse
import os
import time
import warnings

import ldrx
from ldrx.evaluate import metrics, metrics_rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--force-weights", type=float, nargs="+", default=[0.0, 0.01])
    ap.add_argument("--force-fraction", type=float, default=1.0)
    ap.add_argument("--descriptor", default="chebyshev")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = ldrx.read(ldrx.io.example_data_path(), on_error="skip")
    train, test = data.split(0.1, seed=0)
    # test*: the test set without the frames the model flags as extrapolations (ldrx.evaluate.in_domain)
    print(f"LDR sample: {len(train)} train / {len(test)} test frames; {args.epochs} L-BFGS epochs; {args.descriptor} descriptor; "
          f"force fraction {args.force_fraction:g}; {ldrx.get_num_threads()} threads")
    print(f"{'training':<22s}{'E train':>9s}{'E test':>9s}{'E test*':>9s}{'F train':>9s}{'F test':>9s}"
          f"{'F test*':>9s}{'time (s)':>10s}")
    print(f"{'':<22s}{'meV/atom':>27s}{'eV/Å':>27s}")
    for fw in args.force_weights:
        t = time.perf_counter()
        m = ldrx.fit(train, model="ann", epochs=args.epochs, force_weight=fw, seed=args.seed, progress=False,
                     force_fraction=args.force_fraction if fw else 1.0, descriptor=args.descriptor)
        dt = time.perf_counter() - t
        a = metrics(m, train)
        rows = metrics_rows(m, {"test": test})
        b = rows["test"]
        c = next((v for k, v in rows.items() if k.startswith("test*")), b)
        name = "energies only" if fw == 0 else f"E + F (weight {fw:g})"
        print(f"{name:<22s}{a['energy_rmse_meV_per_atom']:9.1f}{b['energy_rmse_meV_per_atom']:9.1f}"
              f"{c['energy_rmse_meV_per_atom']:9.1f}{a['forces_rmse_eV_per_A']:9.3f}{b['forces_rmse_eV_per_A']:9.3f}"
              f"{c['forces_rmse_eV_per_A']:9.3f}{dt:10.1f}", flush=True)
    flagged = [test.ids[f] for f, _ in m.check_domain(test, warn=False)]
    print(f"left out of test*: {', '.join(os.path.basename(i) for i in flagged) or 'none'}")


if __name__ == "__main__":
    main()
