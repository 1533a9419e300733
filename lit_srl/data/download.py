"""``make data`` / ``python -m lit_srl data download``: fetch the evaluation and training data.

Follows SimCSE's scripts: ``senteval.tar`` (SentEval's ``data/downstream``, as
``SentEval/data/downstream/download_dataset.sh`` fetches it) and ``wiki1m_for_simcse.txt``
(``data/download_wiki.sh``), both from the ``princeton-nlp/datasets-for-simcse`` dataset on the
Hugging Face hub. The layout produced under the data root::

    senteval/STS/STS12-en-test ... STS16-en-test   STS.input.*.txt, STS.gs.*.txt
    senteval/STS/STSBenchmark                     sts-{train,dev,test}.csv
    senteval/SICK                                 SICK_{train,trial,test_annotated}.txt
    corpus/wiki1m_for_simcse.txt                  1M Wikipedia sentences, one per line

``--only transfer`` fetches SentEval's seven transfer tasks from the locations SentEval's own
``data/downstream/get_transfer_data.bash`` uses, and prepares them as that script does::

    senteval/MR, CR, SUBJ, MPQA    from datasmall_NB_ACL12.zip, each line through ``cat -v`` and
                                  SentEval's Penn-Treebank ``tokenizer.sed`` (:func:`ptb_tokenize`)
    senteval/SST/binary           sentiment-{train,dev,test} (PrincetonML/SIF), as they are
    senteval/TREC                 train_5500.label, TREC_10.label (cogcomp), with ` and ' removed
    senteval/MRPC                 msr_paraphrase_{train,test}.txt (SentEval's S3 copy), as they are

Downloads go to a temporary file next to the target, are verified (the archive holds the
expected folders; the corpus has a non-blank line) and are then moved into place with a rename.
Existing complete folders and files are kept unless ``--force``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from lit_srl.data.corpus import check_corpus
from lit_srl.paths import default_data_dir
from lit_srl.errors import LitSrlError

SIMCSE_URL = "https://huggingface.co/datasets/princeton-nlp/datasets-for-simcse/resolve/main"
SENTEVAL_ARCHIVE = "senteval.tar"
WIKI_FILE = "wiki1m_for_simcse.txt"
ENV_DATA, ENV_SENTEVAL_URL, ENV_CORPUS_URL = "LIT_SRL_DATA", "LIT_SRL_SENTEVAL_URL", "LIT_SRL_CORPUS_URL"
ENV_TRANSFER_URL = "LIT_SRL_TRANSFER_URL"

STS_TASKS = tuple(f"STS/STS{y}-en-test" for y in range(12, 17))
REQUIRED: dict[str, tuple[str, ...]] = {
    **{task: ("STS.input.*.txt", "STS.gs.*.txt") for task in STS_TASKS},
    "STS/STSBenchmark": ("sts-train.csv", "sts-dev.csv", "sts-test.csv"),
    "SICK": ("SICK_train.txt", "SICK_trial.txt", "SICK_test_annotated.txt"),
}
"""SentEval parts (relative to ``senteval/``) and the files (globs) each must contain."""

#: SentEval's transfer-task folders (under ``senteval/``) and the files each must contain.
TRANSFER_REQUIRED: dict[str, tuple[str, ...]] = {
    "MR": ("rt-polarity.pos", "rt-polarity.neg"),
    "CR": ("custrev.pos", "custrev.neg"),
    "SUBJ": ("subj.subjective", "subj.objective"),
    "MPQA": ("mpqa.pos", "mpqa.neg"),
    "SST/binary": ("sentiment-train", "sentiment-dev", "sentiment-test"),
    "TREC": ("train_5500.label", "TREC_10.label"),
    "MRPC": ("msr_paraphrase_train.txt", "msr_paraphrase_test.txt"),
}
BINARY_ARCHIVE = "datasmall_NB_ACL12.zip"
#: Where get_transfer_data.bash fetches each file (``--base-url-transfer`` replaces every folder).
TRANSFER_URLS = {
    BINARY_ARCHIVE: "https://s3.amazonaws.com/senteval/senteval_data",
    **{f"sentiment-{s}": "https://raw.githubusercontent.com/PrincetonML/SIF/master/data" for s in ("train", "dev", "test")},
    "train_5500.label": "http://cogcomp.cs.illinois.edu/Data/QA/QC",
    "TREC_10.label": "http://cogcomp.cs.illinois.edu/Data/QA/QC",
    "msr_paraphrase_train.txt": "https://s3.amazonaws.com/senteval/senteval_data",
    "msr_paraphrase_test.txt": "https://s3.amazonaws.com/senteval/senteval_data",
}
#: Members of the binary-classification archive: our file → its path inside the zip.
BINARY_MEMBERS = {
    "MR": {"rt-polarity.pos": "data/rt10662/rt-polarity.pos", "rt-polarity.neg": "data/rt10662/rt-polarity.neg"},
    "CR": {"custrev.pos": "data/customerr/custrev.pos", "custrev.neg": "data/customerr/custrev.neg"},
    "SUBJ": {"subj.subjective": "data/subj/subj.subjective", "subj.objective": "data/subj/subj.objective"},
    "MPQA": {"mpqa.pos": "data/mpqa/mpqa.pos", "mpqa.neg": "data/mpqa/mpqa.neg"},
}

_CHUNK = 1 << 20
_TIMEOUT_S = 60


def _say(message: str) -> None:
    print(f"data: {message}", flush=True)


# --------------------------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------------------------
def fetch(url: str, dest: Path) -> None:
    """Download ``url`` into the (new) file ``dest``, printing progress; LitSrlError on failure."""
    fix = f"check the network connection and the URL, or copy the data by hand into {dest.parent}"
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "lit-srl"})
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response, open(dest, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            _copy_with_progress(response, out, total)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        raise LitSrlError(f"could not download {url} ({_reason(e)}); {fix}") from e


def _reason(e: Exception) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        return str(e.reason)
    return str(e) or type(e).__name__


def _copy_with_progress(response, out, total: int) -> None:
    done, next_report = 0, 0.1
    while chunk := response.read(_CHUNK):
        out.write(chunk)
        done += len(chunk)
        if total and done / total >= next_report:
            _say(f"  {done / 1e6:,.1f} / {total / 1e6:,.1f} MB ({100 * done // total}%)")
            next_report = (int(10 * done / total) + 1) / 10
        elif not total and done % (64 * _CHUNK) < len(chunk):
            _say(f"  {done / 1e6:,.1f} MB")
    if total and done != total:
        raise OSError(f"connection closed after {done:,} of {total:,} bytes")


# --------------------------------------------------------------------------------------------
# SentEval
# --------------------------------------------------------------------------------------------
def missing_files(folder: Path, part: str, required: dict[str, tuple[str, ...]] = REQUIRED) -> list[str]:
    """The entries of ``required[part]`` that ``folder`` lacks (empty: the part is complete)."""
    return [pattern for pattern in required[part] if not any(folder.glob(pattern))]


def download_senteval(root: Path, base_url: str, force: bool = False) -> bool:
    """Fetch ``senteval.tar`` and install its STS and SICK parts under ``root/senteval``.

    Complete parts already there are kept (all complete: nothing is downloaded) unless ``force``.
    Returns False if an incomplete part was left in place (it needs ``--force``).
    """
    target = root / "senteval"
    todo, ok = _senteval_todo(target, force)
    if not todo:
        _say(f"senteval: all parts present in {target}, skipped (use --force to re-download)")
        return ok
    url = f"{base_url.rstrip('/')}/{SENTEVAL_ARCHIVE}"
    target.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".download-", dir=target))
    try:
        _say(f"senteval: downloading {url}")
        fetch(url, work / SENTEVAL_ARCHIVE)
        source = _unpack_senteval(work / SENTEVAL_ARCHIVE, work / "unpacked", url)
        for part in todo:
            _install(source / part, target / part)
            _say(f"senteval: installed {target / part}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ok


def _senteval_todo(target: Path, force: bool, required: dict[str, tuple[str, ...]] = REQUIRED,
                   what: str = "senteval") -> tuple[list[str], bool]:
    todo, ok = [], True
    for part in required:
        folder = target / part
        if force or not folder.exists():
            todo.append(part)
        elif missing := missing_files(folder, part, required):
            ok = False
            _say(f"warning: {folder} exists but lacks {', '.join(missing)}; kept it (use --force to replace)")
        else:
            _say(f"{what}: {folder} present, kept")
    return todo, ok


def _unpack_senteval(archive: Path, into: Path, url: str) -> Path:
    """Extract ``archive`` and return the folder holding ``STS/`` and ``SICK/``, verified complete."""
    try:
        with tarfile.open(archive) as tar:
            _safe_extract(tar, into)
    except (tarfile.TarError, OSError) as e:
        raise LitSrlError(f"the download from {url} is not a readable tar archive ({e}); rerun, or copy the data by hand") from e
    source = _find_senteval_root(into)
    problems = [f"{part} ({', '.join(m)})" for part in REQUIRED if (m := missing_files(source / part, part))]
    if problems:
        raise LitSrlError(f"the archive from {url} lacks {'; '.join(problems)}; rerun with --force, or copy the data by hand")
    return source


def _safe_extract(tar: tarfile.TarFile, into: Path) -> None:
    """Extract refusing absolute paths, ``..`` and links that leave ``into``."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(into, filter="data")
        return
    root = into.resolve()
    for member in tar.getmembers():  # Python without extraction filters (< 3.10.12 / 3.11.4)
        path = (root / member.name).resolve()
        if root not in (path, *path.parents) or member.issym() or member.islnk():
            raise tarfile.TarError(f"unsafe member {member.name!r}")
    tar.extractall(into)


