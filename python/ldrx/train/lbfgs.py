"""Full-batch L-BFGS with aenet's notion of an epoch, progress, validation, early stopping and
checkpoints, shared by the families trained by gradient descent on a loss computed in C++.

One epoch is one evaluation of the full-batch loss and gradient, as in aenet's train.x (its
``ITERATIONS`` count function evaluations handed to L-BFGS-B, line-search trials included). The
optimiser is scipy's L-BFGS-B (Byrd, Lu, Nocedal, Zhu, SIAM J. Sci. Comput. 16, 1190, 1995) with aenet's
settings: memory 20, no bounds, no function-decrease stopping test.
"""

from __future__ import annotations

import warnings

import numpy as np


class StopTraining(Exception):
    """Raised by an epoch callback to end training early (early stopping, interruption)."""


def run_lbfgs(fun, x0, epochs, epoch_callback, memory=20, start_epoch=0):
    """Minimise fun(x) -> (loss, grad) for at most `epochs` evaluations in total (counting the
    `start_epoch` already done). After every evaluation epoch_callback(epoch, x, loss) is called; it may
    raise StopTraining. Returns (reason, epochs_done)."""
    from scipy.optimize import minimize
    state = {"epoch": start_epoch}
    remaining = epochs - start_epoch
    if remaining <= 0:
        return "no epochs left", start_epoch

    def wrapped(x):
        if state["epoch"] >= epochs:
            raise StopTraining("epoch budget reached")
        loss, grad = fun(x)
        state["epoch"] += 1
        if not np.isfinite(loss):
            raise StopTraining(f"loss is not finite at epoch {state['epoch']}")
        epoch_callback(state["epoch"], x, loss)
        return loss, grad

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = minimize(wrapped, np.asarray(x0, float), jac=True, method="L-BFGS-B",
                           options=dict(maxcor=memory, maxfun=remaining, maxiter=10 ** 9, ftol=0.0, gtol=0.0))
        reason = str(res.message)
    except StopTraining as stop:
        reason = str(stop)
    except KeyboardInterrupt:
        reason = "interrupted"
    return reason, state["epoch"]
