#!/usr/bin/env python
"""`make mutate`: plant realistic bugs in the core, one at a time, and check that the tests catch each.

Every mutant is (file, exact source snippet, replacement, the tests that should catch it). The
repository is copied once to a temporary directory (the working tree is never touched); for each
mutant the file is rewritten there, only its tests run (`python -m pytest -x -q`, with
`PYTHONPATH` = the copy), and the file is restored. A mutant is *caught* when those tests fail.

Prints `caught N of M` and the name of every survivor. Exits non-zero when a mutant survives, when
a snippet no longer occurs exactly once in its file (keep this list in step with the code), or when
the targeted tests already fail on the unmutated copy (then nothing would be measured).

    python scripts/mutate.py            # every mutant (a baseline run of their tests first)
    python scripts/mutate.py --list     # names, files and tests
    python scripts/mutate.py --only topk-keeps-k-plus-1 --only ndcg-discount
    python scripts/mutate.py --match leak --match filter-   # every mutant whose name contains a word
    python scripts/mutate.py --only fidelity-items-only --tests tests/app/stages/test_train_sae.py  # another test's bite
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".git", ".venv", "runs", "__pycache__", ".pytest_cache", "*.egg-info", "build",
                                "dist", ".helper")


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One planted bug: replace `old` (must occur exactly once in `path`) by `new`; `tests` must then fail."""

    name: str  # short id, printed for survivors
    path: str  # file, relative to the repository root
    old: str  # exact source snippet
    new: str  # its replacement
    tests: Tuple[str, ...]  # pytest node ids / files that should catch it


