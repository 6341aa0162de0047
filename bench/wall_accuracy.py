"""What the default pair wall does to the errors on the bundled LDR sample (90:10 split, seed 0): train,
test and test* RMSE of the default ANN, SNAP and qSNAP fitted with ``repulsion="wall"`` (the default) and
``repulsion=None``. The wall is zero on every training frame (the fits are identical); it acts on test
frames with a pair closer than any training frame had it.

    OMP_NUM_THREADS=1 python bench/wall_accuracy.py
"""

import warnings

import ldrx
from ldrx.evaluate import metrics_rows


def main():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = ldrx.read(ldrx.io.example_data_path(), on_error="skip")
    train, test = data.split(0.1, seed=0)
    print(f"LDR sample: {len(train)} train / {len(test)} test frames; {ldrx.get_num_threads()} thread(s); "
          "energies meV/atom, forces eV/Å; test* leaves out the frames the model flags as extrapolations\n")
    print("| model | repulsion | E train | E test | E test* | F train | F test | F test* |")
    print("|---|---|---|---|---|---|---|---|")
    for name in ("ann", "snap", "qsnap"):
        for rep in ("wall", None):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = ldrx.fit(train, model=name, progress=False, repulsion=rep)
                rows = metrics_rows(m, {"train": train, "test": test})
            star = next((v for k, v in rows.items() if k.startswith("test*")), rows["test"])
            r = [rows["train"], rows["test"], star]
            print(f"| {name} | {rep or 'none'} | " + " | ".join(f"{x['energy_rmse_meV_per_atom']:.1f}" for x in r)
                  + " | " + " | ".join(f"{x['forces_rmse_eV_per_A']:.3f}" for x in r) + " |", flush=True)


if __name__ == "__main__":
    main()
