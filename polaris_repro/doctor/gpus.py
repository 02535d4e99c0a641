"""Checks of the GPUs and the cluster: GPUs per node, the Ray cluster's nodes, verl's divisibility
rules for the parallel sizes, and what only the cluster can exercise (NCCL, Ulysses, sockets)."""
from __future__ import annotations

from ..resources import ModelSpec, is_gpu_tier, world_size
from .hardware import Hardware, ray_gpu_nodes
from .software import flash_attn_step
from .rows import Row, row


def _ray_cluster_row(cfg: dict, hw: Hardware, per_node: int, nnodes: int, unit: str = "GPU") -> Row:
    """The Ray cluster at ``RAY_ADDRESS`` against the tier's nodes x GPUs per node (names each node)."""
    if hw.ray_nodes is None and hw.ray_error is None:
        if nnodes > 1:
            how = ("make rehearse starts one on this machine (docs/cluster.md)"
                   if not is_gpu_tier(cfg) else
                   f"polaris-repro train --tier {cfg.tier} --render-launch DIR; sbatch DIR/polaris_slurm.sbatch")
            return row("ray cluster", "fail", f"the tier needs training.nnodes = {nnodes} nodes; RAY_ADDRESS is "
                        "not set (one node)", f"start a Ray cluster ({how}) and set RAY_ADDRESS, or "
                        "-o training.nnodes=1 -o cluster.nnodes=1")
        return row("ray cluster", "ok", "single node: verl starts a local Ray (RAY_ADDRESS not set)")
    if hw.ray_error is not None:
        return row("ray cluster", "fail", f"RAY_ADDRESS={hw.env.get('RAY_ADDRESS')}: {hw.ray_error}",
                    "check the address (ray status on the head node) or unset RAY_ADDRESS")
    nodes = ray_gpu_nodes(hw.ray_nodes)
    good = [n for n in nodes if n["gpus"] >= per_node]
    total = sum(n["gpus"] for n in nodes)
    desc = (f"{len(nodes)} alive node(s), {total} {unit}(s) (per node: "
            + ", ".join(f"{n['id'][:8]} {n['gpus']}" for n in nodes) + ")")
    if len(good) < nnodes:
        return row("ray cluster", "fail", f"{desc}; the tier needs {nnodes} node(s) with {per_node} {unit}s each",
                    "add nodes to the cluster (ray start --address=... "
                    f"--num-gpus={per_node}) or lower training.nnodes / training.n_gpus_per_node")
    return row("ray cluster", "ok", f"{desc}; needs {nnodes} x {per_node}")


def check_gpus(cfg: dict, hw: Hardware) -> list[Row]:
    tr = cfg.training
    per_node, nnodes = int(tr.n_gpus_per_node), int(tr.nnodes)
    if not is_gpu_tier(cfg):
        rows = [row("gpus", "ok", "not needed: CPU tier")]
        if nnodes > 1 or hw.ray_nodes is not None or hw.ray_error is not None:
            # a CPU tier on a Ray cluster (the rehearsal): one fake GPU per FSDP rank on every node
            rows.append(_ray_cluster_row(cfg, hw, per_node, nnodes, unit="fake GPU"))
        return rows
    rows = []
    names = sorted({f"{g.name} {g.memory_gb:.0f} GB" for g in hw.gpus})
    local = f"{len(hw.gpus)} x {', '.join(names)}" if hw.gpus else "no GPU"
    if hw.ray_nodes is not None:
        rows.append(row("gpus per node", "ok", f"this node: {local}; per-node counts from the Ray cluster (below)"))
    elif len(hw.gpus) < per_node:
        rows.append(row("gpus per node", "fail", f"{local}; the tier needs training.n_gpus_per_node = {per_node}",
                         f"run on a node with {per_node} GPUs, or -o training.n_gpus_per_node={len(hw.gpus) or 1} "
                         "(smaller tier: single-gpu)"))
    elif len(hw.gpus) > per_node:
        rows.append(row("gpus per node", "warn", f"{local}; the tier uses {per_node} of them",
                         f"-o training.n_gpus_per_node={len(hw.gpus)} to use them all"))
    else:
        rows.append(row("gpus per node", "ok", f"{local} = training.n_gpus_per_node"))
    rows.append(_ray_cluster_row(cfg, hw, per_node, nnodes))
    rows.append(check_parallelism(cfg))
    return rows