def _find_senteval_root(unpacked: Path) -> Path:
    """The folder (``unpacked`` or one below, up to three levels) containing ``STS/`` and ``SICK/``."""
    candidates = [unpacked, *sorted(p for depth in ("*", "*/*", "*/*/*") for p in unpacked.glob(depth))]
    for folder in candidates:
        if (folder / "STS").is_dir() and (folder / "SICK").is_dir():
            return folder
    return unpacked


def _install(source: Path, dest: Path) -> None:
    """Move ``source`` to ``dest`` with renames, replacing an existing ``dest`` (only called under --force)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
    os.replace(source, dest)
    if old is not None:
        shutil.rmtree(old) if old.is_dir() else old.unlink()


# --------------------------------------------------------------------------------------------
# SentEval transfer tasks
# --------------------------------------------------------------------------------------------
def cat_v(data: bytes) -> bytes:
    """``cat -v``: control bytes as ``^X`` (DEL ``^?``), bytes ≥ 128 as ``M-`` + the same for the low
    seven bits; tab and newline unchanged."""
    out = bytearray()
    for byte in data:
        if byte >= 128:
            out += b"M-"
            byte -= 128
        if byte < 32 and byte not in (9, 10):
            out += b"^" + bytes([byte + 64])
        elif byte == 127:
            out += b"^?"
        else:
            out.append(byte)
    return bytes(out)


_PTB_RULES = [(re.compile(p), r) for p, r in (
    (r'^"', "`` "), (r'([ (\[{<])"', r"\1 `` "), (r"\.\.\.", " ... "), (r"([,;:@#$%&])", r" \1 "),
    (r"([^.])([.])([\])}>\"']*)[ \t]*$", r"\1 \2\3 "), (r"([?!])", r" \1 "), (r"([\][(){}<>])", r" \1 "),
    (r"--", " -- "), (r"$", " "), (r"^", " "), (r'"', " '' "), (r"([^'])' ", r"\1 ' "),
    (r"'([sSmMdD]) ", r" '\1 "), (r"'ll ", " 'll "), (r"'re ", " 're "), (r"'ve ", " 've "), (r"n't ", " n't "),
    (r"'LL ", " 'LL "), (r"'RE ", " 'RE "), (r"'VE ", " 'VE "), (r"N'T ", " N'T "),
    (r" ([Cc])annot ", r" \1an not "), (r" ([Dd])'ye ", r" \1' ye "), (r" ([Gg])imme ", r" \1im me "),
    (r" ([Gg])onna ", r" \1on na "), (r" ([Gg])otta ", r" \1ot ta "), (r" ([Ll])emme ", r" \1em me "),
    (r" ([Mm])ore'n ", r" \1ore 'n "), (r" '([Tt])is ", r" '\1 is "), (r" '([Tt])was ", r" '\1 was "),
    (r" ([Ww])anna ", r" \1an na "), (r"  +", " "), (r"^ +", ""),
)]


def ptb_tokenize(line: str) -> str:
    """One line through SentEval's ``tokenizer.sed`` (Robert MacIntyre's Penn Treebank sed script):
    its substitutions in order, each applied globally (``$``/``^`` ones once)."""
    for pattern, replacement in _PTB_RULES:
        line = pattern.sub(replacement, line, count=1 if pattern.pattern in ("$", "^") else 0)
    return line


def _prepare_binary(raw: bytes) -> bytes:
    """get_transfer_data.bash's ``cat -v FILE | sed -f tokenizer.sed`` (ASCII after ``cat -v``)."""
    lines = cat_v(raw).decode("ascii").split("\n")
    tail = lines.pop() if lines and lines[-1] == "" else None
    return ("\n".join(ptb_tokenize(line) for line in lines) + ("\n" if tail is not None else "")).encode("ascii")


