"""Discovery: broken plugins are recorded and never fatal; duplicates and misspelled hooks are loud."""

import subprocess
import sys

from gankit_core.plugins import load_plugins
from gankit_core.registry import PluginRef
from gankit_core.testing import registered_plugin

GOOD = """
from gankit_core.hookspecs import hookimpl

@hookimpl
def register_models(register):
    register("good-model", "math:sqrt", summary="a good model")
"""


def test_core_builtins_register_through_the_hooks():
    plugins = load_plugins(entry_points=False)
    assert plugins.registry.get("loss", "hinge").plugin.distribution == "gankit"
    assert plugins.registry.get("dataset", "synthetic-faces").plugin.distribution == "gankit"
    core = next(p for p in plugins.plugins if p.ref.name == "gankit")
    assert {"register_components", "register_datasets", "register_metrics"} <= set(core.hooks)


def test_plugin_that_fails_to_import_is_recorded(fake_plugins):
    fake_plugins("gankit-broken", "raise ImportError('no module named missing_dependency')\n")
    fake_plugins("gankit-good", GOOD)
    plugins = load_plugins()
    broken = {p.ref.distribution: p for p in plugins.broken}
    assert "missing_dependency" in broken["gankit-broken"].error
    assert plugins.registry.get("model", "good-model").plugin.distribution == "gankit-good"


def test_hook_that_raises_is_recorded_and_contributes_nothing(fake_plugins):
    fake_plugins("gankit-halfway", """
from gankit_core.hookspecs import hookimpl

@hookimpl
def register_models(register):
    register("halfway", "math:sqrt", summary="registered before the failure")
    raise RuntimeError("hook blew up")
""")
    plugins = load_plugins()
    info = next(p for p in plugins.plugins if p.ref.distribution == "gankit-halfway")
    assert "hook blew up" in info.error
    assert "halfway" not in plugins.registry.names("model")


def test_misspelled_hook_fails_loudly(fake_plugins):
    fake_plugins("gankit-typo", """
from gankit_core.hookspecs import hookimpl

@hookimpl
def register_modles(register):
    pass
""")
    plugins = load_plugins()
    info = next(p for p in plugins.plugins if p.ref.distribution == "gankit-typo")
    assert "register_modles" in info.error


def test_duplicate_registration_names_both_plugins(fake_plugins):
    fake_plugins("gankit-first", GOOD)
    fake_plugins("gankit-second", GOOD)
    plugins = load_plugins()
    second = next(p for p in plugins.plugins if p.ref.distribution == "gankit-second")
    assert second.ok  # the duplicate entry is dropped, not the plugin
    (warning,) = second.warnings
    assert "gankit-first 0.3.0" in warning and "gankit-second 0.3.0" in warning
    assert plugins.registry.get("model", "good-model").plugin.distribution == "gankit-first"


def test_load_plugins_variable_limits_loading(fake_plugins, monkeypatch):
    fake_plugins("gankit-good", GOOD)
    monkeypatch.setenv("GANKIT_LOAD_PLUGINS", "dcgan")
    plugins = load_plugins()
    names = {p.ref.name for p in plugins.plugins}
    assert "gankit-good" not in names and "dcgan" in names and "gankit" in names


def test_registered_plugin_context_adds_and_removes():
    class Throwaway:
        from gankit_core.hookspecs import hookimpl

        @staticmethod
        @hookimpl
        def register_metrics(register):
            register("throwaway-metric", "math:sqrt", summary="temporary")

    from gankit_core.plugins import get_registry

    with registered_plugin(Throwaway(), entry_points=False) as plugins:
        assert get_registry() is plugins.registry
        assert "throwaway-metric" in get_registry().names("metric")
    assert "throwaway-metric" not in get_registry().names("metric")


def test_cli_keeps_working_with_a_broken_plugin(fake_plugins):
    fake_plugins("gankit-broken", "import this_module_does_not_exist\n")
    listed = subprocess.run([sys.executable, "-m", "gankit_core", "list"], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert "dcgan" in listed.stdout
    assert "gankit-broken" in listed.stderr  # one warning line, no traceback
    assert "Traceback" not in listed.stderr
    shown = subprocess.run([sys.executable, "-m", "gankit_core", "plugins"], capture_output=True, text=True,
                           env={**__import__("os").environ, "COLUMNS": "200"})
    assert shown.returncode == 0
    assert "gankit-broken" in shown.stdout and "this_module_does_not_exist" in shown.stdout


def test_plugin_ref_is_shown_with_version():
    assert str(PluginRef("x", "gankit-x", "1.2")) == "gankit-x 1.2"
