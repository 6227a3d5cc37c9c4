"""``--log wandb``: an offline run folder only, whose history (read from its .wandb log) is the run's metrics."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from wandb.proto import wandb_internal_pb2

from gankit_core import api
from gankit_core.errors import GankitError
from gankit_core.testing import TINY_DATA

TINY = {"image_size": 32, "g_features": 8, "d_features": 8, "latent_dim": 16, "batch_size": 4, "data": TINY_DATA}
SETTINGS = {"device": "cpu", "precision": "fp32", "progress": False, "log_every": 1, "sample_every": 2,
            "num_samples": 4}

# The .wandb file: a 7-byte header (":W&B", magic 0xBEE1, version), then LevelDB-log records in 32 KiB blocks,
# each record a 7-byte header (crc32, length, type: 1 full, 2 first, 3 middle, 4 last) and a protobuf Record.
BLOCK, RECORD_HEADER = 32768, 7


def records(path: Path):
    data = path.read_bytes()
    ident, magic, _ = struct.unpack("<4sHB", data[:7])
    assert (ident, magic) == (b":W&B", 0xBEE1), "not a W&B log"
    offset, pending = 7, b""
    while offset + RECORD_HEADER <= len(data):
        room = BLOCK - offset % BLOCK
        _, length, kind = struct.unpack("<IHB", data[offset:offset + RECORD_HEADER])
        if room < RECORD_HEADER or (kind == 0 and length == 0):  # the block's zero-filled tail
            offset += room
            continue
        chunk = data[offset + RECORD_HEADER:offset + RECORD_HEADER + length]
        offset += RECORD_HEADER + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            yield wandb_internal_pb2.Record.FromString(pending)


def offline_run(folder: Path) -> dict:
    """History rows, config and exit code of one offline run folder."""
    [log] = folder.glob("run-*.wandb")
    history, config, exit_code = [], {}, None
    for record in records(log):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                            for item in record.history.item})
        elif kind == "run":
            config = {item.key: json.loads(item.value_json) for item in record.run.config.update}
        elif kind == "exit":
            exit_code = record.exit.exit_code
    return {"history": history, "config": config, "exit_code": exit_code, "run_id": log.stem.removeprefix("run-")}


def test_an_offline_run_holds_the_metrics_and_grids_and_never_asks_the_network(tmp_path, monkeypatch):
    # Online mode pointed at a closed port: a tracker that tried the network would hang or fail here.
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    result = api.train(api.create_model("dcgan", **TINY), out=tmp_path / "run", steps=4, log=["wandb"], **SETTINGS)
    [folder] = (result.run_dir / "wandb").glob("offline-run-*")
    run = offline_run(folder)
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    rows = [row for row in rows if "event" not in row]
    metrics = [row for row in run["history"] if "loss_d" in row]
    assert [row["_step"] for row in metrics] == [1, 2, 3, 4]
    assert [row["loss_d"] for row in metrics] == pytest.approx([row["loss_d"] for row in rows], rel=1e-6)
    grids = [row for row in run["history"] if "samples/_type" in row]
    assert [row["_step"] for row in grids] == [2, 4] and all(row["samples/_type"] == "image-file" for row in grids)
    assert all((folder / "files" / row["samples/path"]).is_file() for row in grids)
    assert run["config"]["model"] == "dcgan" and run["config"]["config"]["image_size"] == 32
    assert run["config"]["train"]["log"] == ["wandb"] and run["exit_code"] == 0

    api.resume(result.run_dir, steps=6)
    folders = sorted((result.run_dir / "wandb").glob("offline-run-*"))
    assert len(folders) == 2
    resumed = offline_run(folders[-1])
    assert resumed["run_id"] == run["run_id"]  # one W&B run once synced
    assert [row["_step"] for row in resumed["history"] if "loss_d" in row] == [5, 6]


def test_without_wandb_the_run_stops_with_one_line_before_it_starts(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(GankitError) as raised:
        api.train(api.create_model("dcgan", **TINY), out=tmp_path / "run", steps=2, log=["wandb"], **SETTINGS)
    assert str(raised.value) == "--log wandb needs the 'wandb' package, which is not installed: pip install wandb"
    assert not (tmp_path / "run").exists()
