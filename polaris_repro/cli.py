"""``polaris-repro`` command line.

    polaris-repro config --tier T [-o key=value ...]        print the resolved tier config
                         [--explain]                    (each setting with its source)
    polaris-repro run SECTION --tier T [-p key value ...]   run one section notebook (papermill)
    polaris-repro reproduce --tier T [--seed N] [--run DIR] [--fresh]  run all sections, resuming
    polaris-repro grade FILE.parquet                        grade a file of responses
    polaris-repro train --tier T --stage S [--dry-run]      verl training of one stage
    polaris-repro claims check --run DIR                    recompute the README's numbers
    polaris-repro doctor --tier T [-o key=value ...]        can the tier run on this machine? (exit 1 if not)
    polaris-repro plan --tier T [--gpus N --gpu-type NAME]  what the tier's training will cost
    polaris-repro fetch --tier T [--to DIR] [--offline]     download what the tier reads into one HF_HOME

``run``, ``reproduce`` and ``train`` run the doctor first at the GPU tiers (``--skip-doctor`` skips it).
"""
from __future__ import annotations

import argparse
import importlib
import sys

# subcommands implemented in their own modules: each exposes cli(argv) -> int
EXTERNAL = {
    "grade": "polaris_repro.grading_cli",
    "train": "polaris_repro.training.cli",
    "claims": "polaris_repro.claims",
    "doctor": "polaris_repro.doctor",
    "plan": "polaris_repro.plan",
    "fetch": "polaris_repro.fetch",
}


def _parse_params(pairs: list[list[str]] | None) -> dict:
    import yaml

    out = {}
    for key, value in pairs or []:
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    from .signals import Interrupted, install

    install()   # SIGTERM / SIGHUP -> Interrupted (a KeyboardInterrupt): Ctrl-C's clean-up path
    try:
        return _main(argv)
    except Interrupted as e:
        print(f"polaris-repro: {e}; the running stage was stopped and can be resumed by running "
              "the same command again", file=sys.stderr)
        return 128 + e.signum


def _main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in EXTERNAL:
        return int(importlib.import_module(EXTERNAL[argv[0]]).cli(argv[1:]) or 0)
    p = argparse.ArgumentParser(prog="polaris-repro", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("config", help="print the resolved config of a tier")
    c.add_argument("--tier", required=True)
    c.add_argument("-o", "--override", action="append", default=[], help="key.path=value")
    c.add_argument("--explain", action="store_true",
                   help="print each setting with where it came from (base.yaml, the tier's file, -o)")
    r = sub.add_parser("run", help="run one section notebook with papermill")
    r.add_argument("section")
    r.add_argument("--tier", required=True)
    r.add_argument("--run", default=None, help="run folder (default: a new one)")
    r.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"))
    r.add_argument("--skip-doctor", action="store_true", help="GPU tiers: start without the doctor's checks")
    rp = sub.add_parser("reproduce", help="run all sections in order, resuming an unfinished run")
    rp.add_argument("--tier", required=True)
    rp.add_argument("--run", default=None)
    rp.add_argument("--fresh", action="store_true", help="start a new run instead of resuming")
    rp.add_argument("--seed", type=int, default=None,
                    help="the run's seed: synthetic problems, data order, rollouts, evaluation samples "
                         "(default: the tier's); recorded in the manifest")
    rp.add_argument("-o", "--override", action="append", default=[], help="tier config key.path=value")
    rp.add_argument("--skip-doctor", action="store_true", help="GPU tiers: start without the doctor's checks")
    for name in EXTERNAL:
        sub.add_parser(name, help=f"see polaris-repro {name} --help")
    args = p.parse_args(argv)

    from .config import ConfigError

    try:
        if args.cmd == "config":
            from .config import dump, explain_config, load_config

            if args.explain:
                print("\n".join(explain_config(args.tier, args.override)))
            else:
                print(dump(load_config(args.tier, args.override)), end="")
            return 0
        if args.cmd == "run":
            from .artifacts import run_overrides
            from .config import load_config
            from .doctor import run_before
            from .runner import SectionFailed, run_section

            from .runner import resolve_section

            if not run_before(load_config(args.tier, run_overrides(args.run) if args.run else []),
                              skip=args.skip_doctor, training=resolve_section(args.section) == "03_training",
                              run_dir=args.run):
                return 1
            try:
                nb = run_section(args.section, args.tier, args.run, _parse_params(args.param),
                                 log_output=True)
            except SectionFailed as e:
                print(f"error: {e}", file=sys.stderr)
                return 1
            print(f"executed notebook: {nb}")
            return 0
        if args.cmd == "reproduce":
            from .config import load_config
            from .doctor import run_before
            from .runner import SectionFailed, reproduce

            seed_ov = [f"seed={int(args.seed)}"] if args.seed is not None else []
            if not run_before(load_config(args.tier, seed_ov + list(args.override)), skip=args.skip_doctor,
                              run_dir=args.run):
                return 1
            try:
                reproduce(args.tier, args.run, resume=not args.fresh, seed=args.seed,
                          overrides=args.override)
            except SectionFailed:
                return 1
            return 0
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
