"""Does the relearning attack restore a GA-unlearned model's forget accuracy within its step budget?

Needs a vanilla model that knows the profiles (a fine-tuned one: e.g. a bench folder's
``models/vanilla-*/merged``, or the released fine-tuned checkpoint); an untrained model has nothing to relearn.
GA-unlearns it on the forget set (or takes ``--unlearned``), runs ``umu-hf relearn``'s attack
(:func:`umu_hf.privacy.relearn.relearn_attack`) and checks, per relearning stream, that the joint forget
accuracy AccF of classification or cloze rose by at least ``--margin`` points over the unlearned model's:

    python benchmarks/relearn_check.py --vanilla BENCH/models/vanilla-KEY/merged --data BENCH/data/synth-KEY \\
        --forget-ratio 5 --out /tmp/relearn-check [--unlearned BENCH/models/ga-KEY/merged] [--steps 10]

The learning rate must suit the model: the embedded tiny LLaVA is fine-tuned by the bench at lr 8e-3 on every
weight, so relearn it likewise (``--no-lora --lr 2e-3``); 1e-4 through LoRA barely moves it. And the unlearning
must hide rather than wreck: the bench's own GA (lr 0.06) drives the forget NLL to about 35, and 50 relearning
steps then bring back nothing (AccF 0 before and after). Measured on a bench folder's seed-0 vanilla (forget 15 %,
``--limit 10``, GA through LoRA r 64 at ``--ga-lr 3e-3``, 10 relearning steps at ``--lr 2e-3 --no-lora``), forget
accuracy unimodal / multimodal in percent:

    GA epochs  task            before     text_only relearned   image relearned
    2          classification  70 / 10    100 / 50              100 / 80
    2          cloze           80 / 0     100 / 0               100 / 50
    1.6        classification  100 / 60   100 / 90              100 / 100
    1.6        cloze           100 / 0    100 / 0               100 / 100

GA removed the multimodal answers first; ten steps on the text-only pairs brought multimodal classification back
from 10 to 50 % (and from 60 to 90 %): knowledge relearned in one modality returns in the other. Three epochs of
GA at 3e-3 (forget NLL 24) left nothing to relearn (0 before and after). A model that never saw the forget people
also learns from the relearning pairs, so read a restoration against the retain model's under the same attack
(``umu-hf relearn --baseline``). Against the same seed's retain model (GA 2 epochs row): the attack taught the
retain model, from 0, 20 / 20 % of classification with text-only pairs and 0 / 30 % with image pairs, so the GA
model's restoration exceeds it by +10 / +20 points (text-only) and +30 / +40 (image) on classification and +10 / 0
and +20 / +50 on cloze: the GA model had hidden, not removed, what came back.

Writes ``OUT/relearn.json`` (the attack's report) and ``OUT/check.json`` (the verdict; also printed); exits 1
when a stream restores less than the margin. Numbers go in the issue note, not in a test.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _unlearn(args: argparse.Namespace) -> str:
    """GA on the forget set from the vanilla model (LoRA, merged), into OUT/ga; returns the merged model."""
    from umu_hf.trainers.jobs import DEFAULT_LORA, unlearn
    from umu_hf.trainers.methods.ga import GAConfig

    config = GAConfig(
        output_dir=str(Path(args.out) / "ga"), learning_rate=args.ga_lr, num_train_epochs=args.ga_epochs,
        save_strategy="no", report_to="none", use_cpu=args.device == "cpu", seed=args.seed,
    )
    return str(unlearn("ga", args.vanilla, args.data, args.forget_ratio, config, DEFAULT_LORA, merge=True,
                       overwrite=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vanilla", required=True, help="a model fine-tuned on every profile")
    parser.add_argument("--data", required=True, help="the dataset it was fine-tuned on")
    parser.add_argument("--forget-ratio", type=int, default=5)
    parser.add_argument("--out", required=True)
    parser.add_argument("--unlearned", default=None, help="an already GA-unlearned model (skips unlearning)")
    parser.add_argument("--ga-lr", type=float, default=1e-4, help="GA learning rate (default 1e-4)")
    parser.add_argument("--ga-epochs", type=float, default=5.0, help="GA epochs (default 5)")
    parser.add_argument("--steps", type=int, default=10, help="relearning steps per stream (default 10)")
    parser.add_argument("--lr", type=float, default=1e-4, help="relearning learning rate (default 1e-4)")
    parser.add_argument("--no-lora", action="store_true", help="relearn every weight instead of a LoRA adapter")
    parser.add_argument("--margin", type=float, default=5.0, help="points of AccF a stream must restore")
    parser.add_argument("--limit", type=int, default=None, help="question pairs per task in each evaluation")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    from umu_hf.privacy.relearn import RELEARN_TASKS, STREAMS, RelearnSettings, format_report, run_relearn
    from umu_hf.utils import write_json

    unlearned = args.unlearned or _unlearn(args)
    settings = RelearnSettings(steps=args.steps, learning_rate=args.lr, seed=args.seed, limit=args.limit,
                               device=args.device, lora=not args.no_lora)
    path = run_relearn(unlearned, args.data, args.forget_ratio, args.out, settings)
    report = json.loads(path.read_text(encoding="utf-8"))
    print(format_report(report))
    gains = {
        stream: {task: report[task][stream]["AccF"] - report[task]["before"]["AccF"] for task in RELEARN_TASKS}
        for stream in STREAMS
    }
    verdict = {
        "unlearned": unlearned,
        "steps": args.steps,
        "margin": args.margin,
        "AccF_gain": gains,
        "restored": {stream: max(g.values()) >= args.margin for stream, g in gains.items()},
    }
    write_json(Path(args.out) / "check.json", verdict)
    print(json.dumps(verdict, indent=2))
    return 0 if all(verdict["restored"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
