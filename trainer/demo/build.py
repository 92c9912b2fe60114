"""Build (or reuse from the cache) the teacher and student models of the offline demo."""

import argparse
import logging
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from trainer.demo.cache import (
    STUDENT_NAME,
    TEACHER_NAME,
    build_lock,
    cache_key,
    default_cache_root,
    read_manifest,
    remove_manifest,
    write_manifest,
)
from trainer.demo.profiles import PROFILES, RECIPE_VERSION, Profile, get_profile

logger = logging.getLogger(__name__)

# Cap on torch threads during a build: matrices this small gain little from more threads, and a
# build often shares its machine with other work.
MAX_BUILD_THREADS = 4


@dataclass
class DemoModels:
    """Directories and manifest of a complete demo build. `built` is False for a cache hit."""

    teacher_dir: Path
    student_dir: Path
    manifest: dict
    built: bool


def ensure_demo_models(
    seed: int = 0, profile: str = "full", force: bool = False, cache_dir: Path | None = None
) -> DemoModels:
    """Return the demo models for `seed` and `profile`, building them first unless cached.

    `cache_dir` is the folder that contains one subfolder per build key. It defaults to
    `${XDG_CACHE_HOME:-~/.cache}/atlas-console/demo`. `force` rebuilds even a complete build.
    """
    recipe = get_profile(profile)
    root = Path(cache_dir) if cache_dir is not None else default_cache_root()
    build_dir = root / cache_key(recipe.name, seed, RECIPE_VERSION)

    if not force:
        manifest = read_manifest(build_dir)
        if manifest is not None:
            logger.info("reusing demo models from %s", build_dir)
            return _result(build_dir, manifest, built=False)

    with build_lock(build_dir):
        # Another process may have finished the same build while this one waited for the lock.
        manifest = None if force else read_manifest(build_dir)
        if manifest is not None:
            logger.info("reusing demo models from %s", build_dir)
            return _result(build_dir, manifest, built=False)
        manifest = _build(recipe, seed, build_dir)
    return _result(build_dir, manifest, built=True)


def _result(build_dir: Path, manifest: dict, built: bool) -> DemoModels:
    return DemoModels(
        teacher_dir=build_dir / TEACHER_NAME,
        student_dir=build_dir / STUDENT_NAME,
        manifest=manifest,
        built=built,
    )


def _build(recipe: Profile, seed: int, build_dir: Path) -> dict:
    # Imported here so that `--help` and cache hits do not pay for loading torch.
    import tokenizers
    import torch
    import transformers

    from trainer.demo.evaluate import evaluate_accuracy
    from trainer.demo.models import count_parameters, encode_examples, make_model, train_sft
    from trainer.demo.tokenizer import train_tokenizer
    from trainer.prompts import SYSTEM_PROMPT
    from trainer.synthetic import generate_problems

    started = time.monotonic()
    logger.info("building %s demo models (seed %d) in %s", recipe.name, seed, build_dir)
    remove_manifest(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(min(previous_threads, MAX_BUILD_THREADS))
    try:
        # --- data and tokenizer ---
        train_problems = generate_problems(seed, recipe.train_problems, "train")
        eval_problems = generate_problems(seed, recipe.eval_problems, "test")
        # The role names and the system prompt appear in every chat prompt, so the corpus repeats
        # them with each problem to give them whole-word tokens.
        corpus = [
            f"system\n{SYSTEM_PROMPT}\nuser\n{p['question']}\nassistant\n{p['answer']}" for p in train_problems
        ]
        tokenizer = train_tokenizer(corpus, recipe.vocab_size)
        examples = encode_examples(tokenizer, train_problems)
        logger.info(
            "made %d training problems, %d held-out problems and a %d-token vocabulary in %.0fs",
            len(train_problems), len(eval_problems), len(tokenizer), time.monotonic() - started,
        )

        # --- teacher, then student, each from its own seed ---
        results = {}
        plans = [
            (TEACHER_NAME, recipe.teacher, recipe.teacher_sft),
            (STUDENT_NAME, recipe.student, recipe.student_sft),
        ]
        for offset, (role, size, sft) in enumerate(plans):
            model_seed = seed * 1000 + offset
            torch.manual_seed(model_seed)
            model = make_model(size, tokenizer)
            logger.info("training %s: %d parameters, %d steps", role, count_parameters(model), sft.steps)
            train_sft(model, examples, sft, model_seed, tokenizer.pad_token_id, role, recipe.log_every)

            evaluation = evaluate_accuracy(model, tokenizer, eval_problems, recipe.max_new_tokens)
            logger.info(
                "%s accuracy %.1f%% (answer format in %.1f%%) on %d held-out problems, elapsed %.0fs",
                role, 100 * evaluation.accuracy, 100 * evaluation.format_rate, evaluation.count,
                time.monotonic() - started,
            )
            model_dir = build_dir / role
            shutil.rmtree(model_dir, ignore_errors=True)
            model.save_pretrained(model_dir)
            tokenizer.save_pretrained(model_dir)
            results[role] = (count_parameters(model), evaluation)
    finally:
        torch.set_num_threads(previous_threads)

    teacher_parameters, teacher_eval = results[TEACHER_NAME]
    student_parameters, student_eval = results[STUDENT_NAME]
    manifest = {
        "seed": seed,
        "profile": recipe.name,
        "recipe_version": RECIPE_VERSION,
        "vocab_size": len(tokenizer),
        "teacher_parameters": teacher_parameters,
        "student_parameters": student_parameters,
        "teacher_accuracy": teacher_eval.accuracy,
        "student_accuracy": student_eval.accuracy,
        "teacher_format_rate": teacher_eval.format_rate,
        "student_format_rate": student_eval.format_rate,
        "eval_problems": teacher_eval.count,
        "train_problems": len(train_problems),
        "build_seconds": round(time.monotonic() - started, 1),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
        },
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_manifest(build_dir, manifest)
    logger.info("demo models ready in %s after %.0fs", build_dir, manifest["build_seconds"])
    return manifest


def build_main(argv: list[str]) -> int:
    """Run `atlas-train demo build`: build or reuse the demo models and print where they are."""
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="atlas-train demo build",
        description="Build the tiny teacher and student models of the offline demo, or reuse the cached ones.",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, tokenizer and weights (default 0)")
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="full",
        help="model sizes: 'full' (about 6 minutes on 2 CPU cores) or 'mini' (seconds, for tests)",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when a complete build is cached")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="folder for built models (default ${XDG_CACHE_HOME:-~/.cache}/atlas-console/demo)",
    )
    args = parser.parse_args(argv)

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    demo = ensure_demo_models(seed=args.seed, profile=args.profile, force=args.force, cache_dir=args.cache_dir)

    manifest = demo.manifest
    state = "built" if demo.built else "reused from the cache"
    print(f"demo models ({manifest['profile']} profile, seed {manifest['seed']}) {state}:")
    for role, path in (("teacher", demo.teacher_dir), ("student", demo.student_dir)):
        print(
            f"  {role}: {path}  ({manifest[role + '_parameters']:,} parameters, "
            f"accuracy {100 * manifest[role + '_accuracy']:.1f}% on {manifest['eval_problems']} held-out problems)"
        )
    return 0
