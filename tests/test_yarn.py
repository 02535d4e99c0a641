"""YaRN entry, context checks and checkpoint patching (polaris_repro.yarn). The patched config
must round-trip through transformers (AutoConfig, the model's rotary embedding); the vLLM round
trip runs in tests/test_vllm_cpu.py and generation past the original limit in test_sampling.py."""
from __future__ import annotations

import json
import math

import pytest

from polaris_repro import yarn

QWEN3_4B_STYLE = {   # Qwen3-4B's config.json as shipped (transformers 4 layout), tiny dims
    "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": 64,
    "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
    "num_key_value_heads": 1, "head_dim": 16, "max_position_embeddings": 40960,
    "rope_theta": 1000000, "rope_scaling": None, "tie_word_embeddings": True,
    "eos_token_id": 2, "torch_dtype": "bfloat16",
}
TF5_STYLE = {**{k: v for k, v in QWEN3_4B_STYLE.items() if k not in ("rope_theta", "rope_scaling")},
             "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0}}


def _folder(tmp_path, cfg, name="model"):
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 40960}))
    (d / "weights.bin").write_bytes(b"\0" * 64)
    return d


def test_entry_keys_and_attention_factor():
    e = yarn.yarn_rope_scaling(1.5, 32768)
    assert e["rope_type"] == "yarn" and e["factor"] == 1.5 and e["attn_factor"] == 1.0
    assert e["original_max_position_embeddings"] == 32768
    # what vLLM of POLARIS's time applied with attn_factor 1.0: 0.1 ln(1.5) + 1
    assert e["attention_factor"] == pytest.approx(0.1 * math.log(1.5) + 1)
    assert yarn.yarn_rope_scaling(2.0, 256, attn_factor=0.5)["attention_factor"] == \
        pytest.approx(0.5 * (0.1 * math.log(2) + 1))
    for bad in [dict(factor=0.5), dict(factor="2"), dict(original=0), dict(attn_factor=0)]:
        kw = {"factor": 1.5, "original": 32768, "attn_factor": 1.0, **bad}
        with pytest.raises(ValueError):
            yarn.yarn_rope_scaling(kw["factor"], kw["original"], kw["attn_factor"])


def test_required_factor():
    assert yarn.required_factor(49152, 32768) == 1.5
    assert yarn.required_factor(40960, 40960) == 1.0
    assert yarn.required_factor(1000, 40960) == 1.0
    f = yarn.required_factor(91024, 40960)
    assert f == 2.23 and f * 40960 >= 91024 and (f - 0.01) * 40960 < 91024


def test_check_length_names_numbers_and_factor():
    assert yarn.check_length(QWEN3_4B_STYLE, 1024, 39936) == 40960      # stage 1 fits exactly
    with pytest.raises(yarn.ContextLengthError) as e:                     # the 90K evaluation
        yarn.check_length(QWEN3_4B_STYLE, 1024, 90000, name="Qwen3-4B")
    msg = str(e.value)
    for s in ("Qwen3-4B", "1024 tokens", "max_new_tokens (90000)", "91024", "40960", "2.23"):
        assert s in msg, (s, msg)
    # a YaRN model: the factor is stated against its original context
    patched = {**QWEN3_4B_STYLE, **yarn.config_overrides(
        QWEN3_4B_STYLE, rope_scaling=yarn.yarn_rope_scaling(1.5, 32768), max_position_embeddings=49152)}
    assert yarn.original_context(patched) == 32768
    with pytest.raises(yarn.ContextLengthError, match=r"factor of 2\.78 on original_max_position_embeddings = 32768"):
        yarn.check_length(patched, 1024, 90000)


