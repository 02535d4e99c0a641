"""Checks the rehearsals (``tools/rehearse.sh``, ``tools/rehearse_slurm.sh``) make of a finished stage."""
from __future__ import annotations

import glob
import json
import os


def two_node_stage(stage_dir: str) -> dict:
    """A stage done on 2 FSDP ranks placed on 2 different Ray nodes, whose last checkpoint has both
    ranks' shards and was merged to HF format; returns its ``stage.json``."""
    name = os.path.basename(stage_dir)
    st = json.load(open(f"{stage_dir}/stage.json"))
    assert st["status"] == "done", (name, st["status"])
    assert len({p["node_id"] for p in st["placement"]}) == 2, f"{name}: ranks not on 2 Ray nodes"
    step = st["final_step"]
    shards = sorted(os.path.basename(p) for p in
                    glob.glob(f"{stage_dir}/checkpoints/global_step_{step}/actor/model_world_size_2_rank_*.pt"))
    assert shards == ["model_world_size_2_rank_0.pt", "model_world_size_2_rank_1.pt"], (name, shards)
    assert os.path.exists(f"{stage_dir}/merged_hf/config.json"), f"{name}: no merged model"
    return st
