"""``re_identification``: TAO's command line for the ReID model.

    re_identification <train|evaluate|inference|export|tune_reranking> -e spec.yaml [dot.key=value ...]
    re_identification default_specs results_dir=DIR
    re_identification make_dataset --output DIR [--preset tiny|demo|large] [--seed N]

User errors print one line and exit 2; a diverged training exits 1 with one line; any
traceback is a bug of ours.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import warnings
from typing import NoReturn, Sequence

from reid_core.config import ACTIONS, load_spec
from reid_core.engine.module import NonFiniteLossError
from reid_core.errors import ReidError, SpecError

PROG = "re_identification"
COMMANDS = ACTIONS + ("default_specs", "make_dataset")


class Terminated(BaseException):
    """SIGTERM arrived (e.g. the AutoML launcher stopped a pruned trial); unwinds like Ctrl-C."""


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise SpecError(f"{self.prog}: {message}")


def _configure_logging() -> None:
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")  # raised inside Lightning, not actionable here
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s", stream=sys.stderr)
    for noisy in ("pytorch_lightning", "lightning", "lightning_fabric", "lightning.pytorch", "torch"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated(f"terminated by signal {signum}")


def _parse_action(argv: Sequence[str]) -> argparse.Namespace:
    parser = _OneLineParser(prog=f"{PROG} {argv[0]}", add_help=True)
    parser.add_argument("-e", "--experiment_spec_file", "--experiment-spec-file", dest="spec",
                        help="spec YAML file")
    parser.add_argument("overrides", nargs="*", help="dot.key=value overrides")
    return parser.parse_args(argv[1:])


def _run(argv: Sequence[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    command = argv[0]
    if command not in COMMANDS:
        raise SpecError(f"unknown action {command!r}: expected one of {', '.join(COMMANDS)}")
    if command == "make_dataset":
        # imported when the action runs: its torch and Lightning imports cost seconds
        from reid_core.actions.make_dataset import main as make_dataset_main

        return make_dataset_main(argv[1:])
    args = _parse_action(argv)
    if command == "default_specs":
        extra = [o for o in args.overrides if not o.startswith("results_dir=")]
        if extra or args.spec:
            raise SpecError("default_specs: takes only results_dir=DIR")
        results_dir = next((o.split("=", 1)[1] for o in args.overrides if o.startswith("results_dir=")), "")
        if not results_dir:
            raise SpecError("results_dir: required, e.g. re_identification default_specs results_dir=/tmp/specs")
        # imported when the action runs: its torch and Lightning imports cost seconds
        from reid_core.actions.default_specs import run_default_specs

        run_default_specs(results_dir)
        return 0
    spec = load_spec(args.spec, args.overrides, command)
    if command == "train":
        # imported when the action runs: its torch and Lightning imports cost seconds
        from reid_core.actions.train import run_train

        run_train(spec)
    elif command == "evaluate":
        # imported when the action runs: its torch and Lightning imports cost seconds
        from reid_core.actions.evaluate import run_evaluate

        run_evaluate(spec)
    elif command == "inference":
        # imported when the action runs: its torch and Lightning imports cost seconds
        from reid_core.actions.inference import run_inference

        run_inference(spec)
    elif command == "tune_reranking":
        # imported when the action runs: its torch and Lightning imports cost seconds
        from reid_core.actions.tune_reranking import run_tune_reranking

        run_tune_reranking(spec)
    else:
        # imported when the action runs: its torch and Lightning imports cost seconds
        from reid_core.actions.export import run_export

        run_export(spec)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _configure_logging()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _run(argv)
    except ReidError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except NonFiniteLossError as err:
        print(f"{PROG}: failed: {err}", file=sys.stderr)
        return 1
    except Terminated as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)

