"""The registry: kinds, lookup with suggestions, globs, duplicates naming both plugins."""

import pytest

from gankit_core.errors import DuplicateRegistrationError, UnknownNameError
from gankit_core.registry import Entry, PluginRef, Registry

ONE = PluginRef("one", "gankit-one", "1.0")
TWO = PluginRef("two", "gankit-two", "2.0")


def entry(name, kind="model", plugin=ONE, target="math:sqrt"):
    return Entry(kind, name, target, plugin, summary=f"{name} summary", paper="paper 000")


def test_lookup_and_listing_by_kind_and_glob():
    registry = Registry()
    for name in ("cregan", "dcgan", "unet"):
        registry.add(entry(name))
    registry.add(entry("dcgan", kind="generator"))
    assert registry.get("model", "cregan").summary == "cregan summary"
    assert [e.name for e in registry.list("*gan*", "model")] == ["cregan", "dcgan"]
    assert [(e.kind, e.name) for e in registry.list("dcgan")] == [("model", "dcgan"), ("generator", "dcgan")]
    assert [e.kind for e in registry.find("dcgan")] == ["model", "generator"]


def test_unknown_name_suggests_the_closest():
    registry = Registry()
    registry.add(entry("cregan"))
    with pytest.raises(UnknownNameError, match=r"unknown model 'crgan'; did you mean 'cregan'\?"):
        registry.get("model", "crgan")


def test_duplicate_names_both_plugins():
    registry = Registry()
    registry.add(entry("dcgan", plugin=ONE))
    with pytest.raises(DuplicateRegistrationError) as raised:
        registry.add(entry("dcgan", plugin=TWO))
    assert "gankit-one 1.0" in str(raised.value) and "gankit-two 2.0" in str(raised.value)


def test_same_name_in_another_kind_is_fine():
    registry = Registry()
    registry.add(entry("dcgan"))
    registry.add(entry("dcgan", kind="discriminator", plugin=TWO))
    assert len(registry) == 2


def test_lazy_target_is_imported_on_load():
    import math

    assert entry("x").load() is math.sqrt


def test_entries_need_a_summary_and_a_known_kind():
    registry = Registry()
    with pytest.raises(ValueError, match="no summary"):
        registry.add(Entry("model", "x", "math:sqrt", ONE, summary=""))
    with pytest.raises(ValueError, match="unknown registry kind"):
        registry.add(Entry("widget", "x", "math:sqrt", ONE, summary="s"))
