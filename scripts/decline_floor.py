"""How soon a gradual decline can be seen in the simulated plants' noise (issue 14).

A simulated plant's day is a factor uniform(0.92, 1.08) of its level (a standard
deviation of 4.6 %), independent from day to day. A fall of 15 % over two weeks loses
1.07 % a day. This Monte Carlo sets each test's threshold so that 1 % of clean runs
(a reference of N days, then 30 judged days) alarm, and reports the day, counted from
the fall's start, at the close of which a fall is first seen:

- oracle: knows the fall's first day and the level before it (a Neyman-Pearson test on
  each day; no detector has either);
- slope, known level: a test of a change of slope at an unknown day, the level known;
- slope, level = mean: the same against the mean of the N days before the fall;
- hinge: the level fitted too (`riskstream/detectors/decline_ramp.py`'s test);
- CUSUM: a CUSUM on the level against the N days' mean, for three allowances.

Run: ``.venv/bin/python scripts/decline_floor.py`` (about 10 s; numpy only).
"""

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

SPREAD = 0.16 / np.sqrt(12.0)  # standard deviation of uniform(0.92, 1.08)
RATE = 0.15 / 14.0  # fall per day
JUDGED_DAYS = 30
FALSE_ALARMS = 0.01  # share of clean runs allowed to alarm


def slope_known_level(x: Array) -> Array:
    """Per day, the best evidence over change days of a fall of constant slope from a
    known level 0: the fitted slope over its standard error."""
    runs, days = x.shape
    out = np.zeros((runs, days))
    for t in range(days):
        best = np.zeros(runs)
        for tau in range(t + 1):
            ramp = np.arange(1, t - tau + 2) - 0.5
            z = -(x[:, tau : t + 1] @ ramp) / (SPREAD * np.sqrt((ramp**2).sum()))
            best = np.maximum(best, z)
        out[:, t] = best
    return out


def hinge(x: Array, first_tau: int) -> Array:
    """Per day from ``first_tau``, the same with the level before the change fitted too."""
    runs, days = x.shape
    out = np.zeros((runs, days))
    for t in range(days):
        y = x[:, : t + 1] - x[:, : t + 1].mean(axis=1, keepdims=True)
        best = np.zeros(runs)
        for tau in range(max(first_tau, 3), t + 1):
            ramp = np.where(np.arange(t + 1) >= tau, np.arange(t + 1) - tau + 0.5, 0.0)
            ramp = ramp - ramp.mean()
            z = -(y @ ramp) / (SPREAD * np.sqrt((ramp**2).sum()))
            best = np.maximum(best, z)
        out[:, t] = best
    return out[:, first_tau:]


def cusum(x: Array, level: Array, allowance: float) -> Array:
    """Per day, a CUSUM of the falls below ``level`` in spreads, less ``allowance``."""
    runs, days = x.shape
    total = np.zeros(runs)
    out = np.zeros((runs, days))
    for t in range(days):
        total = np.maximum(0.0, total - (x[:, t] - level) / SPREAD - allowance)
        out[:, t] = total
    return out


def detected(clean: Array, falling: Array) -> tuple[float, Array]:
    """The threshold that ``FALSE_ALARMS`` of the clean runs reach, and the day each
    falling run first reaches it (inf if never)."""
    threshold = float(np.quantile(clean.max(axis=1), 1.0 - FALSE_ALARMS))
    hit = falling >= threshold
    return threshold, np.where(hit.any(axis=1), hit.argmax(axis=1) + 1.0, np.inf)


def compare(reference_days: int, rng: np.random.Generator) -> dict[str, tuple[float, Array]]:
    """Threshold and days to detect of each test, with a reference of ``reference_days``."""
    n = reference_days
    clean = rng.normal(0.0, SPREAD, (6000, n + JUDGED_DAYS))
    falling = rng.normal(0.0, SPREAD, (3000, n + JUDGED_DAYS))
    falling[:, n:] -= RATE * (np.arange(JUDGED_DAYS) + 0.5)
    ramp = np.arange(1, JUDGED_DAYS + 1) - 0.5
    scale = SPREAD * np.sqrt(np.cumsum(ramp**2))
    results = {
        "oracle (knows the first day and the level)": detected(
            -np.cumsum(clean[:, n:] * ramp, axis=1) / scale,
            -np.cumsum(falling[:, n:] * ramp, axis=1) / scale,
        ),
        "slope, known level": detected(
            slope_known_level(clean[:, n:]), slope_known_level(falling[:, n:])
        ),
    }
    level_clean = clean[:, :n].mean(axis=1, keepdims=True)
    level_falling = falling[:, :n].mean(axis=1, keepdims=True)
    results[f"slope, level = mean of {n} days"] = detected(
        slope_known_level(clean[:, n:] - level_clean),
        slope_known_level(falling[:, n:] - level_falling),
    )
    results[f"hinge, level fitted ({n} days before)"] = detected(hinge(clean, n), hinge(falling, n))
    for allowance in (0.25, 0.5, 1.0):
        results[f"CUSUM on level, allowance {allowance}"] = detected(
            cusum(clean[:, n:], level_clean[:, 0], allowance),
            cusum(falling[:, n:], level_falling[:, 0], allowance),
        )
    return results


def main() -> None:
    """Print the comparison for references of 14, 21 and 5 days."""
    rng = np.random.default_rng(14)
    for n in (14, 21, 5):
        print(
            f"reference {n} d, spread {SPREAD:.2%}/day, fall {RATE:.2%}/day, "
            f"{FALSE_ALARMS:.0%} of clean {JUDGED_DAYS}-day runs alarm"
        )
        for name, (threshold, days) in compare(n, rng).items():
            p10, p50, p90 = np.quantile(days, [0.1, 0.5, 0.9])
            print(
                f"  {name:45s} threshold {threshold:5.2f}  days to detect p10/p50/p90 "
                f"{p10:4.1f} {p50:4.1f} {p90:4.1f}  within 7 d {np.mean(days <= 7):.2f}"
            )


if __name__ == "__main__":
    main()
