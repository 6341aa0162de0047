"""Property-based tests of the readers (hypothesis): XSF files cut short, with flipped bytes, missing or
extra columns, huge, infinite or NaN numbers. Every outcome is either a Dataset that holds exactly what the
text says, or a DataError that names the file (and the line, for a problem in the text); never another
exception."""

import os
import re
import tempfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import ldrx  # noqa: E402
from ldrx import DataError  # noqa: E402
from ldrx.io import parse_xsf  # noqa: E402

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SYMBOLS = ["Li", "O", "Mn", "Ni"]
ODD_NUMBERS = ["nan", "NaN", "inf", "-inf", "1e308", "1e400", "-1e300", "1e-300", "9" * 40, "0", "-0.0", "1e5",
               "0x10", "1_0", "", "--1", "1e", "."]


@st.composite
def xsf_texts(draw):
    n = draw(st.integers(1, 5))
    a = draw(st.floats(3.0, 7.0))
    cell = np.diag([a, a * draw(st.floats(0.8, 1.2)), a * draw(st.floats(0.8, 1.2))])
    cell[1, 0] = draw(st.floats(-1.0, 1.0))
    # atoms on a coarse grid, so they are never closer than the overlap check allows
    sites = draw(st.lists(st.tuples(*[st.integers(0, 3)] * 3), min_size=n, max_size=n, unique=True))
    pos = (np.array(sites) / 4.0) @ cell
    syms = draw(st.lists(st.sampled_from(SYMBOLS), min_size=n, max_size=n))
    forces = draw(st.booleans())
    kind = draw(st.sampled_from(["total", "cohesive"]))
    energy = draw(st.floats(-1e3, 1e3, allow_nan=False))
    lines = [f"# {kind} energy = {energy!r} eV", "", "CRYSTAL", "PRIMVEC"]
    lines += [" ".join(f"{x:.10f}" for x in row) for row in cell]
    lines += ["PRIMCOORD", f"{n} 1"]
    for s, r in zip(syms, pos):
        f = " ".join(f"{draw(st.floats(-5, 5)):.6f}" for _ in range(3)) if forces else ""
        lines.append(f"{s} {r[0]:.10f} {r[1]:.10f} {r[2]:.10f} {f}".rstrip())
    return "\n".join(lines) + "\n"


@st.composite
def mutated(draw):
    text = draw(xsf_texts())
    kind = draw(st.sampled_from(["none", "truncate", "flip", "drop", "extra", "number", "number", "line"]))
    if kind == "truncate":
        text = text[:draw(st.integers(0, len(text)))]
    elif kind == "flip":
        raw = bytearray(text.encode())
        p = draw(st.integers(0, len(raw) - 1))
        raw[p] ^= draw(st.integers(1, 255))
        text = raw.decode("utf-8", "replace")
    elif kind in ("drop", "extra", "number"):
        lines = text.splitlines()
        rows = [k for k, l in enumerate(lines) if l and l[0].isalpha() and l.split()[0] in SYMBOLS]
        if kind == "number":
            rows += [k for k, l in enumerate(lines) if l.startswith(" ")]  # PRIMVEC rows
        k = draw(st.sampled_from(rows))
        toks = lines[k].split()
        if kind == "drop":
            del toks[draw(st.integers(0, len(toks) - 1))]
        elif kind == "extra":
            toks.insert(draw(st.integers(1, len(toks))), draw(st.sampled_from(["0.5", "x", "Li", "nan"])))
        else:
            first = 1 if toks[0] in SYMBOLS else 0
            toks[draw(st.integers(first, len(toks) - 1))] = draw(st.sampled_from(ODD_NUMBERS) | st.floats().map(repr))
        lines[k] = " ".join(toks)
        text = "\n".join(lines) + "\n"
    elif kind == "line":
        lines = text.splitlines()
        k = draw(st.integers(0, len(lines)))
        lines.insert(k, draw(st.sampled_from(["", "# comment", "PRIMVEC", "PRIMCOORD", "ATOMS", "CONVVEC", "junk",
                                              "# total energy = 1.0 eV", "SLAB"])))
        text = "\n".join(lines) + "\n"
    return text


def _floats(tokens):
    return [float(t) for t in tokens]


