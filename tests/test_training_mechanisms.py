"""POLARIS mechanisms on hand-made batches (no Ray): accuracy log, substitution, skip, rescue."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from polaris_repro.training import mechanisms as M

P, R = 3, 4  # prompt / response widths


def make_batch(answers_per_group, gts, n=None, index_base=100):
    """Rows: group g, rollout k. A response is [answer token, 7, 0, 0]; reward 1 iff answer == gt.

    ``answers_per_group[g]`` lists the answer token of each of the group's rollouts."""
    rows_prompt, rows_resp, rows_rm, uids, ei, rm, ds, score = [], [], [], [], [], [], [], []
    for g, (answers, gt) in enumerate(zip(answers_per_group, gts)):
        for a in answers:
            rows_prompt.append([0, 50 + g, 60 + g])
            rows_resp.append([a, 7, 0, 0])
            s = float(a == gt)
            rows_rm.append([0.0, s, 0.0, 0.0])  # reward on the last valid token (position 1)
            uids.append(f"u{g}")
            ei.append({"index": index_base + g, "split": "train"})
            rm.append({"ground_truth": str(gt), "style": "rule"})
            ds.append("synthetic")
            score.append(s)
    prompts = torch.tensor(rows_prompt)
    responses = torch.tensor(rows_resp)
    attn = torch.cat([torch.tensor([[0, 1, 1]] * len(rows_prompt)), (responses != 0).long()], 1)
    tensors = {
        "prompts": prompts, "responses": responses, "input_ids": torch.cat([prompts, responses], 1),
        "attention_mask": attn, "position_ids": torch.cumsum(attn, 1) - 1,
        "response_mask": (responses != 0).long(), "rm_scores": torch.tensor(rows_rm),
    }
    nt = {"uid": np.array(uids, dtype=object), "extra_info": np.array(ei, dtype=object),
          "reward_model": np.array(rm, dtype=object), "data_source": np.array(ds, dtype=object),
          "score": np.array(score)}
    return tensors, nt


def grade_rescore(dst, src, tensors, non_tensors):
    """What the official second reward call does: the (copied) response against the row's own
    (i.e. the replaced prompt's) ground truth."""
    ans = int(tensors["responses"][dst, 0])
    gt = int(non_tensors["reward_model"][dst]["ground_truth"])
    return {"score": float(ans == gt)}


# groups: 0 all right, 1 mixed, 2 all wrong, 3 mixed (n = 4)
GROUPS = [[1, 1, 1, 1], [2, 9, 2, 9], [9, 9, 9, 9], [4, 4, 9, 9]]
GTS = [1, 2, 3, 4]


def test_group_stats_and_accuracy_record():
    t, nt = make_batch(GROUPS, GTS)
    st = M.group_stats(t, nt)
    assert st.index == [100, 101, 102, 103]
    np.testing.assert_allclose(st.mean, [1.0, 0.5, 0.0, 0.5])
    assert st.solve_all.tolist() == [True, False, False, False]
    assert st.solve_none.tolist() == [False, False, True, False]
    rec = M.accuracy_record(5, st, global_step=3)
    assert rec == {"step": 5, "global_step": 3, "index": [100, 101, 102, 103], "score": [1.0, 0.5, 0.0, 0.5]}


