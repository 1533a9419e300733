"""``make data`` / ``python -m lit_srl data download``: fetch the evaluation and training data.

Follows SimCSE's scripts: ``senteval.tar`` (SentEval's ``data/downstream``, as
``SentEval/data/downstream/download_dataset.sh`` fetches it) and ``wiki1m_for_simcse.txt``
(``data/download_wiki.sh``), both from the ``princeton-nlp/datasets-for-simcse`` dataset on the
Hugging Face hub. The layout produced under the data root::

    senteval/STS/STS12-en-test ... STS16-en-test   STS.input.*.txt, STS.gs.*.txt
    senteval/STS/STSBenchmark                     sts-{train,dev,test}.csv
    senteval/SICK                                 SICK_{train,trial,test_annotated}.txt
    corpus/wiki1m_for_simcse.txt                  1M Wikipedia sentences, one per line

``--only transfer`` fetches SentEval's seven transfer tasks from the locations SentEval's current
``data/downstream/get_transfer_data.bash`` uses, and prepares them as that script does::

    senteval/MR, CR, SUBJ, MPQA    from datasmall_NB_ACL12.zip, each line through ``cat -v`` and
                                  SentEval's Penn-Treebank ``tokenizer.sed`` (:func:`ptb_tokenize`)
    senteval/SST/binary           sentiment-{train,dev,test} (PrincetonML/SIF), as they are
    senteval/TREC                 train_5500.label, TREC_10.label (cogcomp), with ` and ' removed
    senteval/MRPC                 msr_paraphrase_{train,test}.txt (SentEval's copy), as they are

The zip and MRPC come from Facebook's file host (``dl.fbaipublicfiles.com``); the S3 bucket of
older copies of the script is gone (SentEval issue #59). ``--base-url-transfer`` (or
``$LIT_SRL_TRANSFER_URL``) names a mirror folder holding every file; ``--transfer-tar FILE|URL``
(or ``$LIT_SRL_TRANSFER_TAR``) takes the tasks, as SimCSE evaluates them, from its ``senteval.tar``
(``MR/``, ``CR/``, ``SUBJ/``, ``MPQA/``, ``SST/binary/``, ``TREC/``, ``MRPC/`` beside ``STS/``
and ``SICK/``) instead.

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
from pathlib import Path, PurePosixPath

from lit_srl.data.corpus import check_corpus
from lit_srl.paths import default_data_dir
from lit_srl.errors import LitSrlError

SIMCSE_URL = "https://huggingface.co/datasets/princeton-nlp/datasets-for-simcse/resolve/main"
SENTEVAL_ARCHIVE = "senteval.tar"
WIKI_FILE = "wiki1m_for_simcse.txt"
ENV_DATA, ENV_SENTEVAL_URL, ENV_CORPUS_URL = "LIT_SRL_DATA", "LIT_SRL_SENTEVAL_URL", "LIT_SRL_CORPUS_URL"
ENV_TRANSFER_URL, ENV_TRANSFER_TAR = "LIT_SRL_TRANSFER_URL", "LIT_SRL_TRANSFER_TAR"

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
#: SentEval's files on Facebook's public file host (its S3 bucket ``s3.amazonaws.com/senteval`` is
#: gone: SentEval issue #59, NoSuchBucket; SentEval commit "Move to new S3 URL").
SENTEVAL_FILES_URL = "https://dl.fbaipublicfiles.com/senteval/senteval_data"
#: Where SentEval's current get_transfer_data.bash fetches each file (``--base-url-transfer``
#: replaces every folder).
TRANSFER_URLS = {
    BINARY_ARCHIVE: SENTEVAL_FILES_URL,
    **{f"sentiment-{s}": "https://raw.githubusercontent.com/PrincetonML/SIF/master/data" for s in ("train", "dev", "test")},
    "train_5500.label": "http://cogcomp.cs.illinois.edu/Data/QA/QC",
    "TREC_10.label": "http://cogcomp.cs.illinois.edu/Data/QA/QC",
    "msr_paraphrase_train.txt": SENTEVAL_FILES_URL,
    "msr_paraphrase_test.txt": SENTEVAL_FILES_URL,
}
#: SimCSE's copy of SentEval's prepared ``data/downstream`` (its SentEval/data/downstream/download_dataset.sh).
SIMCSE_SENTEVAL_TAR = f"{SIMCSE_URL}/{SENTEVAL_ARCHIVE}"
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
def fetch(url: str, dest: Path, what: str | None = None, fix: str | None = None) -> None:
    """Download ``url`` into the (new) file ``dest``, printing progress; on failure one LitSrlError
    line: ``what`` (the data it is for), the URL, the reason and ``fix`` (default: check the network)."""
    fix = fix or f"check the network connection and the URL, or copy the data by hand into {dest.parent}"
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "lit-srl"})
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response, open(dest, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            _copy_with_progress(response, out, total)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        raise LitSrlError(f"{what + ': ' if what else ''}could not download {url} ({_reason(e)}); {fix}") from e


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
    seven bits; tab and newline unchanged (only as themselves: 0x89 and 0x8A are ``M-^I``, ``M-^J``)."""
    out = bytearray()
    for byte in data:
        high = byte >= 128
        if high:
            out += b"M-"
            byte -= 128
        if byte < 32 and (high or byte not in (9, 10)):
            out += b"^" + bytes([byte + 64])
        elif byte == 127:
            out += b"^?"
        else:
            out.append(byte)
    return bytes(out)


