"""tfrecords_tools.asterisk_prompts: Italian/French/Russian prompts as training speech, text kept
only where certain, each prompt at every speed, the evaluation speaker refused, missing packages
named."""
import csv
import gzip

import numpy as np
import pytest
import soundfile

from tfrecords_tools import asterisk_prompts


def test_foreign_transcripts_drop_glosses_fold_accents_and_skip_uncertain_text():
    text = "\n".join([
        "\ufeff; Core Asterisk Sounds in Italian",
        "confbridge-muted: Voce disattivata. (You are now muted.)",
        "agent-alreadyon: Cet agent est présentement en ligne, suivi du « dièse ».",
        "conf-only: Al momento c’è un altro partecipante…",
        "dial: Componi il 500.",  # digits: reading unsure
        "letters/a: A",
        "hash: premi # per uscire",
        "cyrillic: привет",
        "spy-sip: SIP",  # acronyms are said as letter names
        "demo-thanks: Grazie per aver provato il PBX Asterisk.",
    ])
    assert asterisk_prompts.transcripts(text, fold_accents=True) == {
        "confbridge-muted": "voce disattivata",
        "agent-alreadyon": "cet agent est presentement en ligne suivi du diese",
        "conf-only": "al momento c'e un altro partecipante",
    }
    russian = "\n".join([
        "hello: Здравствуйте!",
        "conf-nonextended: Конференция не может быть расширена.",
        "goodbye: До свидания, Asterisk.",  # a Latin name: how it is said is unknown
        "spy-console: Консоль (console).",
        "spy-mgcp: МГЦП",
    ])
    assert asterisk_prompts.transcripts(
            russian, fold_accents=True, romanization=asterisk_prompts.CYRILLIC) == {
        "hello": "zdravstvuyte",
        "conf-nonextended": "konferentsiya ne mozhet byt rasshirena",
        "spy-console": "konsol",
    }
    # English (the evaluation sets) keeps its stricter rule: a prompt with brackets is left out
    assert asterisk_prompts.transcripts("muted: You are muted. (beep)\nok: Okay.") == {"ok": "okay"}


def fake_install(root, language="it", voice="it_IT_m_Test"):
    from G722 import G722

    sounds, docs = root / "sounds", root / "doc"
    (sounds / voice).mkdir(parents=True)
    t = np.arange(16000) / 16000
    tone = (8000 * np.sin(2 * np.pi * 220 * t) * np.sin(np.pi * t)).astype(np.int16)
    for name in ("activated", "goodbye"):
        (sounds / voice / f"{name}.g722").write_bytes(G722(16000, 64000).encode(tone))
    text = docs / f"asterisk-core-sounds-{language}" / f"core-sounds-{language}.txt.gz"
    text.parent.mkdir(parents=True)
    with gzip.open(text, "wt", encoding="utf-8") as handle:
        handle.write("activated: Attivato.\ngoodbye: Arrivederci!\nabsent: Non c'è.\n")
    return sounds, docs


def test_each_prompt_at_each_speed_with_its_text(tmp_path, monkeypatch, capsys):
    pytest.importorskip("G722", reason="pip install g722")
    sounds, docs = fake_install(tmp_path)
    monkeypatch.setattr(asterisk_prompts, "SOUNDS", sounds)
    monkeypatch.setattr(asterisk_prompts, "DOCS", docs)
    out = tmp_path / "out"
    assert asterisk_prompts.main(["--out", str(out), "--languages", "it", "fr",
                                  "--speeds", "0.9", "1", "1.1"]) == 0
    err = capsys.readouterr().err
    assert "note: fr:" in err and "apt-get install asterisk-core-sounds-fr" in err
    rows = list(csv.DictReader(open(out / "train.csv", encoding="utf-8")))
    assert [r["transcript"] for r in rows] == ["attivato"] * 3 + ["arrivederci"] * 3
    assert {r["speaker"] for r in rows} == {"asterisk:it_IT_m_Test"}
    lengths = [soundfile.info(r["path"]).frames for r in rows[:3]]
    assert all(soundfile.info(r["path"]).samplerate == 16000 for r in rows)
    assert lengths[1] == 16000  # G.722 keeps the sample count
    assert lengths[0] == pytest.approx(16000 / 0.9, rel=0.01)  # slower: longer
    assert lengths[2] == pytest.approx(16000 / 1.1, rel=0.01)


def test_the_evaluation_speaker_and_bad_flags_are_refused_in_one_line(tmp_path, monkeypatch,
                                                                       capsys):
    for language in ("en", "es"):
        assert asterisk_prompts.main(["--out", str(tmp_path), "--languages", language]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: --languages {language}:")
    assert asterisk_prompts.main(["--out", str(tmp_path), "--speeds", "3"]) == 2
    assert "each factor must be in [0.5, 2]" in capsys.readouterr().err
    monkeypatch.setattr(asterisk_prompts, "SOUNDS", tmp_path / "none")
    monkeypatch.setattr(asterisk_prompts, "DOCS", tmp_path / "none")
    assert asterisk_prompts.main(["--out", str(tmp_path / "o"), "--languages", "it"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "error: no Asterisk prompts found for it"
    assert not (tmp_path / "o").exists()
