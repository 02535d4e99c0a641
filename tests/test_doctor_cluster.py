"""doctor on a cluster: the Ray cluster's nodes for the rehearsal (a CPU tier on 2 nodes), and the
paths a CPU cannot rehearse checked on the real cluster (issue 25, items 2 and 7)."""
from polaris_repro import doctor as D
from polaris_repro.config import load_config


def _rows(table, check):
    return table[table["check"] == check].to_dict("records")


def _node(i, gpus):
    return {"NodeID": f"{i:02d}" + "ab" * 27, "Alive": True, "NodeManagerAddress": "127.0.0.1",
            "Resources": {"CPU": 8.0, "GPU": float(gpus)}}


def test_rehearsal_tier_reports_the_cluster_nodes():
    ok = D.doctor("rehearsal", hardware={"ray_nodes": [_node(1, 1), _node(2, 1)], "env": {"RAY_ADDRESS": "x"}})
    (row,) = _rows(ok, "ray cluster")
    assert row["status"] == "ok" and "2 alive node(s), 2 fake GPU(s)" in row["found"]
    assert "01abab" in row["found"] and "02abab" in row["found"]
    one = D.doctor("rehearsal", hardware={"ray_nodes": [_node(1, 2)], "env": {"RAY_ADDRESS": "x"}})
    assert _rows(one, "ray cluster")[0]["status"] == "fail"
    none = D.doctor("rehearsal", hardware={})
    (row,) = _rows(none, "ray cluster")
    assert row["status"] == "fail" and "make rehearse" in row["fix"]
    assert not _rows(D.doctor("tiny", hardware={}), "ray cluster")      # one node: no cluster needed


def test_cluster_only_paths_checked_on_the_cluster():
    cfg = load_config("paper-4b")                     # stage 3 uses Ulysses SP 4
    hw = D.Hardware.from_dict({"nccl": True, "packages": {"flash-attn": "2.8"},
                               "env": {"NCCL_SOCKET_IFNAME": "ib0", "GLOO_SOCKET_IFNAME": "ib0"}})
    rows = {r["check"]: r for r in D.check_cluster_only(cfg, hw)}
    assert {k: r["status"] for k, r in rows.items()} == {"nccl": "ok", "ulysses sp": "ok", "socket interfaces": "ok"}
    bad = D.Hardware.from_dict({"nccl": False, "packages": {}, "env": {}})
    rows = {r["check"]: r for r in D.check_cluster_only(cfg, bad)}
    assert rows["nccl"]["status"] == "fail" and rows["ulysses sp"]["status"] == "fail"
    assert "flash-attn" in rows["ulysses sp"]["found"] and rows["socket interfaces"]["status"] == "warn"
    (cpu,) = D.check_cluster_only(load_config("rehearsal"), bad)
    assert cpu["status"] == "ok" and "NCCL" in cpu["found"] and "vLLM" in cpu["found"]


def test_every_node_checks_its_own_model_cache_and_the_run_folder(tmp_path):
    """Compute nodes often have no internet: the doctor looks from every Ray node (a task pinned to
    each) at that node's Hugging Face cache and at the run folder."""
    cfg = load_config("paper-4b")
    views = [{"node_id": "aa" * 28, "host": "n1", "hf_home": "/shared/hf", "offline": True, "model": True,
              "run_dir": "present"},
             {"node_id": "bb" * 28, "host": "n2", "hf_home": None, "offline": True, "model": False,
              "run_dir": "not writable (/shared)"},
             {"node_id": "cc" * 28, "host": "n3", "hf_home": None, "offline": False, "model": False,
              "run_dir": "creatable"}]
    rows = {r["check"]: r for r in D.check_nodes(cfg, D.Hardware(node_views=views))}
    assert rows["node n1 (aaaaaaaa)"]["status"] == "ok" and "Qwen/Qwen3-4B cached" in rows["node n1 (aaaaaaaa)"]["found"]
    n2 = rows["node n2 (bbbbbbbb)"]
    assert n2["status"] == "fail" and "NOT cached and HF_HUB_OFFLINE=1" in n2["found"] and "polaris-repro fetch" in n2["fix"]
    assert "run folder" in n2["fix"]
    assert rows["node n3 (cccccccc)"]["status"] == "warn"
    assert D.check_nodes(cfg, D.Hardware()) == []
    wandb = load_config("paper-4b", ["training.logger=[console,wandb]"])
    rows = D.check_nodes(wandb, D.Hardware(node_views=[{**views[0], "wandb": False}, {**views[0], "wandb": True}]))
    assert [r["status"] for r in rows] == ["fail", "ok"] and "WANDB_API_KEY" in rows[0]["fix"]


def test_node_view_runs_as_a_ray_task_on_each_node(tmp_path, monkeypatch):
    """The probe itself, on a real 2-node Ray cluster (ray.cluster_utils): one view per node, the
    run folder seen as writable, a hub id not in an empty cache."""
    import ray
    from ray.cluster_utils import Cluster

    from polaris_repro.doctor import hardware as H

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        monkeypatch.setenv("RAY_ADDRESS", cluster.address)
        hw = H.detect_hardware(disk_path=tmp_path, node_probe=("Qwen/Qwen3-4B", str(tmp_path / "run")))
        assert hw.ray_error is None, hw.ray_error
        views = hw.node_views
        assert len(views) == 2 == len({v["node_id"] for v in views})
        assert all(v["model"] is False and v["offline"] and v["run_dir"] == "creatable" for v in views), views
    finally:
        ray.shutdown()
        cluster.shutdown()