def test_polaris_substitution_carries_rewards_ground_truth_and_tokens():
    t, nt = make_batch(GROUPS, GTS)
    res = M.process_batch(t, nt, step=1, mode="polaris", rng=np.random.default_rng(0))
    assert not res.skip
    # the record is taken before substitution: the real batch accuracy
    assert res.record["score"] == [1.0, 0.5, 0.0, 0.5] and res.record["skipped"] is False
    assert set(res.plan.donors) == {0, 2} and set(res.plan.donors.values()) <= {1, 3}
    # without replacement: 2 informative groups for 2 dead ones -> distinct donors
    assert len(set(res.plan.donors.values())) == 2
    stats = M.group_stats(t, nt)
    for dead, donor in res.plan.donors.items():
        gd, gs = stats.groups[dead], stats.groups[donor]
        for key in ("responses", "input_ids", "attention_mask", "rm_scores", "prompts"):
            assert torch.equal(res.tensors[key][gd], t[key][gs]), key
        # its own ground truth, index and reward extras travel with it; the group id does not
        assert [x["ground_truth"] for x in res.non_tensors["reward_model"][gd]] == \
               [x["ground_truth"] for x in nt["reward_model"][gs]]
        assert list(res.non_tensors["score"][gd]) == list(nt["score"][gs])
        assert set(res.non_tensors["uid"][gd]) == {f"u{dead}"}
    # advantages of every copy equal its donor's, and every row now carries signal
    r = M.row_rewards(res.tensors)
    adv = M.grpo_advantages(r, res.non_tensors["uid"])
    for dead, donor in res.plan.donors.items():
        np.testing.assert_allclose(adv[stats.groups[dead]], adv[stats.groups[donor]])
    assert np.all(np.abs(adv) > 0.1)
    m = res.metrics
    assert (m["batch/solve_none"], m["batch/solve_all"], m["polaris/substituted"], m["polaris/skipped"]) == (1, 1, 2, 0)
    assert m["polaris/informative_frac"] == 0.5
    assert m["polaris/score_pre_substitution"] == pytest.approx(0.5)
    # every group now has 2 of 4 correct; in polaris mode the copies keep their donors' rewards
    assert m["polaris/score_post_substitution"] == m["polaris/score_post_donor_rewards"] == pytest.approx(0.5)
    # inputs were not modified
    assert t["rm_scores"].sum() == 8


def test_advantages_match_verl_grpo_estimator():
    from verl.trainer.ppo import core_algos   # required: fails, never skips, when broken
    t, nt = make_batch(GROUPS, GTS)
    res = M.process_batch(t, nt, step=1, mode="polaris", rng=np.random.default_rng(1))
    adv, _ = core_algos.compute_grpo_outcome_advantage(
        token_level_rewards=res.tensors["rm_scores"], response_mask=res.tensors["response_mask"],
        index=res.non_tensors["uid"], norm_adv_by_std_in_grpo=True)
    stats = M.group_stats(t, nt)
    for dead, donor in res.plan.donors.items():
        assert torch.allclose(adv[stats.groups[dead]], adv[stats.groups[donor]])
    np.testing.assert_allclose(adv[:, 0].numpy(), M.grpo_advantages(M.row_rewards(res.tensors),
                                                                      res.non_tensors["uid"]), atol=1e-5)


def test_released_mode_reproduces_the_official_bug():
    t, nt = make_batch(GROUPS, GTS)
    res = M.process_batch(t, nt, step=1, mode="released", rng=np.random.default_rng(0),
                          rescore=grade_rescore)
    stats = M.group_stats(t, nt)
    r = M.row_rewards(res.tensors)
    adv = M.grpo_advantages(r, res.non_tensors["uid"])
    for dead, donor in res.plan.donors.items():
        gd, gs = stats.groups[dead], stats.groups[donor]
        assert torch.equal(res.tensors["responses"][gd], t["responses"][gs])   # tokens copied
        # ground truth stays the replaced prompt's; rewards are re-graded against it -> 0
        assert [x["ground_truth"] for x in res.non_tensors["reward_model"][gd]] == [str(GTS[dead])] * 4
        assert r[gd].tolist() == [0.0] * 4
        assert np.all(adv[gd] == 0)                                           # no signal
        assert list(res.non_tensors["score"][gd]) == [0.0] * 4
    # untouched informative groups keep their rewards; the skip rule still applies
    assert r[stats.groups[1]].tolist() == [1, 0, 1, 0]
    assert res.metrics["polaris/score_post_substitution"] < res.metrics["polaris/score_pre_substitution"]
    # the same batch and donors in polaris mode: copies keep their donors' rewards (2 of 4 each)
    assert res.metrics["polaris/score_post_donor_rewards"] == pytest.approx(0.5)
    assert res.metrics["polaris/score_post_substitution"] == pytest.approx(0.25)   # re-graded: 0
    # the accuracy-log line lists every copied row as re-graded: against the replaced prompt's answer
    rows = res.record["regraded"]
    assert len(rows) == 4 * len(res.plan.donors)
    for dead, donor in res.plan.donors.items():
        mine = [x for x in rows if x["index"] == 100 + dead]
        assert len(mine) == 4 and {x["donor_index"] for x in mine} == {100 + donor}
        assert {(x["ground_truth"], x["donor_ground_truth"]) for x in mine} == {(str(GTS[dead]), str(GTS[donor]))}
        assert [x["donor_score"] for x in mine] == [float(a == GTS[donor]) for a in GROUPS[donor]]
        assert [x["score"] for x in mine] == [0.0] * 4
    json.dumps(res.record)                    # written to accuracy_log.jsonl as it is
    assert "regraded" not in M.process_batch(t, nt, step=1, mode="polaris", rng=np.random.default_rng(0)).record
    with pytest.raises(ValueError, match="rescore"):
        M.process_batch(t, nt, step=1, mode="released", rng=np.random.default_rng(0))