@pytest.mark.parametrize("style", [QWEN3_4B_STYLE, TF5_STYLE], ids=["tf4-config", "tf5-config"])
def test_apply_yarn_round_trips_through_transformers(tmp_path, style):
    from transformers import AutoConfig, AutoModelForCausalLM

    src = _folder(tmp_path, style)
    out = yarn.apply_yarn(src, 1.5, out_dir=tmp_path / "yarn", original_max_position_embeddings=32768)
    assert out == tmp_path / "yarn"
    assert json.loads((src / "config.json").read_text()) == style, "the source folder was modified"
    assert (out / "weights.bin").read_bytes() == b"\0" * 64
    assert json.loads((out / "config.orig.json").read_text()) == style
    assert json.loads((out / "tokenizer_config.json").read_text())["model_max_length"] == 49152
    cfg = AutoConfig.from_pretrained(out)
    rp = cfg.rope_parameters
    assert rp["rope_type"] == "yarn" and rp["factor"] == 1.5
    assert rp["original_max_position_embeddings"] == 32768
    assert rp["rope_theta"] == 1_000_000, "rope_theta lost (transformers would fall back to 10,000)"
    assert cfg.max_position_embeddings == 49152            # max(40960, 1.5 x 32768)
    model = AutoModelForCausalLM.from_config(cfg)
    rot = model.model.rotary_emb
    assert rot.rope_type == "yarn"
    assert rot.attention_scaling == pytest.approx(0.1 * math.log(1.5) + 1)
    # the saved-and-reloaded config keeps the entry
    cfg.save_pretrained(tmp_path / "resaved")
    again = AutoConfig.from_pretrained(tmp_path / "resaved")
    assert again.rope_parameters["rope_type"] == "yarn" and again.rope_parameters["rope_theta"] == 1_000_000


def test_apply_yarn_in_place_keeps_first_original(tmp_path):
    src = _folder(tmp_path, QWEN3_4B_STYLE)
    assert yarn.apply_yarn(src, 2.0) == src
    cfg = json.loads((src / "config.json").read_text())
    assert cfg["max_position_embeddings"] == 81920                       # 2 x 40960
    assert cfg["rope_scaling"]["original_max_position_embeddings"] == 40960
    assert json.loads((src / "config.orig.json").read_text()) == QWEN3_4B_STYLE
    # patching again (explicit limit) neither loses the first original nor stacks factors
    yarn.apply_yarn(src, 3.0, max_position_embeddings=131072)
    cfg = json.loads((src / "config.json").read_text())
    assert cfg["max_position_embeddings"] == 131072 and cfg["rope_parameters"]["factor"] == 3.0
    assert cfg["rope_parameters"]["original_max_position_embeddings"] == 40960
    assert json.loads((src / "config.orig.json").read_text()) == QWEN3_4B_STYLE
    with pytest.raises(ValueError, match="below factor x original"):
        yarn.apply_yarn(src, 4.0, max_position_embeddings=50000)


def test_extend_context_without_rope_scaling(tmp_path):
    from transformers import AutoConfig

    src = _folder(tmp_path, TF5_STYLE)
    out = yarn.extend_context(src, 53248, out_dir=tmp_path / "ext")
    cfg = AutoConfig.from_pretrained(out)
    assert cfg.max_position_embeddings == 53248
    assert cfg.rope_parameters["rope_type"] == "default" and cfg.rope_parameters["rope_theta"] == 1_000_000
    yarn.check_length(out, 1024, 52224)                                  # stage 3 now fits
    with pytest.raises(yarn.ContextLengthError):
        yarn.check_length(src, 1024, 52224)
    with pytest.raises(ValueError, match="only raises"):
        yarn.extend_context(src, 1000)


def test_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        yarn.apply_yarn(tmp_path, 1.5)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json"):
        yarn.check_length(tmp_path, 1, 1)


