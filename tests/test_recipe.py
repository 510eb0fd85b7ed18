"""recipes/ds2_small_en.sh's stage logic, with a stand-in for `ds2` that only records its
arguments: which weights a stage starts from, the continuing learning rate, resuming an
interrupted stage, and what the release notes say. Why: the recipe is what later sessions run to
continue the released model; a wrong --init-from silently trains from scratch."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import REPO

RECIPE = REPO / "recipes" / "ds2_small_en.sh"


def run_recipe(tmp_path, *args, command=None, returncode=0, fail_if=None, **env):
    """Run the recipe with DS2 = a script that logs its arguments (and TensorFlow's intra-op
    thread count when the recipe sets one); returns the logged lines of `ds2 COMMAND` (default:
    the recipe's own command name, e.g. train). With ``fail_if``, the stand-in exits 3 when its
    arguments contain that text."""
    log = tmp_path / "ds2.log"
    fake = tmp_path / "ds2"
    fail = f'case "$*" in *"{fail_if}"*) exit 3 ;; esac\n' if fail_if else ""
    fake.write_text(f'#!/usr/bin/env bash\n'
                    f'echo "$*${{TF_NUM_INTRAOP_THREADS:+ threads=$TF_NUM_INTRAOP_THREADS}}"'
                    f' >> {log}\n{fail}')
    fake.chmod(0o755)
    python = tmp_path / "python"  # bench/real_speech.py: logged as "python ARGS"
    python.write_text(f'#!/usr/bin/env bash\necho "python $*" >> {log}\n')
    python.chmod(0o755)
    log.write_text("")
    result = subprocess.run(["bash", str(RECIPE), *args], capture_output=True, text=True,
                            env={**os.environ, "DS2": str(fake), "PYTHON": str(python),
                                 "STATE": str(tmp_path / "state"), **env})
    assert result.returncode == returncode, result.stderr
    if returncode:
        return result.stderr
    return [line for line in log.read_text().splitlines()
            if line.startswith(command or args[0])]


def finish(stage_dir):
    (stage_dir / "train_summary.json").write_text("{}")


def test_stages_continue_the_released_model_then_each_other(tmp_path):
    stages = tmp_path / "state" / "stages"
    (first,) = run_recipe(tmp_path, "train", "5")
    assert "--init-from ds2_small_en" in first and "--learning-rate 0.0001" in first
    assert "--no-sortagrad" in first  # a warm start skips the shortest-first epoch
    assert f"--out {stages / '01'}" in first and "--max-minutes 5" in first
    # interrupted (no train_summary.json): the same stage resumes with the same start
    (again,) = run_recipe(tmp_path, "train", "5")
    assert f"--out {stages / '01'}" in again and "--init-from ds2_small_en" in again
    finish(stages / "01")
    (second,) = run_recipe(tmp_path, "train", "7")
    assert f"--out {stages / '02'}" in second and f"--init-from {stages / '01'}" in second
    assert "--learning-rate 0.0001" in second
    finish(stages / "02")
    (release,) = run_recipe(tmp_path, "release")
    assert f"--run {stages / '02'} " in release and f"(from {stages / '01'})" in release
    # FROM= starts the next stage elsewhere, e.g. the released stage when 02 was not released
    (third,) = run_recipe(tmp_path, "train", "3", FROM=str(stages / "01"))
    assert f"--out {stages / '03'}" in third and f"--init-from {stages / '01'}" in third
    assert (stages / "03" / "init_from").read_text().strip() == str(stages / "01")


def test_corpus_makes_each_new_speaker_draw_that_corpora_names(tmp_path):
    corpora = tmp_path / "state" / "corpora"
    synths = run_recipe(tmp_path, "corpus", command="synth",
                        CORPORA="natural10 newvoices newvoices12")
    assert [line.split()[2] for line in synths] == [
        str(corpora / "natural10"), str(corpora / "newvoices"), str(corpora / "newvoices12")]
    assert "--variation 1 " in synths[1] and "--variation 12 " in synths[2]
    assert "--variation" not in synths[0]
    for bad in ("newvoices1", "newvoices02", "newvoicesx"):  # draw 1 is `newvoices`
        error = run_recipe(tmp_path, "corpus", returncode=2, CORPORA=f"natural10 {bad}")
        assert f"corpus {bad}: a new-speaker draw is newvoices or newvoicesN" in error
    assert "natural10" not in (tmp_path / "ds2.log").read_text()  # stopped before synthesis


def test_corpus_prepares_the_real_prompts_when_corpora_names_them(tmp_path):
    state = tmp_path / "state"
    speeds = "--speeds 0.95 1 1.05"
    assert run_recipe(tmp_path, "corpus", command="python",
                      CORPORA="natural10 asterisk_itfr asterisk_ru") == [
        f"python -m tfrecords_tools.asterisk_prompts --out {state / 'asterisk_itfr_wav'} "
        f"--languages it fr {speeds}",
        f"python -m tfrecords_tools.asterisk_prompts --out {state / 'asterisk_ru_wav'} "
        f"--languages ru {speeds}"]
    prepare = (tmp_path / "ds2.log").read_text().splitlines()
    assert [line for line in prepare if line.startswith("prepare")] == [
        f"prepare --out {state / 'corpora' / name} --alphabet "
        f"{state / 'corpora' / 'natural10' / 'alphabet.json'} --unknown-chars map "
        f"train={state / f'{name}_wav' / 'train.csv'}" for name in ("asterisk_itfr", "asterisk_ru")]
    assert [line.split()[2] for line in prepare if line.startswith("synth")] == [
        str(state / "corpora" / "natural10")]  # no synthesis for them
    assert run_recipe(tmp_path, "corpus", command="python",
                      CORPORA="natural10 newvoices") == []  # not named: not made


@pytest.mark.parametrize("game, reader", [
    ("steel_sky", "steel_sky_speech"), ("amazon_queen", "amazon_queen_speech"),
    ("drascula", "drascula_speech"), ("drascula_es", "drascula_speech --language es")])
def test_corpus_extracts_a_game_with_the_evaluated_sentences_held_out(tmp_path, game, reader):
    state = tmp_path / "state"
    real = state / "eval" / "real_speech"
    assert run_recipe(tmp_path, "corpus", command="python",
                      CORPORA=f"natural10 {game}") == [
        f"python bench/real_speech.py --out {real}",
        f"python -m tfrecords_tools.{reader} --out {state / f'{game}_wav'} "
        f"--held-out {state / 'corpora' / 'natural10'} {real}"]
    wavs = state / f"{game}_wav"
    assert [line for line in (tmp_path / "ds2.log").read_text().splitlines()
            if line.startswith("prepare")] == [
        f"prepare --out {state / 'corpora' / game} --alphabet "
        f"{state / 'corpora' / 'natural10' / 'alphabet.json'} --unknown-chars map "
        f"train={wavs / 'train.csv'} dev={wavs / 'dev.csv'}"]


def test_from_scratch_has_no_init_and_the_preset_learning_rate(tmp_path):
    (first,) = run_recipe(tmp_path, "train", "5", INIT="scratch")
    assert "--init-from" not in first and "--learning-rate" not in first
    assert "--no-sortagrad" not in first  # from nothing, the curriculum stays
    finish(tmp_path / "state" / "stages" / "01")
    (release,) = run_recipe(tmp_path, "release")
    assert "stage 01 (from scratch)" in release


def test_release_names_the_shipped_version_a_stage_continued(tmp_path):
    run_recipe(tmp_path, "train", "5")
    finish(tmp_path / "state" / "stages" / "01")
    (release,) = run_recipe(tmp_path, "release")
    card = REPO / "ds2_tf" / "released" / "ds2_small_en" / "card.json"
    version = json.loads(card.read_text(encoding="utf-8"))["version"]
    assert f"stage 01 (from ds2_small_en v{version})" in release


def test_release_first_tunes_the_stages_lm_on_dev_so_it_ships_with_the_weights(tmp_path):
    run_recipe(tmp_path, "train", "5")
    stage = tmp_path / "state" / "stages" / "01"
    finish(stage)
    run_recipe(tmp_path, "release")
    calls = (tmp_path / "ds2.log").read_text().splitlines()
    tune = next(i for i, line in enumerate(calls) if line.startswith("tune-lm"))
    release = next(i for i, line in enumerate(calls) if line.startswith("release"))
    assert tune < release
    assert f"--model {stage} " in calls[tune] and f"--save {stage / 'lm.json'}" in calls[tune]
    assert "--split dev" in calls[tune] and "natural10 --split dev" in calls[tune]
    assert "asterisk_dev" not in calls[tune]  # real speech not built: synthetic dev alone


def test_the_lm_is_tuned_on_real_speechs_dev_half_too_once_it_is_built(tmp_path):
    real = tmp_path / "state" / "eval" / "real_speech"
    real.mkdir(parents=True)
    (real / "dataset.json").write_text('{"splits": {"asterisk_dev": {}, "asterisk_test": {}}}')
    run_recipe(tmp_path, "train", "5")
    stage = tmp_path / "state" / "stages" / "01"
    finish(stage)
    run_recipe(tmp_path, "release")
    (tune,) = [c for c in (tmp_path / "ds2.log").read_text().splitlines()
               if c.startswith("tune-lm")]
    assert "natural10 --split dev" in tune and f"--data {real} --split asterisk_dev " in tune
    assert "asterisk_test" not in tune  # the reported half stays out
    assert "--limit" not in tune  # whole dev sets: 100 utterances each chose β by noise


def test_tune_limit_tunes_on_the_first_utterances_of_each_dev_set(tmp_path):
    run_recipe(tmp_path, "train", "5")
    finish(tmp_path / "state" / "stages" / "01")
    run_recipe(tmp_path, "release", TUNE_LIMIT="50")
    (tune,) = [c for c in (tmp_path / "ds2.log").read_text().splitlines()
               if c.startswith("tune-lm")]
    assert "--limit 50 " in tune


def test_release_also_scores_real_speechs_dev_half_when_it_is_prepared(tmp_path):
    run_recipe(tmp_path, "train", "5")
    finish(tmp_path / "state" / "stages" / "01")
    run_recipe(tmp_path, "release")
    calls = (tmp_path / "ds2.log").read_text().splitlines()
    assert "--also-dev" not in next(c for c in calls if c.startswith("release"))  # none built
    real = tmp_path / "state" / "eval" / "real_speech"
    real.mkdir(parents=True, exist_ok=True)
    (real / "dataset.json").write_text('{"splits": {"asterisk_dev": {}, "asterisk_test": {}}}')
    run_recipe(tmp_path, "release")
    calls = (tmp_path / "ds2.log").read_text().splitlines()
    assert f"--split dev --also-dev {real}:asterisk_dev " in [
        c for c in calls if c.startswith("release")][-1]


def test_the_lm_adds_english_text_and_leaves_dev_test_and_real_transcripts_out(tmp_path):
    real = tmp_path / "state" / "eval" / "real_speech" / "source"
    real.mkdir(parents=True)
    (real / "real_all.csv").write_text("path,transcript,speaker\n")
    run_recipe(tmp_path, "train", "5")
    finish(tmp_path / "state" / "stages" / "01")
    run_recipe(tmp_path, "release")
    calls = (tmp_path / "ds2.log").read_text().splitlines()
    order = [next(i for i, line in enumerate(calls) if line.startswith(command))
             for command in ("python bench/real_speech.py --out", "lm text", "lm build",
                             "tune-lm")]
    assert order == sorted(order)  # the real transcripts exist before the LM leaves them out
    build = calls[order[2]]
    assert "lm_text_train.txt" in build and "english.txt" in build
    assert "--exclude-data" in build and "natural10" in build and "--prune 0 1 1 1" in build
    assert f"--exclude-manifest {real / 'real_all.csv'}" in build


def test_average_puts_the_newest_stage_between_itself_and_its_start_as_the_next_stage(tmp_path):
    stages = tmp_path / "state" / "stages"
    run_recipe(tmp_path, "train", "5")
    finish(stages / "01")
    (average,) = run_recipe(tmp_path, "average", "0.7")
    assert average.startswith(f"average --run {stages / '01'} --weight 0.7 --run ds2_small_en "
                              f"--weight 0.3 --out {stages / '02'}")
    finish(stages / "02")  # `ds2 average` writes it; the stand-in does not
    (release,) = run_recipe(tmp_path, "release")
    card = REPO / "ds2_tf" / "released" / "ds2_small_en" / "card.json"
    version = json.loads(card.read_text(encoding="utf-8"))["version"]
    assert f"--run {stages / '02'} " in release
    assert f"stage 02 (averaged: 0.7 × stage 01 + 0.3 × ds2_small_en v{version})" in release
    (third,) = run_recipe(tmp_path, "train", "5")  # the next stage continues the average
    assert f"--out {stages / '03'}" in third and f"--init-from {stages / '02'}" in third
    bad = subprocess.run(["bash", str(RECIPE), "average", "1.5"], capture_output=True, text=True,
                         env={**os.environ, "STATE": str(tmp_path / "state")})
    assert bad.returncode != 0 and "a share between 0 and 1, not 1.5" in bad.stderr


def test_branch_makes_short_seeded_stages_from_one_start_and_soup_averages_them(tmp_path):
    stages = tmp_path / "state" / "stages"
    start = tmp_path / "v13"
    for seed in ("1", "2"):
        (branch,) = run_recipe(tmp_path, "branch", "900", seed, command="train", FROM=str(start))
        n = "01" if seed == "1" else "02"
        assert f"--out {stages / n} " in branch and f"--init-from {start}" in branch
        assert f"--steps-per-epoch 900 --epochs 1 --seed {seed} " in branch
        assert "--learning-rate 0.0001" in branch and "--max-minutes" not in branch
        finish(stages / n)
    (soup,) = run_recipe(tmp_path, "soup", "0.6", "ds2_small_en", "1", "2", str(start),
                         command="average")
    assert soup == (f"average --run ds2_small_en --weight 0.6 --run {stages / '01'} --weight "
                    f"0.133333 --run {stages / '02'} --weight 0.133333 --run {start} --weight "
                    f"0.133333 --out {stages / '03'}")
    card = REPO / "ds2_tf" / "released" / "ds2_small_en" / "card.json"
    version = json.loads(card.read_text(encoding="utf-8"))["version"]
    assert (stages / "03" / "averaged_from").read_text().strip() == (
        f"0.6 × ds2_small_en v{version} + 0.133333 × each of stage 01, stage 02, {start}")
    finish(stages / "03")
    (release,) = run_recipe(tmp_path, "release")
    assert f"--run {stages / '03'} " in release and "stage 03 (averaged: 0.6 × " in release
    for args, message in ((["branch", "900", "x"], "two whole numbers, not '900' 'x'"),
                          (["soup", "1", "ds2_small_en", "1"], "a share between 0 and 1, not 1"),
                          (["soup", "0.5", "ds2_small_en"], "name at least one run")):
        assert message in run_recipe(tmp_path, *args, returncode=2)


def test_branch_with_several_seeds_trains_them_side_by_side_from_one_start(tmp_path):
    stages = tmp_path / "state" / "stages"
    start = tmp_path / "v18"
    cores = int(subprocess.check_output(["nproc"], text=True))  # as the recipe reads them
    threads = max(1, cores // 2)
    lines = sorted(run_recipe(tmp_path, "branch", "1800", "4", "5", command="train",
                              FROM=str(start)))
    assert len(lines) == 2
    for line, n, seed in zip(lines, ("01", "02"), ("4", "5")):
        assert f"--out {stages / n} " in line and f"--init-from {start}" in line
        assert f"--steps-per-epoch 1800 --epochs 1 --seed {seed} " in line
        assert "--learning-rate 0.0001" in line and line.endswith(f" threads={threads}")
        assert (stages / n / "branch").read_text().strip() == f"1800 {seed}"
        assert (tmp_path / "state" / "logs" / f"stage-{n}.log").is_file()
    # interrupted after stage 01 finished: the same command resumes stage 02 alone, from the
    # pair's start (not from stage 01, now the newest finished stage)
    finish(stages / "01")
    (again,) = run_recipe(tmp_path, "branch", "1800", "4", "5", command="train")
    assert f"--out {stages / '02'} " in again and f"--init-from {start}" in again
    assert again.endswith(f" threads={cores}")  # the one stage left gets every core
    finish(stages / "02")
    # a new pair starts from the newest stage, both from the same one
    lines = run_recipe(tmp_path, "branch", "900", "6", "7", command="train")
    assert sorted(line.split("--out ")[1].split()[0] for line in lines) == [
        str(stages / "03"), str(stages / "04")]
    assert all(f"--init-from {stages / '02'}" in line for line in lines)
    # one failed stage fails the command, naming its log; the other still finishes
    message = run_recipe(tmp_path, "branch", "900", "8", "9", FROM=str(start), fail_if="--seed 9",
                         returncode=1)
    assert f"stage 06 failed: {tmp_path / 'state' / 'logs' / 'stage-06.log'}" in message
    assert "stage 05 failed" not in message
    for args in (["branch", "900"], ["branch"]):
        assert "the steps and at least one seed" in run_recipe(tmp_path, *args, returncode=2)
