"""Config: --set values are parsed as TOML literals, never evaluated; types and names are checked."""

import dataclasses

import pytest

from gankit_core.config import parse_assignments, parse_value, resolve_config
from gankit_core.errors import ConfigError


@dataclasses.dataclass
class Example:
    size: int = 64
    rate: float = 0.1
    betas: tuple[float, float] = (0.5, 0.9)
    name: str = "x"
    flag: bool = False


@pytest.mark.parametrize(("text", "value"), [
    ("3", 3), ("2e-4", 2e-4), ("[0.5, 0.9]", [0.5, 0.9]), ("true", True), ('"a b"', "a b"),
    ("global-local", "global-local"), ("synthetic-faces:style=cartoon,n=64", "synthetic-faces:style=cartoon,n=64"),
])
def test_values_are_toml_literals_or_bare_words(text, value):
    assert parse_value(text) == value


def test_code_is_never_evaluated():
    with pytest.raises(ConfigError):
        parse_value("__import__('os').system('echo pwned')")


def test_resolve_coerces_and_checks():
    config = resolve_config(Example, {"size": 32, "rate": 1, "betas": [0.1, 0.2], **parse_assignments(["flag=true"])})
    assert config == Example(32, 1.0, (0.1, 0.2), "x", True)
    with pytest.raises(ConfigError, match="size must be int"):
        resolve_config(Example, {"size": "big"})
    with pytest.raises(ConfigError, match="betas takes 2 values"):
        resolve_config(Example, {"betas": [1.0]})
    with pytest.raises(ConfigError, match="did you mean 'rate'"):
        resolve_config(Example, {"rat": 1.0})
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignments(["justakey"])
