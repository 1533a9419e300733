"""`python -m lit_srl data download --only transfer` against a loopback HTTP server holding small
fixture files in the shapes SentEval's get_transfer_data.bash downloads."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from lit_srl.data.download import TRANSFER_REQUIRED, TRANSFER_URLS, main
from lit_srl.errors import LitSrlError
from lit_srl.evaluation.transfer import TRANSFER_TASKS, load_transfer_tasks
from support.loopback import Server

RAW_MR_POS = b'a charming caf\xe9 comedy.\n"witty," it\'s not.\n'
ZIP_MEMBERS = {"MR": ("rt10662", "rt-polarity"), "CR": ("customerr", "custrev"), "SUBJ": ("subj", "subj"), "MPQA": ("mpqa", "mpqa")}


def binary_zip(transfer_root) -> bytes:
    """datasmall_NB_ACL12.zip's layout: data/<dir>/<file>, raw (untokenised) text."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for task, (folder, _) in ZIP_MEMBERS.items():
            for name in TRANSFER_REQUIRED[task]:
                data = RAW_MR_POS if name == "rt-polarity.pos" else (transfer_root / "senteval" / task / name).read_bytes()
                zf.writestr(f"data/{folder}/{name}", data)
    return buffer.getvalue()


@pytest.fixture
def served(tmp_path, transfer_root):
    root = tmp_path / "served"
    root.mkdir()
    (root / "datasmall_NB_ACL12.zip").write_bytes(binary_zip(transfer_root))
    for part in ("SST/binary", "TREC", "MRPC"):
        for name in TRANSFER_REQUIRED[part]:
            data = (transfer_root / "senteval" / part / name).read_bytes()
            (root / name).write_bytes(data.replace(b"Hamlet", b"`Hamlet'") if name == "train_5500.label" else data)
    server = Server(root)
    yield server
    server.close()


def download(data_dir: Path, url: str, *extra: str) -> int:
    return main(["download", "--data-dir", str(data_dir), "--only", "transfer", "--base-url-transfer", url, *extra])


def test_every_file_comes_from_senteval_script_locations():
    assert set(TRANSFER_URLS) == {"datasmall_NB_ACL12.zip", *(f for p in ("SST/binary", "TREC", "MRPC") for f in TRANSFER_REQUIRED[p])}
    assert TRANSFER_URLS["datasmall_NB_ACL12.zip"] == "https://s3.amazonaws.com/senteval/senteval_data"
    assert TRANSFER_URLS["TREC_10.label"] == "http://cogcomp.cs.illinois.edu/Data/QA/QC"


def test_download_builds_the_layout_the_loaders_read(served, tmp_path, transfer_root):
    data_dir = tmp_path / "data"
    assert download(data_dir, served.url) == 0
    senteval = data_dir / "senteval"
    # cat -v and SentEval's tokenizer.sed, as get_transfer_data.bash prepares MR/CR/SUBJ/MPQA
    assert (senteval / "MR" / "rt-polarity.pos").read_bytes() == b"a charming cafM-i comedy . \n`` witty , '' it 's not . \n"
    assert b"`" not in (senteval / "TREC" / "train_5500.label").read_bytes()  # TREC: ` and ' removed
    assert b"Who wrote Hamlet ?" in (senteval / "TREC" / "train_5500.label").read_bytes()
    for part in ("SST/binary", "MRPC"):
        for name in TRANSFER_REQUIRED[part]:
            assert (senteval / part / name).read_bytes() == (transfer_root / "senteval" / part / name).read_bytes()
    assert [t.name for t in load_transfer_tasks(data_dir=data_dir)] == list(TRANSFER_TASKS)
    assert sorted(served.requests) == sorted(f"/{name}" for name in TRANSFER_URLS)
    assert [p for p in data_dir.rglob(".*")] == []


def test_second_run_skips_and_force_replaces(served, tmp_path, capsys, transfer_root):
    data_dir = tmp_path / "data"
    download(data_dir, served.url)
    served.requests.clear()
    assert download(data_dir, served.url) == 0
    assert served.requests == [] and "transfer: all tasks present" in capsys.readouterr().out
    (data_dir / "senteval" / "MRPC" / "msr_paraphrase_test.txt").write_text("edited\n")
    assert download(data_dir, served.url, "--force") == 0
    assert (data_dir / "senteval" / "MRPC" / "msr_paraphrase_test.txt").read_bytes() == (transfer_root / "senteval" / "MRPC" / "msr_paraphrase_test.txt").read_bytes()


def test_only_missing_tasks_are_fetched(served, tmp_path):
    data_dir = tmp_path / "data"
    download(data_dir, served.url)
    import shutil

    shutil.rmtree(data_dir / "senteval" / "TREC")
    served.requests.clear()
    assert download(data_dir, served.url) == 0
    assert sorted(served.requests) == ["/TREC_10.label", "/train_5500.label"]


def test_sts_download_does_not_fetch_transfer_tasks(served, tmp_path):
    with pytest.raises(LitSrlError, match="senteval.tar"):
        main(["download", "--data-dir", str(tmp_path / "data"), "--only", "senteval", "--base-url-senteval", served.url])
    assert set(served.requests) == {"/senteval.tar"}


def test_a_broken_archive_installs_nothing(served, tmp_path):
    (served.root / "datasmall_NB_ACL12.zip").write_text("<html>rate limited</html>")
    with pytest.raises(LitSrlError, match="datasmall_NB_ACL12.zip is not the expected zip archive"):
        download(tmp_path / "data", served.url)
    assert not any((tmp_path / "data" / "senteval").iterdir())


def test_a_missing_file_names_its_url(served, tmp_path):
    (served.root / "TREC_10.label").unlink()
    with pytest.raises(LitSrlError, match=rf"{served.url}/TREC_10.label \(HTTP 404"):
        download(tmp_path / "data", served.url)
    assert not (tmp_path / "data" / "senteval" / "MR").exists()