def _check_against_text(fr, text):
    """What the parser returned is what the text says: the energy of the comment, the last n non-comment
    rows as atoms (symbol, position, forces)."""
    n = len(fr["numbers"])
    m = re.search(r"(total|cohesive) energy\s*=\s*(\S+)", text, re.I)
    assert m and fr["energy"] == float(m.group(2)) and fr["energy_kind"] == m.group(1).lower()
    if "PRIMCOORD" not in text.upper():
        return
    rows = [l.split() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")][-n:]
    for k, toks in enumerate(rows):
        np.testing.assert_array_equal(fr["positions"][k], _floats(toks[1:4]))
        if len(toks) == 7:
            np.testing.assert_array_equal(fr["forces"][k], _floats(toks[4:7]))
        else:
            assert np.isnan(fr["forces"][k]).all()
    assert np.isfinite(fr["positions"]).all() and np.isfinite(fr["cell"]).all()


NAMED_LINE = re.compile(r"bad\.xsf:\d+: ")


@SETTINGS
@given(mutated())
def test_xsf_parser_gives_the_text_or_a_data_error_with_file_and_line(text):
    try:
        fr = parse_xsf(text, "bad.xsf")
    except DataError as exc:
        assert NAMED_LINE.match(str(exc)), str(exc)
        return
    _check_against_text(fr, text)


@SETTINGS
@given(mutated())
def test_read_gives_a_dataset_or_a_data_error_naming_the_file(text):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bad.xsf")
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
        try:
            data = ldrx.read(path)
        except DataError as exc:
            msg = str(exc)
            assert path in msg, msg
            assert NAMED_LINE.search(msg) or "apart" in msg, msg   # a line, or the overlap check's atoms
            return
        fr = parse_xsf(text, path)
        assert len(data) == 1 and data.ids == [path]
        np.testing.assert_array_equal(data.positions, fr["positions"])
        np.testing.assert_array_equal(data.numbers, fr["numbers"])
        assert data.energy[0] == fr["energy"]
        _check_against_text(fr, text)


@settings(max_examples=30, deadline=None)
@given(mutated())
def test_folder_with_a_bad_file_skips_only_that_file(text):
    good = "# total energy = -1.0 eV\nCRYSTAL\nPRIMVEC\n 4 0 0\n 0 4 0\n 0 0 4\nPRIMCOORD\n1 1\nLi 0 0 0 0 0 0\n"
    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, "1.xsf"), "w").write(good)
        open(os.path.join(d, "2.xsf"), "w", encoding="utf-8", errors="surrogateescape").write(text)
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                data = ldrx.read(d, on_error="skip")
            except DataError as exc:               # only a mix of energy kinds is refused as a whole
                assert "mix energy kinds" in str(exc) and "2.xsf" in str(exc)
                return
        assert data.ids[0].endswith("1.xsf")
        assert len(data) + len(data.skipped) == 2
        for src, why in data.skipped:
            assert src.endswith("2.xsf") and why


def test_energy_kinds_are_not_mixed(tmp_path):
    cell = "CRYSTAL\nPRIMVEC\n 4 0 0\n 0 4 0\n 0 0 4\nPRIMCOORD\n1 1\nLi 0 0 0 0 0 0\n"
    (tmp_path / "a.xsf").write_text("# total energy = -1.0 eV\n" + cell)
    (tmp_path / "b.xsf").write_text("# cohesive energy = -0.2 eV\n" + cell)
    with pytest.raises(DataError, match=r"mix energy kinds: .*a.xsf \(frame 0\) holds a total energy, .*b.xsf "
                                        r"\(frame 1\) a cohesive energy"):
        ldrx.read(tmp_path)
    b = ldrx.read(tmp_path / "b.xsf")
    assert b.info[0]["energy_kind"] == "cohesive"
    with pytest.raises(DataError, match="mix energy kinds"):
        ldrx.Dataset.concatenate([ldrx.read(tmp_path / "a.xsf"), b])
    ldrx.Dataset.concatenate([b, b])  # one kind: fine


def test_xsf_energy_comment_needs_the_equals_sign_right_after_the_kind():
    """A byte flip once turned '# total energy = 0.0 eV' into '# total energy!= 0.0 eV', which the parser read
    as 0.0 eV (it looked for any '=' after the kind). The comment is aenet's fixed form."""
    body = "CRYSTAL\nPRIMVEC\n 4 0 0\n 0 4 0\n 0 0 4\nPRIMCOORD\n1 1\nLi 0 0 0\n"
    for bad in ("# total energy!= 0.0 eV", "# total energy of it = 1.0 eV", "# cohesive energyx= 2 eV"):
        with pytest.raises(DataError, match=r"bad\.xsf:1: expected '# (total|cohesive) energy = E eV'"):
            parse_xsf(bad + "\n" + body, "bad.xsf")
    assert parse_xsf("#  Total Energy   =  -3.5 eV\n" + body, "ok.xsf")["energy"] == -3.5
