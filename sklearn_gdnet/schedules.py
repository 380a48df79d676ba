"""Learning-rate schedules for :class:`~sklearn_gdnet.GDNetworkRegressor`.

A schedule maps the index ``k`` of a step (0 for the first step of a run) and
the base step size ``eta`` to the step size of that step: ``schedule(k, eta)``.
The estimator passes one as ``lr_schedule``; its ``learning_rate`` (or the
automatic step) is the base. The formulas are those of PyTorch's ``StepLR``,
``MultiStepLR`` and ``ExponentialLR`` stepped once per optimizer step, the
convention of the published shallow 1-d experiments (Gentile and Welper,
arXiv:2209.08399), so that a run written for PyTorch takes the same steps.

Any callable ``f(k, eta) -> float`` returning a positive finite step size can
serve as a schedule; the classes here validate their parameters, print as they
were built, and take part in ``get_params`` / ``set_params`` of the estimator
(``lr_schedule__gamma`` in a grid search).
"""

from __future__ import annotations

from numbers import Integral as _IntegralABC

import numpy as np
from sklearn.base import BaseEstimator

from ._compat import Integral, Interval, Real

__all__ = ["ExponentialDecay", "MultiStepDecay", "StepDecay", "schedule_rates"]


class _Schedule(BaseEstimator):
    """Parameters, validation and ``__call__`` shared by the schedules."""

    def __call__(self, step, base_lr):
        """Step size of step ``step`` (0-based) for the base step ``base_lr``.

        Parameters
        ----------
        step : int
            Index of the step in the run, 0 for its first step.

        base_lr : float
            The base step size (the estimator's ``learning_rate_``).

        Returns
        -------
        rate : float
            The step size of that step.
        """
        self._validate_params()
        step = _check_step(step)
        return float(base_lr) * float(self._factors(np.array([step]))[0])

    def _factors(self, steps):
        """``rate / base_lr`` at each step of the integer array ``steps``."""
        return _powers(float(self.gamma), self._exponents(steps))

    def _exponents(self, steps):  # pragma: no cover - every schedule defines it
        raise NotImplementedError


def _powers(gamma, exponents):
    """``gamma ** e`` for each integer ``e``, with Python's (libm's) power.

    One power per distinct exponent, so the factors are the same bits whether
    a step is asked for alone or within a run.
    """
    distinct, where = np.unique(exponents, return_inverse=True)
    return np.array([gamma ** int(e) for e in distinct], dtype=np.float64)[where.ravel()]


def _check_step(step):
    if isinstance(step, bool) or not isinstance(step, _IntegralABC) or step < 0:
        raise ValueError(f"The step index must be an integer >= 0; got {step!r}.")
    return int(step)


class StepDecay(_Schedule):
    """Multiply the step size by ``gamma`` every ``step_size`` steps.

    The step size of step ``k`` (0-based) is
    ``base_lr * gamma ** (k // step_size)``, PyTorch's ``StepLR`` stepped once
    per optimizer step.

    Parameters
    ----------
    step_size : int
        Number of steps between two decays.

    gamma : float, default=0.1
        Factor applied at each decay, > 0 (1 keeps the step constant).

    See Also
    --------
    MultiStepDecay : Decay at chosen steps.
    ExponentialDecay : Decay at every step.

    Examples
    --------
    >>> from sklearn_gdnet.schedules import StepDecay
    >>> schedule = StepDecay(step_size=2, gamma=0.5)
    >>> schedule
    StepDecay(gamma=0.5, step_size=2)
    >>> [schedule(k, 1.0) for k in range(5)]
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    _parameter_constraints: dict = {
        "step_size": [Interval(Integral, 1, None, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, step_size, gamma=0.1):
        self.step_size = step_size
        self.gamma = gamma

    def _exponents(self, steps):
        return steps // int(self.step_size)


class MultiStepDecay(_Schedule):
    """Multiply the step size by ``gamma`` at each of the given steps.

    The step size of step ``k`` (0-based) is ``base_lr * gamma ** j`` where
    ``j`` is the number of milestones ``<= k``, PyTorch's ``MultiStepLR``
    stepped once per optimizer step.

    Parameters
    ----------
    milestones : sequence of int
        Strictly increasing step indices, each >= 1, at which the step size
        decays.

    gamma : float, default=0.1
        Factor applied at each milestone, > 0.

    See Also
    --------
    StepDecay : Decay every ``step_size`` steps.

    Examples
    --------
    >>> from sklearn_gdnet.schedules import MultiStepDecay
    >>> schedule = MultiStepDecay([1, 3], gamma=0.5)
    >>> [schedule(k, 1.0) for k in range(5)]
    [1.0, 0.5, 0.5, 0.25, 0.25]
    """

    _parameter_constraints: dict = {
        "milestones": ["array-like"],
        "gamma": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, milestones, gamma=0.1):
        self.milestones = milestones
        self.gamma = gamma

    def _validate_params(self):
        super()._validate_params()
        values = list(self.milestones)
        bad = [
            v for v in values if isinstance(v, bool) or not isinstance(v, _IntegralABC) or v < 1
        ]
        if bad or not values or any(b <= a for a, b in zip(values, values[1:])):
            raise ValueError(
                "The 'milestones' parameter of MultiStepDecay must be a non-empty, strictly "
                f"increasing sequence of integers >= 1; got {self.milestones!r}."
            )

    def _exponents(self, steps):
        return np.searchsorted(np.asarray(list(self.milestones)), steps, side="right")


class ExponentialDecay(_Schedule):
    """Multiply the step size by ``gamma`` at every step.

    The step size of step ``k`` (0-based) is ``base_lr * gamma ** k``,
    PyTorch's ``ExponentialLR`` stepped once per optimizer step.

    Parameters
    ----------
    gamma : float
        Factor per step, > 0.

    See Also
    --------
    StepDecay : Decay every ``step_size`` steps.

    Examples
    --------
    >>> from sklearn_gdnet.schedules import ExponentialDecay
    >>> [ExponentialDecay(0.5)(k, 2.0) for k in range(3)]
    [2.0, 1.0, 0.5]
    """

    _parameter_constraints: dict = {
        "gamma": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, gamma):
        self.gamma = gamma

    def _exponents(self, steps):
        return steps


def schedule_rates(schedule, base_lr, start, n_steps):
    """Step sizes of steps ``start .. start + n_steps - 1`` as a float64 array.

    ``schedule=None`` keeps ``base_lr``. Refuses a schedule whose value is not
    a positive finite number, naming the step.
    """
    if schedule is None:
        return np.full(n_steps, float(base_lr))
    if isinstance(schedule, _Schedule):
        schedule._validate_params()
        rates = float(base_lr) * schedule._factors(np.arange(start, start + n_steps))
        return _checked(rates, schedule, base_lr, start)
    rates = np.empty(n_steps)
    for i in range(n_steps):
        k = start + i
        try:
            rate = float(schedule(k, base_lr))
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"lr_schedule={schedule!r} failed at step {k} with base learning rate "
                f"{base_lr!r}: {exc}"
            ) from exc
        rates[i] = rate
    return _checked(rates, schedule, base_lr, start)


def _checked(rates, schedule, base_lr, start):
    bad = np.flatnonzero(~(np.isfinite(rates) & (rates > 0)))
    if bad.size:
        k = start + int(bad[0])
        raise ValueError(
            f"lr_schedule={schedule!r} gave the step size {float(rates[bad[0]])!r} at step {k} "
            f"(base learning rate {base_lr!r}); a step size must be positive and finite "
            "(a decay can underflow to 0 after many steps)."
        )
    return rates