M = Mutant
# the tests that guard the behaviours the held-out bugs slipped through
OPTIONAL_STALE = "tests/app/pipeline/test_pipeline_checks.py::test_a_stage_made_while_an_optional_input_was_missing_reruns_once_it_appears"
EARLY_TIE = "tests/training/rec/test_early_stopping.py::test_a_tied_best_score_keeps_the_earliest_epoch"
SWEEP_HONEST = "tests/selection/test_sweep.py::test_choice_and_figures_never_depend_on_heldout_users"
FILTER_REPORTED = "tests/interventions/test_interventions.py::test_weighted_filter_reports_the_purest_candidate_ties_to_the_larger_weight"
LEAK_WARNS = "tests/app/stages/test_import_rec.py::test_import_rec_warns_when_the_model_saw_the_hidden_positives"
EXPLORER_FIRE = "tests/app/report/test_explorer.py::test_latent_firing_fractions_come_from_the_item_activations"
MUTANTS: Tuple[Mutant, ...] = (
    M("fidelity-items-only", "jaxsae/sae/_trained.py",
      'replace(user_emb=self.decode(zu, su, side="user"),', 'replace(user_emb=self.input_two_tower.user_emb,',
      ("tests/metrics/test_fidelity_sae.py",)),
    M("identity-reconstruction", "jaxsae/sae/_trained.py",
      "return self.input_two_tower.replace(user_emb=", "return self.input_two_tower\n        _ = dict(user_emb=",
      ("tests/metrics/test_fidelity_sae.py",)),
    M("fidelity-keeps-train-positives", "jaxsae/metrics/_fidelity.py",
      "mask = train_mask(data, u) if (data is not None and exclude_train) else None", "mask = None",
      ("tests/metrics/test_fidelity_sae.py",)),
    M("rbo-weights", "jaxsae/metrics/_fidelity.py",
      "weights = (1 - p) * p ** np.arange(k)", "weights = (1 - p) * p ** np.arange(1, k + 1)",
      ("tests/metrics/test_fidelity.py",)),
    M("ndcg-discount", "jaxsae/metrics/_ranking.py",
      "gains = jnp.where(in_k, 1.0 / jnp.log2(ranks_f + 1.0), 0.0)",
      "gains = jnp.where(in_k, 1.0 / jnp.log2(ranks_f + 2.0), 0.0)",
      ("tests/metrics/test_ranking.py",)),
    M("rest-rbo-vs-itself", "jaxsae/interventions/_filter.py",
      '"rest_rbo": _mean_rbo(rest_before, _top(s, k, rest_excl))', '"rest_rbo": _mean_rbo(rest_before, rest_before)',
      ("tests/interventions/test_interventions.py::test_rest_rbo_of_a_known_partial_reordering",)),
    M("sparse-negatives-return-positives", "data_prep/negatives.py",
      "out[maybe] = pos_keys[idx] == km", "out[maybe] = pos_keys[idx - 1] == km",
      ("tests/data_prep/test_negatives.py",)),
    M("ncf-layers-string-order", "jaxsae/recommenders/ncf.py",
      'names = sorted(head, key=lambda k: int(k.rsplit("_", 1)[1]))', "names = sorted(head)",
      ("tests/recommenders/test_models.py::test_ncf_head_layers_sorted_numerically",)),
    M("purity-counts-inactive", "jaxsae/analysis/_concepts.py",
      "hits = jnp.asarray(concepts, bool)[idx] & active[..., None]", "hits = jnp.asarray(concepts, bool)[idx]",
      ("tests/analysis/test_purity.py",)),
    M("recommender-stop-gradient-removed", "jaxsae/losses.py",
      "head = jax.lax.stop_gradient(head)", "head = head",
      ("tests/losses/test_losses.py::test_gradients_flow_through_the_frozen_scorer_but_not_into_it",
       "tests/training/sae/test_sae_train.py::"
       "test_gradients_reach_the_sae_through_the_recommender_which_never_changes")),
    M("kl-sign-autodiff", "jaxsae/losses.py",
      "return jnp.sum(rho * jnp.log(rho / rho_hat) + (1.0 - rho) * jnp.log((1.0 - rho) / (1.0 - rho_hat)))",
      "return -jnp.sum(rho * jnp.log(rho / rho_hat) + (1.0 - rho) * jnp.log((1.0 - rho) / (1.0 - rho_hat)))",
      ("tests/losses/test_losses.py::test_kl_sparsity_hand_computed",)),
    M("kl-sign-hand-gradient", "jaxsae/training/sae/_tied_mf_grad.py",
      "g_rate = jnp.where(inside, (1.0 - rho) / (1.0 - rho_hat) - rho / rho_hat, 0.0)",
      "g_rate = jnp.where(inside, rho / rho_hat - (1.0 - rho) / (1.0 - rho_hat), 0.0)",
      ("tests/training/sae/test_tied_mf_grad.py",)),
    M("test-item-leaks-into-train", "data_prep/split.py",
      "keep = ~hidden  # subsets", "keep = ~hidden | (rank == 0)  # subsets",
      ("tests/data_prep/test_split.py",)),
    M("topk-keeps-k-plus-1", "jaxsae/sae/_activations.py",
      "values, idx = jax.lax.top_k(pre, k)", "values, idx = jax.lax.top_k(pre, min(k + 1, h))",
      ("tests/sae/test_modules.py",)),
    M("ablation-ignores-w-pred", "jaxsae/selection/_ablation.py",
      "configs = [base.replace(w_pred=w, seed=s) for w, s in grid]", "configs = [base.replace(seed=s) for w, s in grid]",
      ("tests/selection/test_ablation.py::test_fidelity_rises_with_w_pred_on_a_planted_recommender",)),
    M("ms-keeps-diagonal", "jaxsae/analysis/_monosemanticity.py",
      "off = 1.0 - jnp.eye(n)", "off = jnp.ones((n, n))",
      ("tests/analysis/test_monosemanticity.py",)),
    M("year-spearman-sign", "jaxsae/analysis/_concepts.py",
      "jnp.asarray(yr[m], jnp.float32)))", "jnp.asarray(-yr[m], jnp.float32)))",
      ("tests/analysis/test_analyze_arrays.py::test_analyze_arrays_finds_planted_neurons_and_writes_every_document",)),
    # one definition of every option (CLI flags and config keys reach the same field)
    M("cli-flags-pass-every-default", "jaxsae/app/cli/flags.py",
      "target.add_argument(*flags, dest=spec.name, type=_type(spec), default=argparse.SUPPRESS,",
      "target.add_argument(*flags, dest=spec.name, type=_type(spec), default=spec.default,",
      ("tests/app/pipeline/test_pipeline_checks.py::test_a_config_key_and_a_cli_flag_reach_the_same_dataclass_field",)),
    M("switch-sets-the-wrong-value", "jaxsae/app/options.py",
      "                    per[i][field] = fixed", "                    per[i][field] = not fixed",
      ("tests/app/pipeline/test_pipeline_checks.py::test_a_config_key_and_a_cli_flag_reach_the_same_dataclass_field",)),
    # a stage made while an optional input was missing goes stale once that input exists
    M("optional-input-never-stale", "jaxsae/app/lineage.py",
      'if cur.ok:\n                st = StageStatus(name, "stale", f"{d} was made before',
      'if cur.ok and False:\n                st = StageStatus(name, "stale", f"{d} was made before',
      (OPTIONAL_STALE,)),
    M("optional-absent-not-recorded", "jaxsae/app/lineage.py",
      "        out[name] = str(st.fingerprint) if st.ok else None",
      "        if st.ok:\n            out[name] = str(st.fingerprint)",
      (OPTIONAL_STALE,)),
    # side balancing, item side
    M("balance-items-enter-times-c", "jaxsae/sae/_balance.py",
      'scale = c if side == "user" else 1.0 / c', 'scale = c if side == "user" else c',
      ("tests/sae/test_balance.py::test_balanced_input_space_keeps_every_logit",)),
    M("balance-items-leave-over-c", "jaxsae/sae/_balance.py",
      'scale = 1.0 / c if side == "user" else c', 'scale = 1.0 / c if side == "user" else 1.0 / c',
      ("tests/sae/test_balance.py::test_balanced_input_space_keeps_every_logit",)),
    # early stopping: the earliest of tied best epochs
    M("early-stop-best-of-latest-tie", "jaxsae/training/rec/_validation.py",
      "if v is not None and v > best:", "if v is not None and v >= best:",
      (EARLY_TIE,)),
    M("early-stop-keeps-latest-tied-params", "jaxsae/training/rec/_driver.py",
      "if prev_epoch is None or v[config.val_metric] > prev:", "if prev_epoch is None or v[config.val_metric] >= prev:",
      (EARLY_TIE,)),
    # the sweep never trains on the validation users it scores on
    M("sweep-trains-on-validation", "jaxsae/selection/_sweep.py",
      "runs, info = train_grid(two_tower, configs, train, log=",
      "runs, info = train_grid(two_tower, configs, np.sort(np.concatenate([train, validation])), log=",
      (SWEEP_HONEST,)),
    M("grid-balance-from-every-user", "jaxsae/training/sae/_grid.py",
      "factors = [side_factor(two_tower.user_emb, two_tower.item_emb, users_of[r])",
      "factors = [side_factor(two_tower.user_emb, two_tower.item_emb, None)",
      (SWEEP_HONEST, "tests/selection/test_sweep.py::test_grid_runs_are_balanced_from_their_own_training_users")),
    M("reused-sweep-sae-loses-its-balance", "jaxsae/app/stages/auto_sae.py",
      '"n_items": run.input_two_tower.n_items, BALANCE_KEY: run.balance_factor})',
      '"n_items": run.input_two_tower.n_items})',
      ("tests/selection/test_sweep.py::test_train_sae_auto_writes_sweep_and_a_loadable_sae",)),
    # outside tables: canonical ids on the data side; npy ids read before the float32 conversion
    M("import-data-ids-not-canonical", "jaxsae/recommenders/_tables.py",
      "    data = canonical_ids(data_ids)", "    data = np.asarray(data_ids).astype(str)",
      ("tests/recommenders/test_tables.py::test_data_side_ids_are_canonical_too",)),
    M("npy-ids-read-after-float32", "jaxsae/recommenders/_tables.py",
      "    ids = np.asarray(raw)[:, 0]", "    ids = arr[:, 0]",
      ("tests/recommenders/test_tables.py::test_npy_ids_above_2_to_the_24_keep_every_digit",)),
    # the weighted filter's reported neuron: purest, ties to the larger weight
    M("filter-reports-largest-weight", "jaxsae/interventions/_filter.py",
      "keys = [(float(purity.get(int(n), 0.0)), float(scales[j]))",
      "keys = [(float(scales[j]), float(purity.get(int(n), 0.0)))",
      (FILTER_REPORTED,)),
    M("filter-ties-to-smaller-weight", "jaxsae/interventions/_filter.py",
      "keys = [(float(purity.get(int(n), 0.0)), float(scales[j]))",
      "keys = [(float(purity.get(int(n), 0.0)), -float(scales[j]))",
      (FILTER_REPORTED,)),
    # the leak warning fires on a model that saw the hidden split
    M("leak-warning-inverted", "jaxsae/metrics/_leak.py",
      '"suspicious": bool(ratio < LEAK_RATIO)', '"suspicious": bool(ratio > LEAK_RATIO)',
      (LEAK_WARNS,)),
    M("leak-ratio-upside-down", "jaxsae/metrics/_leak.py",
      'ratio = te / tr if tr > 0 else float("inf")', 'ratio = tr / te if te > 0 else float("inf")',
      (LEAK_WARNS,)),
    M("leak-warning-never-printed", "jaxsae/app/stages/import_rec.py",
      '    if fit["suspicious"]:', '    if fit["suspicious"] and fit["n_users"] < 0:',
      (LEAK_WARNS,)),
    M("leak-hidden-among-others", "jaxsae/metrics/_leak.py", "            other[hidden] = False", "            pass",
      ("tests/metrics/test_leak.py",)),
    M("leak-train-among-others", "jaxsae/metrics/_leak.py", "            other[train] = False", "            pass",
      ("tests/metrics/test_leak.py",)),
    # the recommender step's tiled row gather: tiles in their row order
    M("rec-row-tiles-reversed", "jaxsae/training/rec/_step.py",
      "    return table.reshape(n, d // 8, 8)[ids].reshape(ids.shape + (d,))",
      "    return table.reshape(n, d // 8, 8)[ids][..., ::-1, :].reshape(ids.shape + (d,))",
      ("tests/training/rec/test_recommender.py::test_sgd_sum_step_is_the_papers_numpy_update",)),
    # the explorer's per-latent firing fractions
    M("explorer-fire-over-latents", "jaxsae/app/report/explorer_data.py",
      'lat["fire"] = _sig_array(n_active / max(1, a.shape[0]), d)',
      'lat["fire"] = _sig_array(n_active / max(1, a.shape[1]), d)',
      (EXPLORER_FIRE,)),
    M("explorer-fire-counts-zeros", "jaxsae/app/report/explorer_data.py",
      "n_active = (a > 0).sum(axis=0)", "n_active = (a >= 0).sum(axis=0)",
      (EXPLORER_FIRE,)),
)


