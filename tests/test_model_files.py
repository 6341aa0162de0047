"""Model files: every problem (missing, truncated, bit-flipped, wrong format, missing entries) is a
ModelFileError naming the file, never another exception or a silently different model; files are written
with the umask's permissions and synced before the rename."""

import json
import os
import stat

import numpy as np
import pytest

import ldrx
from ldrx import ModelFileError
from ldrx.models.ann import ANN
from ldrx.models.snap import SNAP

from conftest import DATA, random_frames


@pytest.fixture(scope="module")
def data():
    return ldrx.Dataset.from_atoms(_labelled(random_frames(12, (5, 9), species=(3, 8, 25), seed=21)))


def _labelled(frames):
    from ase.calculators.singlepoint import SinglePointCalculator
    rng = np.random.default_rng(0)
    for a in frames:
        a.calc = SinglePointCalculator(a, energy=-3.0 * len(a) + rng.normal(), forces=rng.normal(0, 0.3, (len(a), 3)))
    return frames


@pytest.fixture(scope="module")
def saved(data, tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    out = {}
    for name, model in (("snap", SNAP(twojmax=2, rcutfac=3.0, progress=False)),
                        ("ann", ANN(epochs=3, radial_cutoff=4.0, radial_order=3, angular_cutoff=3.0, angular_order=2,
                                    hidden=(3,), progress=False))):
        model.fit(data)
        path = d / f"{name}.ldrx"
        model.save(path)
        out[name] = (path, model.predict(data, forces=False, stress=False).energy)
    return out


def _outcome(path, data, energy):
    """'error' for a ModelFileError naming the file, 'same' for a model that predicts what the original
    did; anything else fails the test."""
    try:
        m = ldrx.load(path)
    except ModelFileError as exc:
        assert str(path) in str(exc), exc
        return "error"
    np.testing.assert_array_equal(m.predict(data, forces=False, stress=False).energy, energy)
    return "same"


@pytest.mark.parametrize("family", ["snap", "ann"])
def test_truncated_model_files(saved, data, family, tmp_path):
    path, energy = saved[family]
    raw = path.read_bytes()
    bad = tmp_path / "cut.ldrx"
    for n in sorted({0, 1, 4, 30, len(raw) // 3, len(raw) // 2, len(raw) - 100, len(raw) - 22, len(raw) - 1}):
        bad.write_bytes(raw[:n])
        assert _outcome(bad, data, energy) == "error", n


@pytest.mark.parametrize("family", ["snap", "ann"])
def test_bit_flipped_model_files(saved, data, family, tmp_path):
    path, energy = saved[family]
    raw = bytearray(path.read_bytes())
    bad = tmp_path / "flip.ldrx"
    seen = set()
    for pos in np.linspace(0, len(raw) - 1, 80).astype(int):
        flipped = raw.copy()
        flipped[pos] ^= 0x10
        bad.write_bytes(bytes(flipped))
        seen.add(_outcome(bad, data, energy))
    assert "error" in seen


def test_wrong_or_incomplete_model_files(saved, data, tmp_path):
    path, _ = saved["snap"]
    with pytest.raises(ModelFileError, match="no such"):
        ldrx.load(tmp_path / "absent.ldrx")
    with pytest.raises(ModelFileError, match="folder"):
        ldrx.load(tmp_path)
    data.save(tmp_path / "data.npz")
    with pytest.raises(ModelFileError, match="data.npz: not an ldrx model file"):
        ldrx.load(tmp_path / "data.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))

    def variant(name, meta_, **drop_or_set):
        a = {k: v for k, v in arrays.items() if k not in drop_or_set}
        a.update({k: v for k, v in drop_or_set.items() if v is not None})
        a["meta"] = np.array(json.dumps(meta_))
        p = tmp_path / f"{name}.ldrx"
        with open(p, "wb") as f:
            np.savez(f, **a)
        return p

    p = variant("nocoef", meta, a_coefficients=None)
    with pytest.raises(ModelFileError, match=r"nocoef.ldrx: model file lacks the entry 'coefficients'"):
        ldrx.load(p)
    p = variant("shape", meta, a_coefficients=arrays["a_coefficients"][:, :-1])
    with pytest.raises(ModelFileError, match="shape.ldrx: SNAP coefficients have shape"):
        ldrx.load(p)
    p = variant("family", {**meta, "family": "nonsense"})
    with pytest.raises(ModelFileError, match="family.ldrx: unknown model family"):
        ldrx.load(p)
    p = variant("hyper", {**meta, "hyper": {**meta["hyper"], "twojmax": 3}})
    with pytest.raises(ModelFileError, match="hyper.ldrx: invalid model file.*even"):
        ldrx.load(p)
    p = variant("nohyper", {k: v for k, v in meta.items() if k != "hyper"})
    with pytest.raises(ModelFileError, match="nohyper.ldrx: model file lacks the entry 'hyper'"):
        ldrx.load(p)
    p = tmp_path / "notjson.ldrx"
    with open(p, "wb") as f:
        np.savez(f, **{**arrays, "meta": np.array("{not json")})
    with pytest.raises(ModelFileError, match="notjson.ldrx: the model header is not valid JSON"):
        ldrx.load(p)


def test_aenet_files_truncated_or_flipped(tmp_path):
    from ldrx.io.aenet import read_nn
    raw = (DATA / "aenet-tio2" / "Ti.15t-15t.nn").read_bytes()
    bad = tmp_path / "Ti.nn"
    for n in (0, 3, 40, len(raw) // 2, len(raw) - 1):
        bad.write_bytes(raw[:n])
        with pytest.raises(ModelFileError, match="Ti.nn"):
            read_nn(bad)
    for pos in np.linspace(0, len(raw) - 1, 120).astype(int):
        flipped = bytearray(raw)
        flipped[pos] ^= 0x40
        bad.write_bytes(bytes(flipped))
        try:
            read_nn(bad)     # a flip inside a number gives other numbers: the format has no checksum
        except ModelFileError as exc:
            assert "Ti.nn" in str(exc)
    with pytest.raises(ModelFileError, match="absent.nn"):
        read_nn(tmp_path / "absent.nn")


def test_truncated_checkpoint(data, tmp_path):
    ck = tmp_path / "ck.npz"
    kw = dict(radial_cutoff=4.0, radial_order=3, angular_cutoff=3.0, angular_order=2, hidden=(3,), progress=False)
    ANN(epochs=4, checkpoint=str(ck), checkpoint_every=2, **kw).fit(data)
    ck.write_bytes(ck.read_bytes()[:-50])
    with pytest.raises(ModelFileError, match="ck.npz"):
        ANN(epochs=8, checkpoint=str(ck), **kw).fit(data)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_written_files_honour_the_umask(saved, data, tmp_path, umask):
    snap = ldrx.load(saved["snap"][0])
    ann = ldrx.load(saved["ann"][0])
    old = os.umask(umask)
    try:
        paths = [tmp_path / "m.ldrx", tmp_path / "d.npz"]
        snap.save(paths[0])
        data.save(paths[1])
        paths.append(tmp_path / "s.xsf")
        ldrx.io.write_xsf(paths[-1], data.numbers[:5], data.positions[:5], data.cells[0], energy=1.0)
        paths += [os.fspath(p) for p in snap.to_lammps(tmp_path / "pot")]
        paths += list(ann.to_aenet(tmp_path / "nn").values())
    finally:
        os.umask(old)
    for p in paths:
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o666 & ~umask, p
    assert sorted(q.name for q in tmp_path.iterdir() if q.name.startswith(".")) == []  # no temporary left


def test_writes_are_synced_before_the_rename(saved, tmp_path, monkeypatch):
    import ldrx._files as files
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(files.os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(files.os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    ldrx.load(saved["snap"][0]).save(tmp_path / "m.ldrx")
    assert calls[:2] == ["fsync", "replace"]
