"""The benchmark's TOML configuration: reading and validation (one-line errors that name the key).

    data = "example"            # folder of XSF files, any ASE-readable file, a dataset .npz, or "example"
    sizes = [50, 100, "all"]    # training-set sizes of the learning curve ("all": the whole training part)
    test_fraction = 0.1         # one random split, shared by every model and size
    seed = 0                    # split, nested subsets, and each model's seed (unless the model sets its own)
    threads = 2                 # OpenMP / torch threads of each training process
    strict = false              # true: stop at bad frames instead of skipping them

    [models.ann]                # any name; `family` picks the model class from the registry (ldrx.models)
    family = "ann"
    epochs = 100                # everything else is passed to the model as hyper-parameters
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.9/3.10
    import tomli as tomllib

TOP_KEYS = {"data", "sizes", "test_fraction", "seed", "threads", "strict", "models", "title"}


class ConfigError(UsageError):
    """A mistake in a benchmark configuration; the message names the file and the key."""


@dataclass
class ModelSpec:
    name: str
    family: str
    hyper: dict

    def digest(self) -> str:
        """Identifies the model's training: every hyper-parameter after the family's defaults are filled in, so
        a cell trained under older defaults is recomputed (a resumed run once kept SNAP cells fitted with the
        previous defaults), and spelling out a default does not retrain anything. `progress` is left out."""
        import dataclasses
        from ..models import make_model
        hyper = make_model(self.family, **_as_python(self.hyper)).hyper
        full = dataclasses.asdict(hyper) if dataclasses.is_dataclass(hyper) else dict(self.hyper)
        full.pop("progress", None)
        return hashlib.sha256(json.dumps([self.family, full], sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class BenchConfig:
    data: str
    sizes: list
    test_fraction: float = 0.1
    seed: int = 0
    threads: int = 1
    strict: bool = False
    title: str = "ldrx benchmark"
    models: list = field(default_factory=list)
    source: str = "<dict>"

    def split_digest(self) -> str:
        """Identifies the data and the split: cells computed under another digest are recomputed."""
        return hashlib.sha256(json.dumps([str(self.data), self.test_fraction, self.seed],
                                         sort_keys=True).encode()).hexdigest()[:16]


def _err(src, key, msg):
    return ConfigError(f"{src}: '{key}': {msg}")


BUNDLED_DIR = Path(__file__).resolve().parent / "configs"


def bundled_configs() -> dict:
    """{name: path} of the configurations shipped inside the package (``ldrx bench quick --out DIR``)."""
    return {p.stem: p for p in sorted(BUNDLED_DIR.glob("*.toml"))}


def resolve_config_path(config) -> Path:
    """The TOML file named by `config`: an existing file, else the bundled configuration of that name
    (``quick``), so that the README's first command works after ``pip install .`` from any folder."""
    path = Path(config)
    if path.is_file():
        return path
    bundled = bundled_configs()
    if str(config) in bundled:
        return bundled[str(config)]
    raise FileNotFoundError(f"{path}: benchmark configuration not found (neither a file nor one of the "
                            f"bundled configurations: {', '.join(bundled)})")


def load_config(config) -> BenchConfig:
    """A :class:`BenchConfig` from a TOML file path, the name of a bundled configuration (``"quick"``), a
    dict or a BenchConfig. Relative `data` paths are taken relative to the config file."""
    if isinstance(config, BenchConfig):
        return config
    if isinstance(config, dict):
        return parse_config(config, "<dict>", Path.cwd())
    path = resolve_config_path(config)
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(raw, str(path), path.resolve().parent)


def parse_config(raw: dict, src: str = "<dict>", base: Path | None = None) -> BenchConfig:
    from ..models import _FAMILIES
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise _err(src, unknown[0], f"unknown key; valid top-level keys: {sorted(TOP_KEYS)}")
    if "data" not in raw:
        raise _err(src, "data", "missing (a folder of XSF files, an ASE-readable file, or \"example\")")
    data = raw["data"]
    if not isinstance(data, str) or not data:
        raise _err(src, "data", "must be a path string or \"example\"")
    if data != "example" and base is not None and not Path(data).is_absolute():
        data = str((base / data).resolve())
    sizes = raw.get("sizes")
    if sizes is None:
        raise _err(src, "sizes", "missing (list of training-set sizes, e.g. [50, 100, \"all\"])")
    if not isinstance(sizes, list) or not sizes:
        raise _err(src, "sizes", "must be a non-empty list of positive integers or \"all\"")
    for s in sizes:
        if not (s == "all" or (isinstance(s, int) and not isinstance(s, bool) and s > 0)):
            raise _err(src, "sizes", f"entry {s!r} is neither a positive integer nor \"all\"")
    tf = raw.get("test_fraction", 0.1)
    if not isinstance(tf, (int, float)) or isinstance(tf, bool) or not 0 < tf < 1:
        raise _err(src, "test_fraction", f"must be a number in (0, 1), got {tf!r}")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise _err(src, "seed", f"must be a non-negative integer, got {seed!r}")
    threads = raw.get("threads", 1)
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise _err(src, "threads", f"must be a positive integer, got {threads!r}")
    strict = raw.get("strict", False)
    if not isinstance(strict, bool):
        raise _err(src, "strict", f"must be true or false, got {strict!r}")
    title = raw.get("title", "ldrx benchmark")
    models_raw = raw.get("models")
    if not isinstance(models_raw, dict) or not models_raw:
        raise _err(src, "models", "missing: add one table [models.NAME] with family = \"ann\" (or snap, ...) per model")
    models = []
    for name, table in models_raw.items():
        key = f"models.{name}"
        if not isinstance(table, dict):
            raise _err(src, key, "must be a table with at least `family`")
        if "family" not in table:
            raise _err(src, f"{key}.family", f"missing; one of {sorted(_FAMILIES)}")
        fam = table["family"]
        if fam not in _FAMILIES:
            raise _err(src, f"{key}.family", f"unknown family {fam!r}; one of {sorted(_FAMILIES)}")
        hyper = {k: v for k, v in table.items() if k != "family"}
        hyper.setdefault("seed", seed)
        _check_hyper(src, key, fam, hyper)
        models.append(ModelSpec(str(name), fam, hyper))
    return BenchConfig(data=data, sizes=list(sizes), test_fraction=float(tf), seed=seed, threads=threads,
                       strict=strict, title=str(title), models=models, source=src)


def _check_hyper(src, key, family, hyper):
    """Build the model once so that unknown or invalid hyper-parameters fail now, not an hour in."""
    from ..models import make_model
    try:
        make_model(family, **_as_python(hyper))
    except (TypeError, ValueError) as exc:
        raise _err(src, key, str(exc).splitlines()[0]) from None
    except ImportError as exc:
        raise _err(src, key, f"family {family!r} needs a package that is not installed: {exc}") from None


def _as_python(hyper: dict) -> dict:
    """TOML arrays become tuples where the estimator API takes tuples (e.g. ANN hidden=(15, 15))."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in hyper.items()}