NOT_REHEARSED = ("NCCL collectives", "verl's vLLM rollout (weight sync, sleep mode, CUDA graphs)",
                 "remove-padding and Ulysses sequence parallel (flash-attention varlen kernels)",
                 "tensor-parallel vLLM", "CPU/GPU offload of parameters and optimizer")


def check_nodes(cfg: dict, hw: Hardware) -> list[Row]:
    """What every Ray node sees (a task pinned to each, :func:`.hardware.node_view`): the tier's hub
    model in that node's Hugging Face cache, the run folder there (shared storage) writable, and
    wandb's credentials when the tier logs to wandb."""
    if not hw.node_views:
        return []
    model = str(cfg.model.path)
    hub = "/" in model and not model.startswith(("builtin:", "/", "."))
    rows = []
    for v in hw.node_views:
        label = f"node {v.get('host')} ({str(v.get('node_id'))[:8]})"
        found, status, fix = [f"HF_HOME={v.get('hf_home') or '~/.cache/huggingface'}"], "ok", []
        if hub:
            if v.get("model"):
                found.append(f"{model} cached")
            elif v.get("model") is None:
                found.append(f"{model}: cache not readable there")
                status = "warn"
            else:
                found.append(f"{model} NOT cached" + (" and HF_HUB_OFFLINE=1" if v.get("offline") else
                                                       ": every node downloads it at its first use"))
                status = "fail" if v.get("offline") else "warn"
                fix.append("polaris-repro fetch --tier T --to DIR, then render with --hf-home DIR")
        if "wandb" in [str(x) for x in cfg.training.logger or []] and v.get("wandb") is False:
            found.append("no wandb credentials")
            status = "fail"
            fix.append("WANDB_API_KEY in the job's environment (or wandb login on shared home, WANDB_MODE=offline)")
        rd = v.get("run_dir")
        if rd:
            found.append(f"run folder {rd}")
            if rd.startswith("not writable"):
                status = "fail"
                fix.append("put the run folder on storage every node can write (--run)")
        rows.append(row(label, status, "; ".join(found), "; ".join(fix)))
    return rows


def check_ray_auth(cfg: dict, hw: Hardware) -> list[Row]:
    """Ray 2.60's token authentication: a cluster started with ``ray start --head`` needs a token that
    ``ray start`` does not create, and every node, driver and job submission must present it."""
    multi = int(cfg.training.nnodes) > 1 or bool(hw.env.get("RAY_ADDRESS"))
    if not multi:
        return [row("ray auth token", "ok", "one node: verl's local Ray creates its own token")]
    mode = hw.env.get("RAY_AUTH_MODE")
    if mode == "disabled":
        return [row("ray auth token", "warn", "RAY_AUTH_MODE=disabled: anyone who reaches the cluster's ports can "
                    "run code on it", "unset RAY_AUTH_MODE; the launch scripts create a token")]
    if hw.ray_token:
        return [row("ray auth token", "ok", f"token from {hw.ray_token} (mode {mode or 'token, Ray default'})")]
    if hw.ray_nodes is not None:
        return [row("ray auth token", "ok", "the cluster at RAY_ADDRESS accepted this driver (listed its nodes)")]
    if hw.env.get("RAY_ADDRESS"):
        return [row("ray auth token", "fail", f"RAY_ADDRESS={hw.env['RAY_ADDRESS']} but no token (RAY_AUTH_TOKEN, "
                    "RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token): a token-mode cluster refuses this driver",
                    "export RAY_AUTH_TOKEN_PATH=<the token file the cluster started with> "
                    "(polaris_slurm.sbatch: RUN_DIR/ray_auth_token)")]
    return [row("ray auth token", "ok", "none yet: polaris_slurm.sbatch and make rehearse create one "
                "(RUN_DIR/ray_auth_token); a `ray start --head` by hand needs `ray get-auth-token --generate` first")]


