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