_PTB_RULES = [(re.compile(p), r) for p, r in (
    (r'^"', "`` "), (r'([ (\[{<])"', r"\1 `` "), (r"\.\.\.", " ... "), (r"([,;:@#$%&])", r" \1 "),
    (r"([^.])([.])([\])}>\"']*) *$", r"\1 \2\3 "), (r"([?!])", r" \1 "), (r"([\][(){}<>])", r" \1 "),
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
    its substitutions in order, each applied globally (``$``/``^`` ones once). The final-period rule
    drops trailing spaces only, as the sed's ``[ ]*$`` does (a trailing tab stays)."""
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


def _task_names(parts) -> str:
    """Folders under ``senteval/`` → the task names users know (``SST/binary`` is SST2)."""
    return ", ".join("SST2" if part == "SST/binary" else part for part in parts)


def _mirror_hint(name: str) -> str:
    return (f"point --base-url-transfer (or ${ENV_TRANSFER_URL}) at a mirror folder holding {name}, "
            f"or take the tasks from SimCSE's senteval.tar with --transfer-tar")


def download_transfer(root: Path, base_url: str | None = None, force: bool = False, tar: str | None = None) -> bool:
    """Fetch and prepare the transfer tasks into ``root/senteval`` (complete folders kept unless
    ``force``). ``base_url``: one folder holding every file (default: SentEval's locations);
    ``tar``: a path or URL of SimCSE's ``senteval.tar`` to take the prepared tasks from instead.
    Returns False if an incomplete folder was left in place."""
    target = root / "senteval"
    todo, ok = _senteval_todo(target, force, TRANSFER_REQUIRED, "transfer")
    if not todo:
        _say(f"transfer: all tasks present in {target}, skipped (use --force to re-download)")
        return ok
    target.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".download-", dir=target))
    try:
        files = _transfer_from_tar(tar, todo, work) if tar else _transfer_from_sources(base_url, todo, work)
        for part in todo:
            prepared = work / "prepared" / part
            prepared.mkdir(parents=True)
            for name in TRANSFER_REQUIRED[part]:
                data = files[part, name]
                if not data.strip():
                    raise LitSrlError(f"{_task_names([part])}: {name} came down empty; rerun, or copy the data by hand into {target / part}")
                (prepared / name).write_bytes(data)
        for part in todo:
            _install(work / "prepared" / part, target / part)
            _say(f"transfer: installed {target / part}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ok


def _transfer_from_sources(base_url: str | None, todo: list[str], work: Path) -> dict[tuple[str, str], bytes]:
    """Every file of ``todo`` from get_transfer_data.bash's locations (or the mirror ``base_url``),
    prepared as that script prepares it: ``(part, file) → bytes``."""

    def get(name: str, parts) -> Path:
        url = f"{(base_url or TRANSFER_URLS[name]).rstrip('/')}/{name}"
        _say(f"transfer: downloading {url}")
        fetch(url, work / name, what=_task_names(parts), fix=_mirror_hint(name))
        return work / name

    files = {}
    binary = [part for part in todo if part in BINARY_MEMBERS]
    archive = get(BINARY_ARCHIVE, binary) if binary else None
    for part in todo:
        for name in TRANSFER_REQUIRED[part]:
            if part in BINARY_MEMBERS:
                files[part, name] = _prepare_binary(_zip_member(archive, BINARY_MEMBERS[part][name]))
            else:
                data = get(name, [part]).read_bytes()
                files[part, name] = _prepare_trec(data) if part == "TREC" else data
    return files


def _zip_member(archive: Path, member: str) -> bytes:
    try:
        with zipfile.ZipFile(archive) as zf:
            return zf.read(member)
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise LitSrlError(f"{archive.name} is not the expected zip archive ({e}); rerun, {_mirror_hint(archive.name)}") from e


def _transfer_from_tar(source: str, todo: list[str], work: Path) -> dict[tuple[str, str], bytes]:
    """Every file of ``todo`` from SimCSE's ``senteval.tar`` (a path or a URL), as it holds them:
    SentEval's ``data/downstream`` as SimCSE evaluates it, taken as is (``MR/``, ``CR/``,
    ``SUBJ/``, ``MPQA/``, ``SST/binary/``, ``TREC/``, ``MRPC/`` beside ``STS/`` and ``SICK/``, at the
    top of the archive or under one folder)."""
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", source):
        archive = work / SENTEVAL_ARCHIVE
        _say(f"transfer: downloading {source}")
        fetch(source, archive, what=_task_names(todo),
              fix=f"give --transfer-tar (or ${ENV_TRANSFER_TAR}) a local copy or another URL, or drop it to use SentEval's locations")
    else:
        archive = Path(os.path.expanduser(source))
        if not archive.is_file():
            raise LitSrlError(f"--transfer-tar {source}: no such file; give the path or URL of SimCSE's senteval.tar")
        _say(f"transfer: reading {archive}")
    try:
        with tarfile.open(archive) as tar:
            members = {str(PurePosixPath(m.name)): m for m in tar.getmembers() if m.isfile()}
            prefix = _tar_prefix(members)
            wanted = {(part, name): f"{prefix}{part}/{name}" for part in todo for name in TRANSFER_REQUIRED[part]}
            if missing := [path for path in wanted.values() if path not in members]:
                raise LitSrlError(f"{source} lacks {', '.join(missing)}; it is not SimCSE's senteval.tar "
                                  f"({SIMCSE_SENTEVAL_TAR}); give that file, or drop --transfer-tar")
            return {key: tar.extractfile(members[path]).read() for key, path in wanted.items()}
    except (tarfile.TarError, OSError) as e:
        raise LitSrlError(f"{source} is not a readable tar archive ({e}); give SimCSE's senteval.tar, or drop --transfer-tar") from e


def _tar_prefix(members) -> str:
    """The folder of the archive holding the SentEval tasks (``""`` at the top, else ``"x/…/"``):
    the shortest one before any ``<task folder>/<file>`` of :data:`TRANSFER_REQUIRED`."""
    tails = [f"{part}/{name}" for part, names in TRANSFER_REQUIRED.items() for name in names]
    prefixes = [path[: -len(tail)] for path in members for tail in tails
                if path == tail or path.endswith("/" + tail)]
    return min(prefixes, key=len, default="")


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
    parser = argparse.ArgumentParser(
        prog="lit-srl data", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Download the STS evaluation data and the wiki1m corpus (--only transfer: SentEval's transfer tasks).",
        epilog=f"""transfer tasks (--only transfer): MR, CR, SUBJ, MPQA, SST2, TREC and MRPC from the locations
of SentEval's current data/downstream/get_transfer_data.bash, prepared as it prepares them:
  {BINARY_ARCHIVE} (MR, CR, SUBJ, MPQA), msr_paraphrase_{{train,test}}.txt (MRPC)
      {SENTEVAL_FILES_URL}
  sentiment-{{train,dev,test}} (SST2)
      {TRANSFER_URLS['sentiment-train']}
  train_5500.label, TREC_10.label (TREC)
      {TRANSFER_URLS['TREC_10.label']}
A mirror: --base-url-transfer URL (or ${ENV_TRANSFER_URL}), one folder holding all of these files.
Or take the tasks as SimCSE evaluates them from its senteval.tar: --transfer-tar FILE|URL
(or ${ENV_TRANSFER_TAR}); --transfer-tar alone fetches {SIMCSE_SENTEVAL_TAR}.""")
    parser.add_argument("command", nargs="?", choices=["download"], default="download")
    parser.add_argument("--data-dir", type=Path, default=None, help=f"data root (default: ${ENV_DATA} or ./data)")
    parser.add_argument("--only", choices=["senteval", "corpus", "transfer"], default=None,
                        help="fetch only one part (default: senteval and corpus; transfer only when asked)")
    parser.add_argument("--base-url-senteval", default=None, help=f"folder URL holding {SENTEVAL_ARCHIVE} (default: ${ENV_SENTEVAL_URL} or SimCSE's)")
    parser.add_argument("--base-url-corpus", default=None, help=f"folder URL holding {WIKI_FILE} (default: ${ENV_CORPUS_URL} or SimCSE's)")
    parser.add_argument("--base-url-transfer", default=None, metavar="URL", help=f"a mirror: one folder URL holding every transfer-task "
                        f"file (default: ${ENV_TRANSFER_URL} or the locations of SentEval's get_transfer_data.bash)")
    parser.add_argument("--transfer-tar", nargs="?", const=SIMCSE_SENTEVAL_TAR, default=None, metavar="FILE|URL",
                        help=f"take the transfer tasks from SimCSE's senteval.tar, a local file or a URL (default: ${ENV_TRANSFER_TAR}; "
                        f"without a value: SimCSE's copy on the Hugging Face hub)")
    parser.add_argument("--force", action="store_true", help="re-download and replace what is already there")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``download [--data-dir DIR] [--only senteval|corpus|transfer] [--base-url-* URL]
    [--transfer-tar [FILE|URL]] [--force]``.

    Returns 0 on success, 1 if an incomplete folder was left in place; raises LitSrlError on
    download or verification failures.
    """
    args = build_parser().parse_args(argv)
    if args.transfer_tar and args.only != "transfer":
        raise LitSrlError("--transfer-tar gives the transfer tasks; add --only transfer")
    root = Path(os.path.expanduser(str(args.data_dir or default_data_dir())))
    _say(f"data root {root.resolve()}")
    ok = True
    if args.only in (None, "senteval"):
        url = args.base_url_senteval or os.environ.get(ENV_SENTEVAL_URL) or SIMCSE_URL
        ok &= download_senteval(root, url, args.force)
    if args.only == "transfer":
        base_url = args.base_url_transfer or os.environ.get(ENV_TRANSFER_URL)
        tar = args.transfer_tar or (None if args.base_url_transfer else os.environ.get(ENV_TRANSFER_TAR))
        ok &= download_transfer(root, base_url, args.force, tar)
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
