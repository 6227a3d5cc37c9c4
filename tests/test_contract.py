"""The plugin contract kept honest: what the core reads is declared (and documented), capabilities are typed, the
inference and metrics modules stand apart from the API, and each shared job has one helper."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from gankit_core import api
from gankit_core.interfaces import Model, SwapsRegions, TransfersExpressions, Translates

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "gankit_core"


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


# ---------------------------------------------------------------------------------------- no import circles
def test_inference_and_metrics_never_import_the_api():
    for path in [CORE / "inference.py", *sorted((CORE / "metrics").glob("*.py"))]:
        assert "gankit_core.api" not in imported_modules(path), f"{path.name} imports gankit_core.api"
    assert "gankit_core.inference" in imported_modules(CORE / "api.py")


def test_evaluating_loads_no_api_module():
    code = ("import sys, gankit_core.metrics.evaluation, gankit_core.inference\n"
            "assert 'gankit_core.api' not in sys.modules, 'the api was imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------------------------- the declared contract
def test_capabilities_are_typed_protocols():
    assert isinstance(api.create_model("cregan"), SwapsRegions)
    assert isinstance(api.create_model("expression"), TransfersExpressions)
    for name in ("ugatit", "cyclegan"):
        assert isinstance(api.create_model(name), Translates), name
    dcgan = api.create_model("dcgan")
    assert not isinstance(dcgan, (SwapsRegions, TransfersExpressions, Translates))


def test_the_commands_check_capabilities_by_type_not_by_attribute():
    for path in (ROOT / "plugins/cregan/gankit_cregan/swap.py", ROOT / "plugins/unet_landmark/gankit_unet_landmark"
                 "/transfer.py", CORE / "translation.py", CORE / "summary.py"):
        source = path.read_text()
        assert not re.search(r"\b(hasattr|getattr)\(", source), f"{path.name} probes an attribute"


def test_writing_plugins_lists_every_declared_model_attribute_and_method():
    page = (ROOT / "docs" / "writing-plugins.md").read_text()
    attributes = [name for name in Model.__annotations__ if not name.startswith("_")]
    methods = [name for name, value in vars(Model).items()
               if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, classmethod))]
    assert {"build", "train_step", "evaluate", "migrate_config"} <= set(methods)
    for name in attributes:
        assert re.search(rf"^\| `{name}` \|", page, re.MULTILINE), f"attribute {name} is not in the attributes table"
    for name in methods:
        assert f"`{name}(" in page, f"method {name} is not documented"


def test_frozen_and_image_pool_are_public_and_importing_gankit_stays_light():
    from gankit_core import ImagePool, frozen

    network = nn.Linear(2, 2)
    with frozen(network):
        assert not any(p.requires_grad for p in network.parameters())
    assert all(p.requires_grad for p in network.parameters())
    assert isinstance(ImagePool(2, (3, 4, 4)), nn.Module)
    light = subprocess.run([sys.executable, "-c", "import sys, gankit_core; assert 'torch' not in sys.modules"],
                           capture_output=True, text=True)
    assert light.returncode == 0, light.stderr


def test_no_plugin_imports_the_engine_helpers():
    for path in sorted(ROOT.glob("plugins/*/gankit_*/*.py")):
        assert "gankit_core.engine.helpers" not in imported_modules(path), path


def test_info_traces_a_network_by_its_declared_example_inputs():
    from gankit_core.plugins import get_registry
    from gankit_core.summary import describe

    sn = describe(get_registry().get("discriminator", "sn-dcgan"), layers=True)["networks"]["sn-dcgan"]
    assert sn["input"] == [[3, 64, 64]] and sn["layers"][-1]["output"] == [1, 1, 1]
    mask = describe(get_registry().get("layer", "local-mask"), layers=True)["networks"]["local-mask"]
    assert "layers" not in mask  # a layer is counted, not traced: it has no inputs of its own
    adalin = describe(get_registry().get("layer", "adalin"), layers=True)  # it needs its channels to be built
    assert adalin["needs"] == ["channels"] and "networks" not in adalin


# ----------------------------------------------------------------------------------------- one helper a job
def test_init_weights_is_the_papers_normal_init_and_keeps_a_zero_start():
    from torch.nn.utils.parametrizations import spectral_norm

    from gankit_core.weights import init_weights, start_at_zero

    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv2d(64, 64, 3), nn.BatchNorm2d(64), spectral_norm(nn.Conv2d(64, 64, 3)),
                            nn.ConvTranspose2d(64, 3, 4))
    start_at_zero(network[3])
    network.apply(init_weights)
    assert abs(network[0].weight.std().item() - 0.02) < 0.001 and torch.equal(network[0].bias, torch.zeros(64))
    assert abs(network[1].weight.mean().item() - 1) < 0.01 and abs(network[1].weight.std().item() - 0.02) < 0.01
    original = network[2].parametrizations.weight.original  # what spectral norm normalises
    assert abs(original.std().item() - 0.02) < 0.001
    assert not network[3].weight.any() and not network[3].bias.any()


def test_each_shared_helper_is_defined_once():
    sources = {path: path.read_text() for path in [*ROOT.glob("gankit_core/**/*.py"), *ROOT.glob("plugins/*/gankit_*/*.py")]}
    for helper in ("masked_psnr", "init_weights", "start_at_zero", "prepare_face", "paste_back", "frame_face"):
        defined = [path.name for path, source in sources.items() if re.search(rf"^def {helper}\(", source, re.M)]
        assert len(defined) == 1, (helper, defined)
    for constant in ("FACE_SPAN", "HEADROOM"):
        defined = [path.name for path, source in sources.items() if re.search(rf"^{constant} = ", source, re.M)]
        assert defined == ["faces.py"], (constant, defined)
    uint8_conversions = [path.name for path, source in sources.items() if "/ 127.5" in source or "div_(127.5)" in source]
    assert uint8_conversions == ["images.py"], uint8_conversions


def test_masked_psnr_is_the_psnr_of_the_region_alone():
    from gankit_core.metrics.image_quality import masked_psnr, psnr

    torch.manual_seed(0)
    a = torch.rand(2, 3, 16, 16) * 2 - 1
    b = a.clone()
    b[:, :, :8] += 0.1  # a difference in the top half only
    everywhere = torch.ones(2, 1, 16, 16)
    assert torch.allclose(masked_psnr(a, b, everywhere, (-1, 1)).float(), psnr(a, b, (-1, 1)))
    top = torch.zeros(2, 1, 16, 16)
    top[:, :, :8] = 1
    expected = 10 * np.log10(4 / 0.01)  # an error of 0.1 everywhere in the region, range 2
    assert torch.allclose(masked_psnr(a, b, top, (-1, 1)), torch.full((2,), expected, dtype=torch.float64))
    assert torch.isinf(masked_psnr(a, b, 1 - top, (-1, 1))).all()  # the bottom half is unchanged


# ----------------------------------------------------------------------------------------------- face framing
def test_the_framing_constants_are_where_the_synthetic_faces_have_their_landmarks():
    from gankit_core.data import open_dataset
    from gankit_core.faces import FACE_SPAN, HEADROOM

    for spec, key in (("synthetic-faces:n=64", "landmarks"), ("synthetic-expression:n=64", "target_landmarks")):
        points = open_dataset(spec, 64, seed=3).fields[key].numpy() / 64
        low, high = points.min(1), points.max(1)
        assert abs((high - low).max(1).mean() - FACE_SPAN) < 0.01, spec
        assert abs((low[:, 1] + high[:, 1]).mean() / 2 - 0.5 - HEADROOM) < 0.01, spec


@pytest.mark.parametrize("scale, x, y", [(3.0, 40, 25), (2.0, -20, 10)])
def test_a_face_placed_in_a_photo_is_framed_back_where_it_was_rendered(scale, x, y):
    """A synthetic face enlarged and placed in a bigger picture (partly outside it, in the second case) comes back
    from frame_face with its landmarks where the synthetic crop had them, to within a pixel at 64 px."""
    from PIL import Image

    from gankit_core.data import open_dataset
    from gankit_core.faces import frame_face, paste_back

    dataset = open_dataset("synthetic-faces:n=4", 64, seed=0)
    crop = dataset.fields["image"][0].permute(1, 2, 0).numpy()
    points = dataset.fields["landmarks"][0].numpy().astype(float)
    side = int(64 * scale)
    photo = np.zeros((300, 320, 3), np.uint8)
    big = np.asarray(Image.fromarray(crop).resize((side, side), Image.Resampling.LANCZOS))
    x0, y0 = max(x, 0), max(y, 0)
    photo[y0:y + side, x0:x + side] = big[y0 - y:, x0 - x:][: 300 - y0, : 320 - x0]
    face = frame_face(photo, points * scale + [x, y], 64)
    assert face.crop.shape == (64, 64, 3) and face.boxes["eye_box"].shape == (4,)
    assert np.abs(face.points - points).max() < 1.5
    # Pasting the crop back changes the photo only inside the square it came from.
    pasted = paste_back(face, np.full_like(face.crop, 255), np.ones((64, 64)))
    fx, fy, fside = (int(round(v)) for v in face.origin)
    outside = np.ones(photo.shape[:2], bool)
    outside[max(fy, 0):fy + fside, max(fx, 0):fx + fside] = False
    assert np.array_equal(pasted[outside], photo[outside]) and (pasted[~outside] == 255).all()
