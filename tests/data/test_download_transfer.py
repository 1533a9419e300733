"""`python -m lit_srl data download --only transfer` against a loopback HTTP server holding small
fixture files in the shapes SentEval's get_transfer_data.bash downloads."""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from lit_srl.data.download import SIMCSE_SENTEVAL_TAR, TRANSFER_REQUIRED, TRANSFER_URLS, _prepare_binary, cat_v, main
from lit_srl.errors import LitSrlError
from lit_srl.evaluation.transfer import TRANSFER_TASKS, load_transfer_tasks
from support.loopback import Server
from support.transfer_fixture import FILES, TOKENIZER_SED, write_simcse_tar

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


def test_every_file_comes_from_senteval_current_script_locations():
    """SentEval's current get_transfer_data.bash: the zip and MRPC on Facebook's file host (the S3
    bucket s3.amazonaws.com/senteval is gone, SentEval issue #59), SST from SIF, TREC from cogcomp."""
    assert set(TRANSFER_URLS) == {"datasmall_NB_ACL12.zip", *(f for p in ("SST/binary", "TREC", "MRPC") for f in TRANSFER_REQUIRED[p])}
    for name in ("datasmall_NB_ACL12.zip", "msr_paraphrase_train.txt", "msr_paraphrase_test.txt"):
        assert TRANSFER_URLS[name] == "https://dl.fbaipublicfiles.com/senteval/senteval_data"
    assert TRANSFER_URLS["sentiment-dev"] == "https://raw.githubusercontent.com/PrincetonML/SIF/master/data"
    assert TRANSFER_URLS["TREC_10.label"] == "http://cogcomp.cs.illinois.edu/Data/QA/QC"
    assert SIMCSE_SENTEVAL_TAR == "https://huggingface.co/datasets/princeton-nlp/datasets-for-simcse/resolve/main/senteval.tar"


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


@pytest.mark.parametrize("name,tasks", [("datasmall_NB_ACL12.zip", "MR, CR, SUBJ, MPQA"), ("TREC_10.label", "TREC"),
                                        ("sentiment-test", "SST2"), ("msr_paraphrase_train.txt", "MRPC")])
def test_a_failed_fetch_is_one_line_naming_the_task_the_address_and_the_mirror_option(served, tmp_path, name, tasks):
    (served.root / name).unlink()
    with pytest.raises(LitSrlError) as err:
        download(tmp_path / "data", served.url)
    message = str(err.value)
    assert message.startswith(f"{tasks}: could not download {served.url}/{name} (HTTP 404")
    assert "--base-url-transfer" in message and "LIT_SRL_TRANSFER_URL" in message and "--transfer-tar" in message
    assert "\n" not in message
    assert not (tmp_path / "data" / "senteval" / "MR").exists()


# ---------------------------------------------------------------- SimCSE's senteval.tar as a source
def tar_download(data_dir: Path, source: str | None, *extra: str) -> int:
    option = ["--transfer-tar"] + ([source] if source else [])
    return main(["download", "--data-dir", str(data_dir), "--only", "transfer", *option, *extra])


def assert_installed_as_in_the_tar(data_dir: Path) -> None:
    for relative, data in FILES.items():
        assert (data_dir / "senteval" / relative).read_bytes() == data  # already prepared: taken as is
    assert [t.name for t in load_transfer_tasks(data_dir=data_dir)] == list(TRANSFER_TASKS)
    assert not (data_dir / "senteval" / "STS").exists() and list(data_dir.rglob(".*")) == []


def test_simcse_tar_from_a_local_file(tmp_path):
    archive = write_simcse_tar(tmp_path / "senteval.tar")
    assert tar_download(tmp_path / "data", str(archive)) == 0
    assert_installed_as_in_the_tar(tmp_path / "data")


def test_simcse_tar_from_a_url_with_a_top_folder(served, tmp_path, monkeypatch):
    write_simcse_tar(served.root / "senteval.tar", prefix="./downstream/")
    monkeypatch.setenv("LIT_SRL_TRANSFER_TAR", f"{served.url}/senteval.tar")
    assert main(["download", "--data-dir", str(tmp_path / "data"), "--only", "transfer"]) == 0
    assert served.requests == ["/senteval.tar"]
    assert_installed_as_in_the_tar(tmp_path / "data")


def test_a_tar_without_a_task_names_what_it_lacks_and_installs_nothing(tmp_path):
    archive = write_simcse_tar(tmp_path / "senteval.tar", skip=("MRPC/msr_paraphrase_test.txt",))
    with pytest.raises(LitSrlError, match=r"senteval.tar lacks MRPC/msr_paraphrase_test.txt; it is not SimCSE's senteval.tar"):
        tar_download(tmp_path / "data", str(archive))
    assert not any((tmp_path / "data" / "senteval").iterdir())


def test_transfer_tar_asks_for_only_transfer(tmp_path):
    with pytest.raises(LitSrlError, match="add --only transfer"):
        main(["download", "--data-dir", str(tmp_path / "data"), "--transfer-tar", str(tmp_path / "senteval.tar")])


# ---------------------------------------------------------------- the preparation against the real tools
needs_tools = pytest.mark.skipif(not (shutil.which("cat") and shutil.which("sed")), reason="needs cat and sed")


def cat_v_into_sed(raw: bytes, tmp_path: Path) -> bytes:
    """get_transfer_data.bash's ``cat -v FILE | sed -f tokenizer.sed``, run for real (C locale)."""
    (tmp_path / "raw").write_bytes(raw)
    (tmp_path / "tokenizer.sed").write_text(TOKENIZER_SED)
    return subprocess.run(f"cat -v {tmp_path / 'raw'} | sed -f {tmp_path / 'tokenizer.sed'}", shell=True, check=True,
                          capture_output=True, env={**os.environ, "LC_ALL": "C"}).stdout


@needs_tools
def test_cat_v_equals_the_real_cat_v_on_every_byte():
    data = bytes(range(256)) + b"\n" + bytes(range(255, -1, -1))
    assert cat_v(data) == subprocess.run(["cat", "-v"], input=data, capture_output=True, check=True).stdout
    assert cat_v(b"\x89\x8a") == b"M-^IM-^J"  # no tab, no newline: the sentence stays one line


@needs_tools
def test_a_trailing_tab_after_the_final_period_stays_as_in_tokenizer_sed(tmp_path):
    raw = b"it ends .\t\nit ends . \t\nit ends.  \n"
    assert _prepare_binary(raw) == cat_v_into_sed(raw, tmp_path)
    assert _prepare_binary(raw).splitlines()[0] == b"it ends .\t "  # no final-period split: a tab is not a space


@needs_tools
def test_the_preparation_equals_cat_v_into_tokenizer_sed(tmp_path):
    rng = random.Random(0)
    pieces = [b"a", b"word", b"It", b"'s", b"n't", b"can't", b"cannot", b"gonna", b"'tis", b".", b"...", b",", b"?",
              b"!", b'"', b"'", b"`", b"(", b")", b"[", b"]", b"--", b"$", b"&", b" ", b"  ", b"\t", b"\r", b"\x85",
              b"\x89", b"\x8a", b"\xe9", b"\xff", b"\x00", b"\x7f", b"\x0b"]
    lines = [b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 12))) for _ in range(400)]
    raw = b"\n".join(lines) + b"\n" + bytes(range(256)) + b' "he said." it\'s \x89 \x8a end .\t'  # no final newline
    assert _prepare_binary(raw) == cat_v_into_sed(raw, tmp_path)