def _prepare_trec(raw: bytes) -> bytes:
    """get_transfer_data.bash's ``sed -e "s/\`//g"`` and ``sed -e "s/'//g"``."""
    return raw.replace(b"`", b"").replace(b"'", b"")


def download_transfer(root: Path, base_url: str | None = None, force: bool = False) -> bool:
    """Fetch and prepare the transfer tasks into ``root/senteval`` (complete folders kept unless
    ``force``). ``base_url``: one folder holding every file (default: SentEval's locations).
    Returns False if an incomplete folder was left in place."""
    target = root / "senteval"
    todo, ok = _senteval_todo(target, force, TRANSFER_REQUIRED, "transfer")
    if not todo:
        _say(f"transfer: all tasks present in {target}, skipped (use --force to re-download)")
        return ok
    target.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".download-", dir=target))

    def get(name: str) -> Path:
        url = f"{(base_url or TRANSFER_URLS[name]).rstrip('/')}/{name}"
        _say(f"transfer: downloading {url}")
        fetch(url, work / name)
        return work / name

    try:
        archive = None
        if any(part in BINARY_MEMBERS for part in todo):
            archive = get(BINARY_ARCHIVE)
        for part in todo:
            prepared = work / "prepared" / part
            prepared.mkdir(parents=True)
            for name in TRANSFER_REQUIRED[part]:
                if part in BINARY_MEMBERS:
                    data = _prepare_binary(_zip_member(archive, BINARY_MEMBERS[part][name]))
                else:
                    data = get(name).read_bytes()
                    data = _prepare_trec(data) if part == "TREC" else data
                if not data.strip():
                    raise LitSrlError(f"{name} for {part} came down empty; rerun, or copy the data by hand into {target / part}")
                (prepared / name).write_bytes(data)
        for part in todo:
            _install(work / "prepared" / part, target / part)
            _say(f"transfer: installed {target / part}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ok


def _zip_member(archive: Path, member: str) -> bytes:
    try:
        with zipfile.ZipFile(archive) as zf:
            return zf.read(member)
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise LitSrlError(f"{archive.name} is not the expected zip archive ({e}); rerun, or copy the data by hand") from e


# --------------------------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------------------------
def download_corpus(root: Path, base_url: str, force: bool = False) -> bool:
    """Fetch ``wiki1m_for_simcse.txt`` into ``root/corpus`` (kept if present, unless ``force``)."""
    target = root / "corpus" / WIKI_FILE
    if target.exists() and not force:
        _say(f"corpus: {target} present, skipped (use --force to re-download)")
        return True
    url = f"{base_url.rstrip('/')}/{WIKI_FILE}"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{WIKI_FILE}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _say(f"corpus: downloading {url}")
        fetch(url, tmp)
        try:
            check_corpus([tmp])
        except LitSrlError as e:
            raise LitSrlError(f"the download from {url} has no sentences; rerun, or copy the file by hand into {target.parent}") from e
        os.replace(tmp, target)
        _say(f"corpus: installed {target}")
    finally:
        tmp.unlink(missing_ok=True)
    return True


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lit-srl data", description="Download the STS evaluation data and the wiki1m corpus "
                                     "(--only transfer: SentEval's transfer tasks).")
    parser.add_argument("command", nargs="?", choices=["download"], default="download")
    parser.add_argument("--data-dir", type=Path, default=None, help=f"data root (default: ${ENV_DATA} or ./data)")
    parser.add_argument("--only", choices=["senteval", "corpus", "transfer"], default=None,
                        help="fetch only one part (default: senteval and corpus; transfer only when asked)")
    parser.add_argument("--base-url-senteval", default=None, help=f"folder URL holding {SENTEVAL_ARCHIVE} (default: ${ENV_SENTEVAL_URL} or SimCSE's)")
    parser.add_argument("--base-url-corpus", default=None, help=f"folder URL holding {WIKI_FILE} (default: ${ENV_CORPUS_URL} or SimCSE's)")
    parser.add_argument("--base-url-transfer", default=None, help=f"one folder URL holding every transfer-task file "
                        f"(default: ${ENV_TRANSFER_URL} or the locations of SentEval's get_transfer_data.bash)")
    parser.add_argument("--force", action="store_true", help="re-download and replace what is already there")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``download [--data-dir DIR] [--only senteval|corpus|transfer] [--base-url-* URL] [--force]``.

    Returns 0 on success, 1 if an incomplete folder was left in place; raises LitSrlError on
    download or verification failures.
    """
    args = build_parser().parse_args(argv)
    root = Path(os.path.expanduser(str(args.data_dir or default_data_dir())))
    _say(f"data root {root.resolve()}")
    ok = True
    if args.only in (None, "senteval"):
        url = args.base_url_senteval or os.environ.get(ENV_SENTEVAL_URL) or SIMCSE_URL
        ok &= download_senteval(root, url, args.force)
    if args.only == "transfer":
        ok &= download_transfer(root, args.base_url_transfer or os.environ.get(ENV_TRANSFER_URL), args.force)
    if args.only in (None, "corpus"):
        url = args.base_url_corpus or os.environ.get(ENV_CORPUS_URL) or SIMCSE_URL
        ok &= download_corpus(root, url, args.force)
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except LitSrlError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