def check_snippets(root: Path, mutants: Sequence[Mutant]) -> List[str]:
    """Problems with the list: a file that is gone, or a snippet that does not occur exactly once."""
    problems = []
    for m in mutants:
        f = root / m.path
        if not f.exists():
            problems.append(f"{m.name}: {m.path} does not exist")
            continue
        source = f.read_text()
        n = source.count(m.old)
        if n != 1:
            problems.append(f"{m.name}: snippet occurs {n} times in {m.path} (expected once): {m.old!r}")
            continue
        try:  # a mutant must be a behaviour change, not a syntax error
            compile(source.replace(m.old, m.new, 1), m.path, "exec")
        except SyntaxError as e:
            problems.append(f"{m.name}: the mutated {m.path} does not compile: {e}")
    return problems


def run_tests(copy: Path, tests: Sequence[str], timeout: float) -> Tuple[int, str]:
    """`python -m pytest -x -q tests...` inside the copy, importing the copy's code. Returns (rc, tail)."""
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    env.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        p = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, "timed out"
    lines = (p.stdout + p.stderr).strip().splitlines()
    return p.returncode, lines[-1] if lines else ""


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", default=[], help="run only this mutant (repeatable)")
    ap.add_argument("--match", action="append", default=[],
                    help="run only the mutants whose name contains this text (repeatable; with --only: either)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--no-baseline", action="store_true", help="skip the run of the tests on the unmutated copy")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per pytest run")
    ap.add_argument("--tests", nargs="+", default=None,
                    help="run these tests against every selected mutant instead of its own list (audits)")
    args = ap.parse_args(argv)

    chosen = args.only or args.match
    mutants = [m for m in MUTANTS if not chosen or m.name in args.only or any(w in m.name for w in args.match)]
    if args.tests:
        mutants = [dataclasses.replace(m, tests=tuple(args.tests)) for m in mutants]
    unknown = set(args.only) - {m.name for m in MUTANTS}
    unknown |= {w for w in args.match if not any(w in m.name for m in MUTANTS)}
    if unknown:
        print(f"unknown mutant(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    if args.list:
        for m in mutants:
            print(f"{m.name:36s} {m.path:34s} {' '.join(m.tests)}")
        return 0
    problems = check_snippets(ROOT, mutants)
    if problems:
        print("mutant list out of step with the code:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="jaxsae-mutate-") as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(ROOT, copy, ignore=IGNORE)
        if not args.no_baseline:
            tests = sorted({t for m in mutants for t in m.tests})
            rc, tail = run_tests(copy, tests, args.timeout)
            print(f"baseline (unmutated): {tail} [{time.perf_counter() - t0:.0f} s]", flush=True)
            if rc != 0:
                print("the targeted tests fail without any mutant: fix them first", file=sys.stderr)
                return 2
        survivors = []
        for m in mutants:
            f = copy / m.path
            original = f.read_text()
            f.write_text(original.replace(m.old, m.new, 1))
            t1 = time.perf_counter()
            try:
                rc, tail = run_tests(copy, m.tests, args.timeout)
            finally:
                f.write_text(original)
            if rc in (3, 4, 5):  # internal error, usage error (e.g. a node id that is gone), nothing collected
                print(f"ERROR    {m.name}: pytest exit code {rc} ({tail}): fix its test list", file=sys.stderr)
                return 2
            caught = rc != 0  # 1: a test failed; 2: collection failed on the mutant (an import-time crash)
            if not caught:
                survivors.append(m.name)
            print(f"{'caught  ' if caught else 'SURVIVED'} {m.name:36s} {time.perf_counter() - t1:5.1f} s  {tail}",
                  flush=True)
    n, total = len(mutants) - len(survivors), len(mutants)
    print(f"caught {n} of {total} in {time.perf_counter() - t0:.0f} s")
    if survivors:
        print("survivors: " + ", ".join(survivors))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