def test_overrides_switch_yarn_off_keeping_theta(tmp_path):
    """The evaluation's "without YaRN" twin of a model whose config carries YaRN: load-time
    overrides with rope_type default (as the samplers apply them) give plain RoPE, same theta."""
    from transformers import AutoConfig, AutoModelForCausalLM

    out = yarn.apply_yarn(_folder(tmp_path, QWEN3_4B_STYLE), 1.5, out_dir=tmp_path / "y")
    ov = yarn.config_overrides(out, rope_scaling={"rope_type": "default"})
    assert ov["rope_parameters"] == {"rope_type": "default", "rope_theta": 1_000_000}
    cfg = AutoConfig.from_pretrained(out, **ov)
    assert cfg.rope_parameters["rope_type"] == "default" and cfg.rope_parameters["rope_theta"] == 1_000_000
    rot = AutoModelForCausalLM.from_config(cfg).model.rotary_emb
    assert rot.rope_type == "default" and rot.attention_scaling == 1.0


# ---- the YaRN base is an explicit choice (issue 13 §2) -------------------------------------------
def test_the_two_bases_give_different_frequencies():
    """Qwen3-4B (head_dim 128, theta 1e6), YaRN 1.5: base 32,768 (Qwen's documented native context)
    vs the checkpoint's 40,960 -- transformers' inverse frequencies differ in 17 of 64 dimensions
    by up to 2.9 % (the issue's numbers), so the base must be stated, not defaulted."""
    import torch
    from transformers import AutoConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    def inv_freq(orig):
        cfg = {**QWEN3_4B_STYLE, "head_dim": 128, "hidden_size": 4096, "num_attention_heads": 32,
               **yarn.config_overrides(QWEN3_4B_STYLE, rope_scaling=yarn.yarn_rope_scaling(1.5, orig),
                                       max_position_embeddings=131072)}
        c = AutoConfig.for_model("qwen3", **{k: v for k, v in cfg.items() if k not in ("architectures", "model_type")})
        return ROPE_INIT_FUNCTIONS["yarn"](c, "cpu")[0]

    a, b = inv_freq(32768), inv_freq(40960)
    rel = (a - b).abs() / b
    assert int((rel > 1e-6).sum()) == 17 and 0.028 < float(rel.max()) < 0.030


def test_evaluation_uses_the_stated_base_and_records_the_entry(tmp_path):
    from dataclasses import replace

    from polaris_repro.config import ConfigError, ContextExtension, load_config
    from polaris_repro.evaluation import ModelSpec, context_extension, protocol
    from polaris_repro.evaluation.statistics import rope_entry

    cfg = load_config("paper-4b")
    model = _folder(tmp_path, QWEN3_4B_STYLE)
    spec = ModelSpec("base+yarn", str(model), True, "base", None)
    ext = context_extension(spec, protocol(cfg), cfg, str(model))
    assert ext["rope_scaling"]["original_max_position_embeddings"] == 32768     # the YAML's, not 40,960
    assert ext["max_position_embeddings"] == 131072
    line = rope_entry(ext)
    assert '"original_max_position_embeddings": 32768' in line and '"rope_type": "yarn"' in line
    # the notebook parameter runs the ablation with the checkpoint's own limit as the base instead
    ext2 = context_extension(spec, protocol(cfg, yarn_original_max_position_embeddings=40960), cfg, str(model))
    assert ext2["rope_scaling"]["original_max_position_embeddings"] == 40960
    # without YaRN nothing is scaled
    off = context_extension(ModelSpec("base", str(model), False, "base", None), protocol(cfg), cfg, str(model))
    assert off["rope_scaling"] is None and rope_entry(off).startswith("the checkpoint's own rope settings")
    # a model whose own config cannot hold the evaluation is refused before generation
    small = _folder(tmp_path, {**QWEN3_4B_STYLE, "max_position_embeddings": 2048}, name="small")
    cfg_small = replace(cfg, model=replace(cfg.model, context_extension=ContextExtension(None, None)))
    with pytest.raises(ConfigError, match=r"small.*'evaluation\.yarn\.factor' = 1\.5"):
        context_extension(spec, protocol(cfg_small), cfg_small, str(small))
