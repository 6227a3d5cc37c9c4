"""The CLI: fast commands import no torch; list/info/plugins output; user errors are one line."""

import json
import os
import subprocess
import sys

import pytest

from gankit_core import __version__


def gankit(*args, env=None):
    return subprocess.run([sys.executable, "-m", "gankit_core", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


@pytest.mark.parametrize("command", [["--help"], ["list"], ["plugins"], ["--version"]])
def test_fast_commands_do_not_import_torch(command):
    code = (
        "import sys\nfrom gankit_core.cli import cli\n"
        f"try:\n    cli({command!r}, prog_name='gankit')\nexcept SystemExit:\n    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip().endswith("NO-TORCH"), result.stdout + result.stderr


def test_version():
    assert gankit("--version").stdout.strip() == f"gankit, version {__version__}"


def test_list_json_and_filters():
    rows = json.loads(gankit("list", "--json").stdout)
    assert {"kind", "name", "plugin", "version", "summary"} <= set(rows[0])
    models = json.loads(gankit("list", "*gan*", "--kind", "model", "--json").stdout)
    assert {"dcgan", "hinge-dcgan"} <= {row["name"] for row in models}
    assert all(row["kind"] == "model" for row in models)


def test_plugins_lists_hooks_and_requirements():
    rows = json.loads(gankit("plugins", "--json", "--requirements").stdout)
    dcgan = next(row for row in rows if row["distribution"] == "gankit-dcgan")
    assert dcgan["error"] is None
    assert "register_models" in dcgan["hooks"]
    assert any(req.startswith("gankit") for req in dcgan["requires"])


def test_info_reports_paper_parameters_and_config():
    info = json.loads(gankit("info", "dcgan", "--json").stdout)
    model = next(entry for entry in info if entry["kind"] == "model")
    assert model["networks"]["generator"]["params"] == 3_576_704
    assert model["networks"]["discriminator"]["params"] == 2_765_568
    assert {"name": "batch_size", "type": "int", "default": 128} in model["config"]
    assert "002" in model["paper"]


def test_info_layers_traces_output_shapes():
    info = json.loads(gankit("info", "dcgan", "--layers", "--json").stdout)
    generator = next(entry for entry in info if entry["kind"] == "model")["networks"]["generator"]
    shapes = [row["output"] for row in generator["layers"] if row["type"] == "ConvTranspose2d"]
    assert shapes == [[512, 4, 4], [256, 8, 8], [128, 16, 16], [64, 32, 32], [3, 64, 64]]
    assert sum(row["params"] for row in generator["layers"]) == generator["params"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "dcgna"], "did you mean 'dcgan'?"),
        (["run", "crgan"], "unknown model 'crgan'"),
        (["run", "dcgan", "--set", "batch_sise=3"], "unknown config key 'batch_sise' for model 'dcgan'; did you mean 'batch_size'?"),
        (["run", "dcgan", "--set", "lr=fast"], "lr must be float"),
        (["run", "dcgan", "--set", "image_size=48"], "DCGAN supports image sizes 32, 64 and 128"),
        (["run", "dcgan", "--config", "/no/such.toml"], "config file not found"),
        (["run", "dcgan", "--data", "folder:/no/such/folder", "--steps", "1"], "/no/such/folder"),
        (["resume", "/no/such/run"], "run directory not found"),
        (["sample", "dcgan", "--checkpoint", "/no/such.safetensors"], "checkpoint not found"),
    ],
)
def test_user_errors_are_one_line(args, message):
    result = gankit(*args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0]


def test_another_models_config_is_named_as_that_models(tmp_path):
    """A run's config.toml given to the wrong model: the line names both models, not the first key the other
    model lacks; nothing is written."""
    config = tmp_path / "config.toml"
    config.write_text('model = "cyclegan"\nconfig_version = 2\n[versions]\ngankit = "0"\n[config]\npool_size = 50\n')
    result = gankit("run", "ugatit", "--config", str(config), "--steps", "1", "--out", str(tmp_path / "run"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"error: {config} is a config of model 'cyclegan', not 'ugatit': "
                                     "give it to 'gankit run cyclegan'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_plugin_new_installs_lists_and_passes_its_tests(tmp_path):
    made = gankit("plugin", "new", "demo-gan", "--dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    folder = tmp_path / "gankit-demo-gan"
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(folder)]
    subprocess.run(install, check=True, capture_output=True)
    try:
        listed = json.loads(gankit("list", "demo-gan", "--json").stdout)
        assert {(row["kind"], row["plugin"]) for row in listed} >= {("model", "gankit-demo-gan")}
        tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder / "tests")],
                               capture_output=True, text=True, cwd=folder)
        assert tests.returncode == 0, tests.stdout[-2000:]
        assert "2 passed" in tests.stdout
    finally:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-q", "-y", "gankit-demo-gan"], capture_output=True)


def test_plugin_new_refuses_bad_names(tmp_path):
    result = gankit("plugin", "new", "Bad Name", "--dir", str(tmp_path))
    assert result.returncode == 1 and "must be lowercase" in result.stderr