def test_released_mode_shared_answer_gives_spurious_positive():
    # the only way a copy scores in released mode: the two problems share an answer
    t, nt = make_batch([[5, 5, 5, 5], [5, 9, 5, 9]], [5, 5])
    # 1 informative of 2 groups: 1 <= 2 // 3 = 0 is false -> no skip
    res = M.process_batch(t, nt, step=1, mode="released", rng=np.random.default_rng(0), rescore=grade_rescore)
    assert M.row_rewards(res.tensors)[:4].tolist() == [1, 0, 1, 0]


@pytest.mark.parametrize("n_groups,n_inf,skip", [(4, 1, True), (4, 2, False), (128, 42, True),
                                                 (128, 43, False), (3, 1, True), (6, 3, False)])
def test_skip_rule(n_groups, n_inf, skip):
    groups = [[1, 2, 1, 2]] * n_inf + [[9, 9, 9, 9]] * (n_groups - n_inf)
    t, nt = make_batch(groups, [1] * n_groups)
    for mode in ("polaris", "released"):
        res = M.process_batch(t, nt, step=7, global_step=3, attempt=1, mode=mode,
                              rng=np.random.default_rng(0), rescore=grade_rescore)
        assert res.skip is skip and res.metrics["polaris/skipped"] == int(skip)
        assert res.record["skipped"] is skip and (res.record["step"], res.record["global_step"]) == (7, 3)
        assert res.record["attempt"] == 1
        if skip:  # a skipped batch is left as it was (the trainer discards it)
            assert torch.equal(res.tensors["rm_scores"], t["rm_scores"]) and res.plan.substituted == 0
    off = M.process_batch(t, nt, step=3, mode="off", rng=np.random.default_rng(0))
    assert not off.skip and off.plan.substituted == 0 and torch.equal(off.tensors["responses"], t["responses"])


def test_donors_with_replacement_when_few_informative():
    groups = [[1, 2, 1, 2]] * 3 + [[9, 9, 9, 9]] * 5
    t, nt = make_batch(groups, [1] * 8)
    plan = M.plan_substitution(M.group_stats(t, nt), "polaris", np.random.default_rng(3))
    assert sorted(plan.donors) == [3, 4, 5, 6, 7] and set(plan.donors.values()) <= {0, 1, 2}
    with pytest.raises(ValueError, match="substitution mode"):
        M.plan_substitution(M.group_stats(t, nt), "bogus", np.random.default_rng(0))


