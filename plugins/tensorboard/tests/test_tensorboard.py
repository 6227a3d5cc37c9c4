"""``--log tensorboard``: what a run writes, read back with TensorBoard's own EventAccumulator."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from gankit_core import api
from gankit_core.errors import GankitError
from gankit_core.testing import TINY_DATA

TINY = {"image_size": 32, "g_features": 8, "d_features": 8, "latent_dim": 16, "batch_size": 4, "data": TINY_DATA}
SETTINGS = {"device": "cpu", "precision": "fp32", "progress": False, "log_every": 1, "sample_every": 2,
            "num_samples": 4}


def events(run_dir):
    accumulator = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0, "scalars": 0,
                                                                                 "tensors": 0})
    return accumulator.Reload()


def test_scalars_grids_and_hparams_read_back_and_a_resumed_run_continues(tmp_path):
    model = api.create_model("dcgan", **TINY)
    result = api.train(model, out=tmp_path / "run", steps=4, log=["tensorboard"], **SETTINGS)
    read = events(result.run_dir)
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    rows = [row for row in rows if "event" not in row]
    assert {"loss_d", "loss_g", "images_per_s"} <= set(read.Tags()["scalars"])
    logged = read.Scalars("loss_d")
    assert [event.step for event in logged] == [row["step"] for row in rows] == [1, 2, 3, 4]
    assert [event.value for event in logged] == pytest.approx([row["loss_d"] for row in rows], rel=1e-6)

    grids = read.Images("samples")
    assert [event.step for event in grids] == [2, 4]
    shown = np.asarray(Image.open(io.BytesIO(grids[-1].encoded_image_string)))
    assert np.array_equal(shown, np.asarray(Image.open(result.run_dir / "samples" / "step-000004.png")))

    content = read.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["model"].string_value == "dcgan"
    assert hparams["config.image_size"].number_value == 32 and hparams["config.loss"].string_value == "bce"
    assert hparams["train.steps"].number_value == 4
    table = read.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()  # the Text tab's table
    assert "| config.image_size | `32` |" in table and "| train.log | `['tensorboard']` |" in table

    api.resume(result.run_dir, steps=6)  # the same settings, --log included, from config.toml
    resumed = events(result.run_dir)
    assert [event.step for event in resumed.Scalars("loss_d")] == [1, 2, 3, 4, 5, 6]
    assert [event.step for event in resumed.Images("samples")] == [2, 4, 6]


def test_without_the_tensorboard_package_the_run_stops_with_one_line_before_it_starts(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(GankitError) as raised:
        api.train(api.create_model("dcgan", **TINY), out=tmp_path / "run", steps=2, log=["tensorboard"], **SETTINGS)
    assert str(raised.value) == ("--log tensorboard needs the 'tensorboard' package, which is not installed: "
                                 "pip install tensorboard")
    assert not (tmp_path / "run").exists()
