"""``polaris-repro train``: verl training of POLARIS stages.

    polaris-repro train --tier paper-4b --stage 1 --dry-run      print the stage's verl overrides
                                                                 (composed and validated by verl;
                                                                 --explain: each with its source)
    polaris-repro train --tier smoke --run DIR                   run every stage (resumes)
    polaris-repro train --tier tiny --stage 2 --run DIR          run one stage
    polaris-repro train --tier paper-4b --render-launch OUT      write SLURM / ray-job templates

A stage is a name (``stage2``) or a 1-based number. Without ``--run`` a new run folder is made.
Exit codes: 0 done, 1 a launch failed, 2 bad input, 75 stopped on request (SIGUSR1 or
``<run>/03_training/STOP``: a checkpoint was saved at a step boundary; run again to resume),
130/143 interrupted (Ctrl-C / SIGTERM: resumes from the last periodic checkpoint).
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ..config import SUBSTITUTION_MODES, TEMPERATURE_MODES, ConfigError, load_config
from . import time_limits as TL
from . import verl_config as vc


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="polaris-repro train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tier", required=True)
    p.add_argument("--stage", action="append", default=None,
                   help="stage name or 1-based number (repeatable; default: all stages)")
    p.add_argument("--run", default=None, help="run folder (default: a new one under artifacts/)")
    p.add_argument("--dry-run", action="store_true", help="print the verl overrides, do not train")
    p.add_argument("--print-config", action="store_true", help="with --dry-run: print the composed config")
    p.add_argument("--explain", action="store_true",
                   help="with --dry-run: print each verl override with its source (recipe: the tier config key "
                        "and its file, or a constant; CPU platform; --verl)")
    p.add_argument("--no-compose", action="store_true", help="with --dry-run: skip the Hydra check")
    p.add_argument("--substitution", choices=SUBSTITUTION_MODES, default=None)
    p.add_argument("--rescue", dest="rescue", action="store_true", default=None)
    p.add_argument("--no-rescue", dest="rescue", action="store_false")
    p.add_argument("--temperature", type=float, default=None, help="override the rollout temperature")
    p.add_argument("--temperature-mode", choices=TEMPERATURE_MODES, default=None,
                   help="later stages: configured temperature or a search on the previous model "
                        "(default: training.temperature_mode)")
    p.add_argument("--fresh", action="store_true", help="discard the stage folders and start over")
    p.add_argument("--timeout", type=float, default=None, help="seconds per verl launch")
    p.add_argument("-o", "--override", action="append", default=[], help="tier config key.path=value")
    p.add_argument("--verl", action="append", default=[], help="extra verl Hydra override (appended last)")
    p.add_argument("--skip-doctor", action="store_true",
                   help="GPU tiers: start without the doctor's checks (polaris-repro doctor)")
    p.add_argument("--render-launch", metavar="OUT_DIR", default=None,
                   help="render the SLURM batch script and ray job submit command into OUT_DIR")
    p.add_argument("--python-env", metavar="PREFIX", default=None,
                   help="with --render-launch: the venv or conda prefix the scripts activate on every node "
                        "(default: this repository's .venv)")
    p.add_argument("--socket-ifname", metavar="IFACE", default=None,
                   help="with --render-launch: NCCL_SOCKET_IFNAME / GLOO_SOCKET_IFNAME (e.g. ib0)")
    p.add_argument("--cpus-per-node", type=int, default=64,
                   help="with --render-launch: #SBATCH --cpus-per-task and ray start --num-cpus (default 64)")
    p.add_argument("--train-args", default="",
                   help="with --render-launch: extra arguments of the scripts' polaris-repro train command")
    p.add_argument("--time", default=None, metavar="D-HH:MM:SS",
                   help="with --render-launch: the job's time limit (#SBATCH --time). Without it the partition's "
                        "default limit applies. Before the limit the job checkpoints and requeues itself")
    p.add_argument("--hf-home", default=None, metavar="PATH",
                   help="with --render-launch: HF_HOME on every node (a prefetched shared cache), read offline "
                        "(HF_HUB_OFFLINE=1)")
    p.add_argument("--logger", default=None, metavar="LIST",
                   help="with --render-launch: training loggers, e.g. console,wandb (verl's trainer.logger; "
                        "doctor checks wandb's credentials)")
    p.add_argument("--signal-lead", type=int, default=None, metavar="SECONDS",
                   help="with --render-launch: SIGUSR1 this long before the limit (default: sized from the "
                        "plan's longest step)")
    return p


def cli(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        cfg = load_config(args.tier, args.override)
        if args.render_launch:
            from .launch_scripts import render_all

            from .launch_scripts import logger_override

            logger = logger_override(args.logger)
            if logger:
                cfg = load_config(args.tier, [*args.override, logger])
            # quoted: an override may hold spaces (a YAML list of stages)
            overrides = [*args.override, *([logger] if logger else [])]
            train_args = " ".join([*(f"-o {shlex.quote(o)}" for o in overrides), args.train_args]).strip()
            for path in render_all(cfg, args.render_launch, run_dir=args.run, python_env=args.python_env,
                                   socket_ifname=args.socket_ifname, cpus_per_task=args.cpus_per_node,
                                   train_args=train_args, time_limit=args.time, signal_lead_s=args.signal_lead,
                                   hf_home=args.hf_home):
                print(path)
            from .time_limits import time_limit_lines

            try:
                for line in time_limit_lines(cfg, args.time, signal_lead_s=args.signal_lead):
                    print(line)
            except ValueError as e:   # the script is written; say what is wrong with the limit
                print(f"warning: {e}")
            return 0
        stages = [cfg.stage(s).index for s in args.stage] if args.stage else \
            [spec.index for spec in cfg.training.stages]
        if args.dry_run:
            return _dry_run(cfg, stages, args)
        from ..doctor import run_before

        if not run_before(cfg, skip=args.skip_doctor, verl_overrides=args.verl, run_dir=args.run):
            return 1
        from ..artifacts import Manifest, run_dir as make_run_dir
        from . import stages as S

        rdir = Path(args.run) if args.run else make_run_dir(cfg.tier)
        rdir.mkdir(parents=True, exist_ok=True)
        Manifest(rdir, cfg)
        print(f"run folder: {rdir}", flush=True)
        S.run_stages(cfg, rdir, stages, substitution=args.substitution, rescue=args.rescue,
                     temperature=args.temperature, temperature_mode=args.temperature_mode,
                     resume=not args.fresh, timeout=args.timeout, extra_overrides=args.verl,
                     log=lambda s: print(s, flush=True))
        return 0
    except TL.StopRequested as e:
        print(f"stopped on request: {e}; checkpoint saved, run the same command again to resume "
              f"(exit {TL.EXIT_STOPPED})", flush=True)
        return TL.EXIT_STOPPED
    except (ConfigError, vc.StageError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a failed launch: the message names the log
        from .supervisor import LaunchFailed

        if isinstance(e, LaunchFailed):
            print(f"error: {e}", file=sys.stderr)
            return 1
        raise


def _dry_run(cfg: dict, stages: list[int], args) -> int:
    from . import stages as S

    run_dir = Path(args.run) if args.run else Path("RUN_DIR")
    for i in stages:
        plan = S.plan_stage(cfg, run_dir, i, substitution=args.substitution, rescue=args.rescue,
                            temperature=args.temperature, dry_run=True, log=lambda s: None)
        ov_set = S.override_set_for(cfg, plan, extra=args.verl)
        ov = ov_set.items()
        print(f"# tier {cfg.tier} {plan.name}: rollout T={plan.temperature} ({plan.temperature_source}); "
              f"train data: {plan.data_report.get('source')}; model: {plan.model_path}")
        if plan.context:
            print(f"# context: the model's max_position_embeddings {plan.context['from']} < token budget; "
                  f"raised to {plan.context['to']} before launch (yarn.extend_context)")
        print("python -m polaris_repro.training.main_polaris \\")
        if args.explain:
            from ..config import config_sources

            for line in ov_set.explain(config_sources(args.tier, args.override)):
                print(f"    {line}")
        else:
            for k, item in enumerate(ov):
                print(f"    {item}" + (" \\" if k < len(ov) - 1 else ""))
        if not args.no_compose:
            conf = vc.compose(ov)
            vc.check_with_verl(conf)
            print(f"# composed with verl's Hydra config and validated by verl: OK ({len(ov)} overrides)")
            if args.print_config:
                from omegaconf import OmegaConf

                print(OmegaConf.to_yaml(conf))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(cli())
