"""scripts/tune_overfit.py: scoring fits after a few steps, as the encoder picks its start."""

from __future__ import annotations

from pathlib import Path

from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
CUPS = ROOT / "tests" / "fixtures" / "photos" / "cups.png"


def test_scoring_a_fit_on_the_way_leaves_its_outcome_alone():
    tune = load_script("tune_overfit")
    setting = tuple(tune.DEFAULTS.items())
    fit = tune.Fit(CUPS, (32, 48), 5.0, 0, 12, setting)
    scored, plain = tune.run(fit, (4, 8, 30)), tune.run(fit)
    assert set(scored.trials) == {4, 8, 30} and not plain.trials
    assert (scored.bpp, scored.networks, scored.psnr) == (plain.bpp, plain.networks, plain.psnr)
    assert scored.trials[4] != scored.trials[8]  # scored after 4 and after 8 steps


def test_each_trial_names_the_seed_it_picks_and_what_that_costs():
    tune = load_script("tune_overfit")
    setting = tuple(tune.DEFAULTS.items())

    def result(seed: int, loss: float, trials: dict[int, float]):
        fit = tune.Fit(CUPS, (32, 48), 5.0, seed, 12, setting)
        return tune.Result(fit, 0.0, 0.0, 30.0, loss, trials, 1.0)

    results = [
        result(0, 1.0, {50: 2.0, 100: 1.8}),  # the best fit, which step 50 misses
        result(1, 1.2, {50: 1.9, 100: 1.9}),
        result(2, 1.1, {50: 2.1, 100: 2.0}),
    ]
    fifty, hundred = tune.trial_picks(results)
    assert "step 50 picks seed 1 (best: seed 0), final loss +20.00% over the best" in fifty
    assert "+9.09% against the mean" in fifty
    assert "step 100 picks seed 0 (best: seed 0), final loss +0.00% over the best" in hundred
    assert tune.trial_picks(results[:1]) == []  # one seed: nothing to pick


def test_latent_refinement_is_a_setting_that_lowers_the_loss():
    tune = load_script("tune_overfit")
    setting = {**tune.DEFAULTS, "refine_sweeps": 0}
    plain = tune.run(tune.Fit(CUPS, (32, 48), 5.0, 0, 12, tuple(setting.items())))
    setting["refine_sweeps"] = None  # the encoder's: one sweep after 12 steps
    refined = tune.run(tune.Fit(CUPS, (32, 48), 5.0, 0, 12, tuple(setting.items())))
    assert refined.loss < plain.loss
    assert refined.networks == plain.networks  # the networks are left as they were