def test_rollout_rescue():
    buf = M.RescueBuffer(seed=0)
    # step 1: prompt 100 solved 2/4 -> a correct rollout is stored; prompt 101 never solved
    t1, nt1 = make_batch([[1, 9, 1, 9], [8, 8, 8, 8], [3, 9, 9, 9]], [1, 2, 3])
    r1 = M.process_batch(t1, nt1, step=1, mode="off", rng=np.random.default_rng(0), rescue=buf)
    assert r1.rescued == 0 and set(buf.store) == {100, 102}
    # step 2: prompt 100 fails 4/4 -> one rollout replaced by the stored one (reward 1);
    # prompt 101 fails 4/4 with nothing stored -> unchanged
    t2, nt2 = make_batch([[9, 9, 9, 9], [8, 8, 8, 8], [3, 3, 3, 9]], [1, 2, 3])
    r2 = M.process_batch(t2, nt2, step=2, mode="off", rng=np.random.default_rng(0), rescue=buf)
    assert r2.rescued == 1 and r2.metrics["polaris/rescued"] == 1
    rew = M.row_rewards(r2.tensors)
    assert rew[:4].sum() == 1 and rew[4:8].sum() == 0
    row = int(np.flatnonzero(rew[:4] == 1)[0])
    assert r2.tensors["responses"][row].tolist() == [1, 7, 0, 0]
    assert r2.non_tensors["uid"][row] == "u0"            # it joins the failing prompt's group
    assert r2.non_tensors["score"][row] == 1.0
    # the accuracy record is the real (pre-rescue) accuracy
    assert r2.record["score"] == [0.0, 0.0, 0.75]
    # with substitution on, the rescued group is now informative and can be a donor
    buf2 = M.RescueBuffer(seed=0)
    M.process_batch(t1, nt1, step=1, mode="off", rng=np.random.default_rng(0), rescue=buf2)
    r3 = M.process_batch(t2, nt2, step=2, mode="polaris", rng=np.random.default_rng(0), rescue=buf2)
    assert r3.metrics["polaris/informative_frac"] == pytest.approx(2 / 3) and not r3.skip
    # rescue off: nothing replaced
    r4 = M.process_batch(t2, nt2, step=2, mode="off", rng=np.random.default_rng(0), rescue=None)
    assert r4.rescued == 0 and M.row_rewards(r4.tensors)[:4].sum() == 0


def test_accuracy_log_append_truncate_and_torn_line(tmp_path):
    log = M.AccuracyLog(tmp_path / "acc.jsonl")
    assert log.next_step() == 1 and log.truncate_after(0) == 0
    # batch 3 was skipped: batches 2 and 3 both belong to optimiser step 2
    for batch, gstep in ((1, 1), (2, 2), (3, 2), (4, 3), (5, 4)):
        log.append({"step": batch, "global_step": gstep, "index": [1, 2], "score": [0.5, gstep / 4]})
    with open(log.path, "a") as f:
        f.write('{"step": 6, "global_step": 5, "index": [1')          # a writer killed mid-line
    assert [r["step"] for r in log.read()] == [1, 2, 3, 4, 5]
    # resume from the checkpoint of step 2: lines of steps 3, 4 (and the torn one) go
    assert log.truncate_after(2) == 3
    assert [r["global_step"] for r in log.read()] == [1, 2, 2]
    assert log.truncate_after(2) == 0 and log.next_step() == 4
    log.append({"step": 4, "global_step": 3, "index": [1, 2], "score": [1.0, 1.0]})
    acc = M.per_prompt_accuracy(log.read())
    assert acc == {1: pytest.approx((0.5 * 3 + 1) / 4), 2: pytest.approx((0.25 + 0.5 + 0.5 + 1) / 4)}
    with pytest.raises(ValueError, match="differ in length"):
        log.append({"step": 4, "index": [1], "score": [0.1, 0.2]})
    lines = log.path.read_text().splitlines()
    assert all(json.loads(x) for x in lines)


def test_merge_attempt_logs(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(json.dumps({"step": s, "data": {"x": s}}) + "\n" for s in (1, 2, 3)))
    b.write_text("".join(json.dumps({"step": s, "data": {"x": 10 * s}}) + "\n" for s in (3, 4)))
    merged = M.merge_attempt_logs([a, b])
    assert [(r["step"], r["data"]["x"]) for r in merged] == [(1, 1), (2, 2), (3, 30), (4, 40)]


# ---------------------------------------------------------------------------------------------
# canonical row order: the same completions in the same rows whatever order they arrived in

