"""Model families, one module each, all with the estimator API of :class:`~ldrx.models.base.Model`."""

from __future__ import annotations

from .base import Model, Prediction, read_model_file

_FAMILIES = {}  # name -> (module path, class name, fixed hyper-parameters)


def register(name, module, cls, **fixed):
    _FAMILIES[name] = (module, cls, fixed)


register("ann", "ldrx.models.ann", "ANN")
register("snap", "ldrx.models.snap", "SNAP")
register("qsnap", "ldrx.models.snap", "SNAP", quadratic=True)
register("mtp", "ldrx.models.mtp", "MTP")
register("gap", "ldrx.models.gap", "GAP")
register("nequip", "ldrx.models.nequip", "NequIP")


def _family_class(name):
    import importlib
    if name not in _FAMILIES:
        raise ValueError(f"unknown model family '{name}'; choose from {sorted(_FAMILIES)}")
    module, cls, fixed = _FAMILIES[name]
    return getattr(importlib.import_module(module), cls), fixed


def make_model(name, **hyper) -> Model:
    cls, fixed = _family_class(name)
    kw = {**fixed, **hyper}
    # `repulsion` (ldrx.models.repulsion) is accepted by every family: those without the setting in their
    # hyper-parameters keep it on the model, where Model.learn_domain reads it
    rep = kw.pop("repulsion", "default")
    m = cls(**kw) if rep == "default" else None
    if m is None:
        try:
            m = cls(**kw, repulsion=rep)
        except (TypeError, ValueError) as exc:
            if "repulsion" not in str(exc):
                raise
            from .repulsion import check_kind
            m = cls(**kw)
            m.repulsion_setting = check_kind(rep)
    return m


def load_model(path) -> Model:
    meta, _ = read_model_file(path)
    try:
        cls, _ = _family_class(meta["family"])
    except ValueError as exc:
        from ..errors import ModelFileError
        raise ModelFileError(f"{path}: {exc}") from exc
    return cls.load(path)


def __getattr__(name):  # lazy: ldrx.models.ANN, ldrx.models.SNAP, ...
    for fam, (module, cls, _) in _FAMILIES.items():
        if cls == name:
            import importlib
            return getattr(importlib.import_module(module), cls)
    raise AttributeError(name)


__all__ = ["Model", "Prediction", "make_model", "load_model", "register"]
