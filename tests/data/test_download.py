"""Specifications for `make data` / `python -m lit_srl data download` against a local HTTP server."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from lit_srl.data.download import main
from lit_srl.errors import LitSrlError
from support.loopback import Server, build_tar

STS_FILES = {
    **{f"STS/STS{y}-en-test/STS.input.headlines.txt": "a man runs .\ta man is running .\n" for y in range(12, 17)},
    **{f"STS/STS{y}-en-test/STS.gs.headlines.txt": "4.2\n" for y in range(12, 17)},
    **{f"STS/STSBenchmark/sts-{s}.csv": "main-captions\tMSRvid\t2012test\t0001\t5.000\ta\tb\n" for s in ("train", "dev", "test")},
    **{f"SICK/SICK_{s}.txt": "pair_ID\tsentence_A\tsentence_B\trelatedness_score\n1\ta\tb\t4.5\n" for s in ("train", "trial", "test_annotated")},
    "MR/rt-polarity.pos": "not installed\n",  # senteval.tar holds other SentEval tasks too
}
WIKI = "YMCA in South Australia\nthe second sentence .\n"


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    build_tar(root / "senteval.tar", STS_FILES)
    (root / "wiki1m_for_simcse.txt").write_text(WIKI)
    server = Server(root)
    yield server
    server.close()


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


def download(data_dir: Path, url: str, *extra: str) -> int:
    return main(["download", "--data-dir", str(data_dir), "--base-url-senteval", url, "--base-url-corpus", url, *extra])


def leftovers(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.rglob(".*")]


def test_download_creates_the_layout(served, data_dir, capsys):
    assert download(data_dir, served.url) == 0
    senteval = data_dir / "senteval"
    for name, text in STS_FILES.items():
        if not name.startswith("MR/"):
            assert (senteval / name).read_text() == text
    assert not (senteval / "MR").exists()
    assert (data_dir / "corpus" / "wiki1m_for_simcse.txt").read_text() == WIKI
    assert leftovers(data_dir) == []
    assert "downloading" in capsys.readouterr().out


@pytest.mark.parametrize("prefix", ["downstream/", "./"])
def test_archive_with_a_top_folder_is_understood(served, data_dir, prefix):
    build_tar(served.root / "senteval.tar", STS_FILES, prefix=prefix)
    assert download(data_dir, served.url, "--only", "senteval") == 0
    assert (data_dir / "senteval" / "SICK" / "SICK_trial.txt").is_file()
    assert not (data_dir / "corpus").exists()


def test_second_run_skips_without_downloading(served, data_dir, capsys):
    download(data_dir, served.url)
    served.requests.clear()
    capsys.readouterr()
    assert download(data_dir, served.url) == 0
    assert served.requests == []
    assert capsys.readouterr().out.count("skipped") == 2


def test_force_downloads_again_and_replaces(served, data_dir):
    download(data_dir, served.url)
    (served.root / "wiki1m_for_simcse.txt").write_text("a newer corpus\n")
    (data_dir / "senteval" / "SICK" / "SICK_train.txt").write_text("edited by hand\n")
    served.requests.clear()
    assert download(data_dir, served.url, "--force") == 0
    assert sorted(served.requests) == ["/senteval.tar", "/wiki1m_for_simcse.txt"]
    assert (data_dir / "corpus" / "wiki1m_for_simcse.txt").read_text() == "a newer corpus\n"
    assert (data_dir / "senteval" / "SICK" / "SICK_train.txt").read_text() == STS_FILES["SICK/SICK_train.txt"]
    assert leftovers(data_dir) == []


def test_existing_files_are_not_overwritten_without_force(served, data_dir):
    mine = data_dir / "corpus" / "wiki1m_for_simcse.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("my own corpus\n")
    sts12 = data_dir / "senteval" / "STS" / "STS12-en-test"
    sts12.mkdir(parents=True)
    (sts12 / "STS.input.mine.txt").write_text("x\ty\n")
    (sts12 / "STS.gs.mine.txt").write_text("1\n")

    assert download(data_dir, served.url) == 0
    assert mine.read_text() == "my own corpus\n"
    assert sorted(p.name for p in sts12.iterdir()) == ["STS.gs.mine.txt", "STS.input.mine.txt"]
    assert (data_dir / "senteval" / "STS" / "STS13-en-test" / "STS.gs.headlines.txt").is_file()


def test_incomplete_existing_folder_is_kept_and_reported(served, data_dir, capsys):
    sick = data_dir / "senteval" / "SICK"
    sick.mkdir(parents=True)
    (sick / "SICK_train.txt").write_text("partial\n")
    assert download(data_dir, served.url, "--only", "senteval") == 1
    assert sorted(p.name for p in sick.iterdir()) == ["SICK_train.txt"]
    assert "--force" in capsys.readouterr().out


def test_missing_url_names_the_url(served, data_dir):
    url = f"{served.url}/nowhere"
    with pytest.raises(LitSrlError) as err:
        download(data_dir, url, "--only", "corpus")
    message = str(err.value)
    assert f"{url}/wiki1m_for_simcse.txt" in message and "404" in message and "by hand" in message
    assert not (data_dir / "corpus" / "wiki1m_for_simcse.txt").exists() and leftovers(data_dir) == []


def test_refused_connection_names_the_url(data_dir):
    with socket.socket() as s:  # a port on 127.0.0.1 that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(LitSrlError, match=f"127.0.0.1:{port}/senteval.tar"):
        download(data_dir, f"http://127.0.0.1:{port}", "--only", "senteval")
    assert leftovers(data_dir) == []


def test_archive_lacking_a_part_is_rejected_and_nothing_installed(served, data_dir):
    build_tar(served.root / "senteval.tar", {k: v for k, v in STS_FILES.items() if not k.startswith("SICK/")})
    with pytest.raises(LitSrlError, match="lacks SICK"):
        download(data_dir, served.url, "--only", "senteval")
    assert not (data_dir / "senteval" / "STS").exists() and leftovers(data_dir) == []


def test_download_that_is_not_a_tar_is_rejected(served, data_dir):
    (served.root / "senteval.tar").write_text("<html>rate limited</html>")
    with pytest.raises(LitSrlError, match="not a readable tar archive"):
        download(data_dir, served.url, "--only", "senteval")


def test_empty_corpus_download_is_rejected(served, data_dir):
    (served.root / "wiki1m_for_simcse.txt").write_text("\n\n")
    with pytest.raises(LitSrlError, match="has no sentences"):
        download(data_dir, served.url, "--only", "corpus")
    assert list((data_dir / "corpus").iterdir()) == []


def test_environment_sets_the_data_root_and_urls(served, tmp_path, monkeypatch):
    monkeypatch.setenv("LIT_SRL_DATA", str(tmp_path / "env-root"))
    monkeypatch.setenv("LIT_SRL_CORPUS_URL", served.url)
    assert main(["download", "--only", "corpus"]) == 0
    assert (tmp_path / "env-root" / "corpus" / "wiki1m_for_simcse.txt").read_text() == WIKI