def _permuted_within_groups(tensors, nt, rng):
    """The batch with each group's rows shuffled inside the group's positions (what a different
    arrival order at the rollout server does) and the permutation used."""
    perm = np.arange(len(nt["uid"]))
    for g in M.group_rows(nt["uid"]):
        perm[g] = rng.permutation(g)
    return {k: v[perm] for k, v in tensors.items()}, {k: v[perm] for k, v in nt.items()}, perm


def test_canonical_row_order_undoes_any_arrival_order():
    tensors, nt = make_batch([[1, 2, 1, 3], [5, 5, 4, 6], [9, 9, 9, 9]], gts=[1, 5, 9])
    tensors["rollout_log_probs"] = torch.randn(len(nt["uid"]), R)
    perm0 = M.canonical_row_order(nt["uid"], tensors)
    ref = {k: v[perm0] for k, v in tensors.items()}
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(20):
        t2, nt2, p = _permuted_within_groups(tensors, nt, rng)
        seen.add(tuple(p))
        perm = M.canonical_row_order(nt2["uid"], t2)
        for k in ref:
            assert torch.equal(t2[k][perm], ref[k]), k
        assert list(nt2["uid"][perm]) == list(nt["uid"])   # groups keep their positions
    assert len(seen) > 5   # the arrival orders really differed


def test_canonical_row_order_sorts_inside_groups_only():
    tensors, nt = make_batch([[3, 1, 2], [2, 1]], gts=[1, 2])
    perm = M.canonical_row_order(nt["uid"], tensors)
    # group 0 holds rows 0-2 (answers 3, 1, 2), group 1 rows 3-4 (answers 2, 1)
    assert perm.tolist() == [1, 2, 0, 4, 3]
    assert sorted(perm.tolist()) == list(range(5))


def test_canonical_row_order_breaks_ties_by_log_probs():
    """Identical tokens drawn with different seeds: the rollout log-probs decide, so a tie never
    falls back to arrival order."""
    tensors, nt = make_batch([[4, 4, 4]], gts=[4])
    lp = torch.tensor([[-0.3, -1.0, 0, 0], [-0.1, -1.0, 0, 0], [-0.2, -1.0, 0, 0]])
    tensors["rollout_log_probs"] = lp
    perm = M.canonical_row_order(nt["uid"], tensors)
    got = lp[perm]
    for p in ([2, 0, 1], [1, 2, 0]):
        assert torch.equal(lp[p][M.canonical_row_order(nt["uid"], {**tensors, "rollout_log_probs": lp[p]})],
                           got)


def test_canonical_row_order_needs_a_response_field():
    with pytest.raises(KeyError, match="responses"):
        M.canonical_row_order(np.array(["a", "a"], dtype=object), {"rm_scores": torch.zeros(2, 3)})


# ---------------------------------------------------------------------------------------------
# groups that share a prompt: the same split of its rollouts whatever order they arrived in

def _shared_prompt_batch(seeds_per_group, prompt_of_group, gts, completions):
    """Rows of group g carry the completions the server draws for seed numbers
    ``seeds_per_group[g]`` of their prompt (``completions[prompt][k]`` = response tokens)."""
    rows = [(g, k) for g, ks in enumerate(seeds_per_group) for k in ks]
    resp = torch.tensor([completions[prompt_of_group[g]][k] for g, k in rows])
    prompts = torch.tensor([[0, 50 + prompt_of_group[g], 60 + prompt_of_group[g]] for g, _ in rows])
    rm = torch.zeros(len(rows), resp.shape[1])
    rm[:, 1] = torch.tensor([float(int(r[0]) == gts[g]) for r, (g, _) in zip(resp.tolist(), rows)])
    tensors = {"prompts": prompts, "responses": resp, "input_ids": torch.cat([prompts, resp], 1),
               "rm_scores": rm}
    nt = {"uid": np.array([f"u{g}" for g, _ in rows], dtype=object),
          "extra_info": np.array([{"index": 100 + g} for g, _ in rows], dtype=object),
          "reward_model": np.array([{"ground_truth": str(gts[g])} for g, _ in rows], dtype=object),
          "data_source": np.array(["synthetic"] * len(rows), dtype=object),
          "acc": np.array([bool(rm[i, 1]) for i in range(len(rows))], dtype=object),
          M.SEED_INDEX_KEY: np.array([k for _, k in rows], dtype=object)}
    return tensors, nt