def check_cluster_only(cfg: dict, hw: Hardware) -> list[Row]:
    """What ``make rehearse`` cannot exercise on a CPU (docs/cluster.md, "What a CPU cannot rehearse"),
    checked where it matters: on the cluster itself."""
    tr = cfg.training
    if not is_gpu_tier(cfg):
        return [row("cluster-only paths", "ok", "not exercised by a CPU tier: " + "; ".join(NOT_REHEARSED)
                     + " (docs/cluster.md: What a CPU cannot rehearse)")]
    rows = []
    if hw.nccl is None:
        rows.append(row("nccl", "warn", "not probed (torch missing or the probe failed)", ""))
    elif hw.nccl:
        rows.append(row("nccl", "ok", "torch.distributed has NCCL (FSDP collectives, vLLM weight sync)"))
    else:
        rows.append(row("nccl", "fail", "torch.distributed has no NCCL: FSDP on GPUs cannot communicate",
                         "install a CUDA build of torch (envs/cluster.txt)"))
    sp = [s.name for s in tr.stages if s.ulysses_sp > 1]
    if sp:
        missing = []
        if not tr.use_remove_padding:
            missing.append("training.use_remove_padding is false (verl's Ulysses path needs it)")
        if not hw.packages.get("flash-attn"):
            missing.append("flash-attn is not installed (remove-padding's varlen attention)")
        rows.append(row("ulysses sp", "fail" if missing else "ok",
                         f"stages {sp} use Ulysses sequence parallel" + (": " + "; ".join(missing) if missing else
                                                                         " with remove-padding and flash-attn"),
                         f"{flash_attn_step()}; -o training.use_remove_padding=true" if missing else ""))
    if int(tr.nnodes) > 1:
        ifs = {k: hw.env.get(k) for k in ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME")}
        if all(ifs.values()):
            rows.append(row("socket interfaces", "ok", ", ".join(f"{k}={v}" for k, v in ifs.items())))
        else:
            rows.append(row("socket interfaces", "warn", "NCCL_SOCKET_IFNAME / GLOO_SOCKET_IFNAME not set: NCCL "
                             "and gloo choose an interface themselves, which fails on nodes with several",
                             "--socket-ifname IFACE at --render-launch (the fabric's interface, e.g. ib0)"))
    return rows


def check_gpus_sampling(cfg: dict, hw: Hardware) -> list[Row]:
    """GPUs for a run that only samples (vLLM on this node): at least one visible."""
    if not is_gpu_tier(cfg):
        return [row("gpus", "ok", "not needed: CPU tier")]
    if not hw.gpus:
        return [row("gpus", "fail", "no GPU visible; sampling runs vLLM on this node", "run on a GPU node")]
    return [row("gpus", "ok", f"{len(hw.gpus)} x {hw.gpus[0].name} {hw.gpus[0].memory_gb:.0f} GB "
                 "(sampling only: the training's nodes are not needed)")]


def check_parallelism(cfg: dict, spec: ModelSpec | None = None) -> Row:
    """verl's divisibility rules for the tier's GPU count, batch, TP and Ulysses SP sizes."""
    tr = cfg.training
    world = world_size(cfg) if is_gpu_tier(cfg) else 1
    per_node = int(tr.n_gpus_per_node) if is_gpu_tier(cfg) else 1
    tp = int(cfg.sampling.tensor_parallel_size)
    n = int(tr.rollout_n)
    problems = []
    if per_node % tp:
        problems.append(f"rollout TP {tp} does not divide {per_node} GPUs per node")
    if (int(tr.train_batch_size) * n) % world:
        problems.append(f"train_batch_size x rollout_n = {int(tr.train_batch_size) * n} is not a multiple of "
                        f"the {world} GPUs")
    for st in tr.stages:
        sp = st.ulysses_sp
        if world % sp:
            problems.append(f"{st.name}: Ulysses SP {sp} does not divide {world} GPUs")
            continue
        dp = world // sp
        if (int(tr.ppo_mini_batch_size) * n) % dp:
            problems.append(f"{st.name}: ppo_mini_batch_size x n = {int(tr.ppo_mini_batch_size) * n} not a "
                            f"multiple of the {dp} data-parallel ranks")
        if spec is not None and sp > 1 and (spec.heads % sp or (spec.kv_heads % sp and sp % spec.kv_heads)):
            problems.append(f"{st.name}: Ulysses SP {sp} must divide the model's {spec.heads} heads and "
                            f"{spec.kv_heads} KV heads (or be a multiple of the KV heads)")
    sps = sorted({s.ulysses_sp for s in tr.stages})
    found = f"{world} GPU(s), rollout TP {tp}, Ulysses SP {sps}, batch {tr.train_batch_size} x {n}"
    if problems:
        return row("parallelism", "fail", found + ": " + "; ".join(problems),
                    "change training.n_gpus_per_node / nnodes, sampling.tensor_parallel_size, the stages' "
                    "ulysses_sp or training.train_batch_size / ppo_mini_batch_size")
    return row("parallelism", "ok", found)
