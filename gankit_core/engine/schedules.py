"""Learning-rate schedules as pure functions of the step, so resuming needs no scheduler state."""

from __future__ import annotations

from collections.abc import Callable

from gankit_core.errors import ConfigError

SCHEDULE_HELP = "'constant', 'step:EVERY:FACTOR' (e.g. step:100:0.9) or 'linear-half'"


def parse_schedule(spec: str) -> Callable[[int, int], float]:
    """The multiplier on the base learning rate at (step, total_steps) for a schedule spec."""
    name, _, rest = spec.partition(":")
    if name == "constant" and not rest:
        return lambda step, total: 1.0
    if name == "linear-half" and not rest:
        # CycleGAN: constant for the first half, then linearly to zero at the last step.
        def linear_half(step: int, total: int) -> float:
            half = total // 2
            if step < half:
                return 1.0
            return max(0.0, 1.0 - (step - half) / max(1, total - half))

        return linear_half
    if name == "step":
        try:
            every_text, factor_text = rest.split(":")
            every, factor = int(every_text), float(factor_text)
        except ValueError:
            raise ConfigError(f"lr_schedule {spec!r}: expected step:EVERY:FACTOR, e.g. step:100:0.9") from None
        if every < 1 or not 0 < factor <= 1:
            raise ConfigError(f"lr_schedule {spec!r}: EVERY must be >= 1 and FACTOR in (0, 1]")
        return lambda step, total: factor ** (step // every)
    raise ConfigError(f"unknown lr_schedule {spec!r}; use {SCHEDULE_HELP}")