GROUP_FIELDS = ("uid", "extra_info", "reward_model", "data_source")


def _pooled(tensors, nt):
    perm, shared = M.pool_duplicate_prompts(nt["uid"], M.prompt_pool_keys(tensors, nt), nt[M.SEED_INDEX_KEY])
    assert shared == 2
    return M.move_rollouts(tensors, nt, perm, GROUP_FIELDS)


def test_groups_sharing_a_prompt_get_the_same_rollouts_whatever_the_arrival_order():
    """Groups 0 and 2 hold one problem (prompt 7, answer 1); the server numbered its 8 requests in
    arrival order. Pooled, the group first in the batch gets seeds 0-3 in every run, its rewards
    follow its rollouts, and every group keeps its own uid and dataset index."""
    comp = {7: [[1, 10 + k, 0] if k < 4 else [9, 10 + k, 0] for k in range(8)],   # seeds 0-3 solve it
            8: [[2, 20 + k, 0] for k in range(4)]}
    prompt_of, gts = [7, 8, 7], [1, 2, 1]
    ref_t, ref_nt = _pooled(*_shared_prompt_batch([[0, 1, 2, 3], [0, 1, 2, 3], [4, 5, 6, 7]], prompt_of, gts, comp))
    assert [int(k) for k in ref_nt[M.SEED_INDEX_KEY]] == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7]
    assert M.row_rewards(ref_t).reshape(3, 4).sum(1).tolist() == [4, 4, 0]
    rng = np.random.default_rng(0)
    splits = set()
    for _ in range(20):
        shared = rng.permutation(8).tolist()          # an arrival order of prompt 7's requests
        t, nt = _shared_prompt_batch([shared[:4], rng.permutation(4).tolist(), shared[4:]], prompt_of, gts, comp)
        splits.add(tuple(sorted(shared[:4])))
        t, nt = _pooled(t, nt)
        perm = M.canonical_row_order(nt["uid"], t)
        for k in ref_t:
            assert torch.equal(t[k][perm], ref_t[k]), k
        for k in nt:
            assert list(nt[k][perm]) == list(ref_nt[k]), k
        assert [e["index"] for e in nt["extra_info"]] == [100] * 4 + [101] * 4 + [102] * 4
        assert all(bool(a) == bool(r) for a, r in zip(nt["acc"], M.row_rewards(t)))   # extras moved with them
    assert len(splits) > 5    # the unpooled splits really differed


def test_pooling_leaves_groups_with_their_own_prompt_or_answer_alone():
    comp = {7: [[1, 10 + k, 0] for k in range(8)], 8: [[2, 20 + k, 0] for k in range(4)]}
    # the same prompt with another ground truth is graded differently: never pooled
    t, nt = _shared_prompt_batch([[5, 1, 6, 3], [0, 1, 2, 3], [0, 4, 2, 7]], [7, 8, 7], [1, 2, 3], comp)
    perm, shared = M.pool_duplicate_prompts(nt["uid"], M.prompt_pool_keys(t, nt), nt[M.SEED_INDEX_KEY])
    assert perm.tolist() == list(range(12)) and shared == 0
    # a shared prompt whose rows carry no seed number cannot be split by it
    t, nt = _shared_prompt_batch([[5, 1, 6, 3], [0, 4, 2, 7]], [7, 7], [1, 1], comp)
    nt[M.SEED_INDEX_KEY][2] = None
    with pytest.raises(ValueError, match=M.SEED_INDEX_KEY):
        M.pool_duplicate_prompts(nt["uid"], M.prompt_pool_keys(t, nt), nt[M.SEED_INDEX_KEY])
    with pytest.raises(ValueError, match="different prompts"):
        M.pool_duplicate_prompts(np.array(["a", "a"], dtype=object), [b"x", b"y"], [0, 1])
    with pytest.raises(ValueError, match="2 uids, 1 pool keys"):
        M.pool_duplicate_prompts(np.array(["a", "a"], dtype=object), [b"x"], [0, 1])
