"""Small SentEval transfer-task files in the real formats, written by the tests (not committed as data).

Each file is a few lines in the shape SentEval reads: MR/CR/SUBJ/MPQA one sentence a line (latin-1;
MR holds a latin-1 "café"), SST binary "sentence<TAB>label" in utf-8, TREC "COARSE:fine question"
(latin-1), MRPC with its utf-8 BOM header row. ``write_transfer_fixture(root)`` writes them under
``root/senteval`` (a data root) and returns ``root``."""

from __future__ import annotations

from pathlib import Path

POSITIVE = (
    b'a good film .\n'
    b'warm and funny .\n'
    b'a great cast .\n'
    b'moving and smart .\n'
    b'a fine story .\n'
    b'pure joy .\n'
    b'an excellent ride .\n'
    b'lovely work .\n'
    b'a clever script .\n'
    b'sharp and witty .\n'
    b'it is a delight to watch .\n'
    b'bright fun .\n'
)
NEGATIVE = (
    b'a dull film .\n'
    b'flat and slow .\n'
    b'a weak cast .\n'
    b'boring and long .\n'
    b'a thin story .\n'
    b'a mess .\n'
    b'a tedious ride .\n'
    b'lazy work .\n'
    b'a silly script .\n'
    b'stale and dumb .\n'
    b'it is a chore to sit through .\n'
    b'grim .\n'
)
#: SST-2 dev and test (the same four lines)
SST_HELD_OUT = (
    b'a good film , really .\t1\n'
    b'warm and funny , really .\t1\n'
    b'a dull film , really .\t0\n'
    b'flat and slow , really .\t0\n'
)

#: path under senteval/ → the file's bytes
FILES: dict[str, bytes] = {
    'CR/custrev.pos': POSITIVE,
    'CR/custrev.neg': NEGATIVE,
    'MR/rt-polarity.pos': b''.join(POSITIVE.splitlines(keepends=True)[:11]) + b'a charming caf\xe9 comedy .\n',  # latin-1
    'MR/rt-polarity.neg': NEGATIVE,
    'SUBJ/subj.subjective': b''.join(POSITIVE.splitlines(keepends=True)[:6] + NEGATIVE.splitlines(keepends=True)[:6]),
    'SUBJ/subj.objective': b''.join(b'the film is set in city %d .\n' % i for i in range(12)),
    'SST/binary/sentiment-dev': SST_HELD_OUT,
    'SST/binary/sentiment-test': SST_HELD_OUT,
    'MPQA/mpqa.neg': (
        b'criticized\n'
        b'fear\n'
        b'threat\n'
        b'against\n'
        b'blame\n'
        b'failed\n'
        b'worried\n'
        b'deny\n'
        b'reject\n'
        b'attack\n'
        b'doubt\n'
        b'hate\n'
    ),
    'MPQA/mpqa.pos': (
        b'support\n'
        b'welcomed\n'
        b'praised\n'
        b'hope\n'
        b'trust\n'
        b'fair\n'
        b'helpful\n'
        b'glad\n'
        b'success\n'
        b'agree\n'
        b'approve\n'
        b'like\n'
    ),
    'MRPC/msr_paraphrase_test.txt': (
        b'\xef\xbb\xbfQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n'
        b'1\t2000\t2100\tThe company said profits rose 0 percent .\tThe company reported profits rose 0 percent .\n'
        b'0\t2001\t2101\tThe company said profits rose 1 percent .\tShares of the firm fell on day 1 .\n'
        b'1\t2002\t2102\tThe company said profits rose 2 percent .\tThe company reported profits rose 2 percent .\n'
        b'0\t2003\t2103\tThe company said profits rose 3 percent .\tShares of the firm fell on day 3 .\n'
        b'1\t2004\t2104\tThe company said profits rose 4 percent .\tThe company reported profits rose 4 percent .\n'
        b'0\t2005\t2105\tThe company said profits rose 5 percent .\tShares of the firm fell on day 5 .\n'
    ),
    'MRPC/msr_paraphrase_train.txt': (
        b'\xef\xbb\xbfQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n'
        b'1\t1000\t1100\tThe company said profits rose 0 percent .\tThe company reported profits rose 0 percent .\n'
        b'0\t1001\t1101\tThe company said profits rose 1 percent .\tShares of the firm fell on day 1 .\n'
        b'1\t1002\t1102\tThe company said profits rose 2 percent .\tThe company reported profits rose 2 percent .\n'
        b'0\t1003\t1103\tThe company said profits rose \xe2\x80\x93 3 percent .\tShares of the firm fell on day 3 .\n'
        b'1\t1004\t1104\tThe company said profits rose 4 percent .\tThe company reported profits rose 4 percent .\n'
        b'0\t1005\t1105\tThe company said profits rose 5 percent .\tShares of the firm fell on day 5 .\n'
        b'1\t1006\t1106\tThe company said profits rose 6 percent .\tThe company reported profits rose 6 percent .\n'
        b'0\t1007\t1107\tThe company said profits rose 7 percent .\tShares of the firm fell on day 7 .\n'
        b'1\t1008\t1108\tThe company said profits rose 8 percent .\tThe company reported profits rose 8 percent .\n'
        b'0\t1009\t1109\tThe company said profits rose 9 percent .\tShares of the firm fell on day 9 .\n'
    ),
    'SST/binary/sentiment-train': (
        b'a na\xc3\xafve , charming film .\t1\n'
        b'warm and funny , really .\t1\n'
        b'a great cast , really .\t1\n'
        b'moving and smart , really .\t1\n'
        b'a dull film , really .\t0\n'
        b'flat and slow , really .\t0\n'
        b'a weak cast , really .\t0\n'
        b'boring and long , really .\t0\n'
    ),
    'TREC/TREC_10.label': (
        b'HUM:ind Who painted the Mona Lisa ?\n'
        b'LOC:other Where is the Nile ?\n'
        b'NUM:money How much is a stamp ?\n'
        b'DESC:reason Why is the sky blue ?\n'
        b'ENTY:color What color is grass ?\n'
        b'ABBR:exp What does CPU stand for ?\n'
    ),
    'TREC/train_5500.label': (
        b'ABBR:exp What does NASA stand for ?\n'
        b'DESC:def What is a caf\xe9 ?\n'
        b'ENTY:animal What animal barks ?\n'
        b'HUM:ind Who wrote Hamlet ?\n'
        b'LOC:city What city is the capital of France ?\n'
        b'NUM:date When did WWII end ?\n'
        b'ABBR:abb What is the abbreviation of doctor ?\n'
        b'DESC:manner How do bees fly ?\n'
        b'ENTY:food What is sushi made of ?\n'
        b'HUM:gr Which team won the cup ?\n'
        b'LOC:country Where is Peru ?\n'
        b'NUM:count How many legs has a spider ?\n'
        b'ABBR:exp What does radar stand for ?\n'
        b'DESC:def What is a radar ?\n'
        b'ENTY:other What is radar used for ?\n'
        b'HUM:ind Who invented the radar ?\n'
        b'LOC:other Where can you find a radar ?\n'
        b'NUM:count How many radar are there ?\n'
        b'ABBR:exp What does laser stand for ?\n'
        b'DESC:def What is a laser ?\n'
        b'ENTY:other What is laser used for ?\n'
        b'HUM:ind Who invented the laser ?\n'
        b'LOC:other Where can you find a laser ?\n'
        b'NUM:count How many laser are there ?\n'
        b'ABBR:exp What does sonar stand for ?\n'
        b'DESC:def What is a sonar ?\n'
        b'ENTY:other What is sonar used for ?\n'
        b'HUM:ind Who invented the sonar ?\n'
        b'LOC:other Where can you find a sonar ?\n'
        b'NUM:count How many sonar are there ?\n'
    ),
}


def write_transfer_fixture(root: Path) -> Path:
    """Write :data:`FILES` under ``root/senteval``; returns ``root`` (a data root for the loaders)."""
    for relative, data in FILES.items():
        path = Path(root) / "senteval" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return Path(root)


#: The substitutions of SentEval's ``data/downstream/tokenizer.sed`` (Robert MacIntyre's Penn
#: Treebank tokenizer, 1995), in its order and sed syntax, comments left out: the reference that
#: ``lit_srl.data.download.ptb_tokenize`` must equal when run through the real ``sed -f``.
TOKENIZER_SED = r"""s/^"/`` /g
s/\([ ([{<]\)"/\1 `` /g
s/\.\.\./ ... /g
s/[,;:@#$%&]/ & /g
s/\([^.]\)\([.]\)\([])}>"']*\)[ ]*$/\1 \2\3 /g
s/[?!]/ & /g
s/[][(){}<>]/ & /g
s/--/ -- /g
s/$/ /
s/^/ /
s/"/ '' /g
s/\([^']\)' /\1 ' /g
s/'\([sSmMdD]\) / '\1 /g
s/'ll / 'll /g
s/'re / 're /g
s/'ve / 've /g
s/n't / n't /g
s/'LL / 'LL /g
s/'RE / 'RE /g
s/'VE / 'VE /g
s/N'T / N'T /g
s/ \([Cc]\)annot / \1an not /g
s/ \([Dd]\)'ye / \1' ye /g
s/ \([Gg]\)imme / \1im me /g
s/ \([Gg]\)onna / \1on na /g
s/ \([Gg]\)otta / \1ot ta /g
s/ \([Ll]\)emme / \1em me /g
s/ \([Mm]\)ore'n / \1ore 'n /g
s/ '\([Tt]\)is / '\1 is /g
s/ '\([Tt]\)was / '\1 was /g
s/ \([Ww]\)anna / \1an na /g
s/  */ /g
s/^ *//g
"""


def write_simcse_tar(path: Path, prefix: str = "", skip: tuple[str, ...] = ()) -> Path:
    """SimCSE's ``senteval.tar`` layout: SentEval's prepared ``data/downstream`` folders (``MR/``,
    ``SST/binary/``, … holding :data:`FILES`, beside an ``STS/`` file) under ``prefix``; the
    :data:`FILES` paths in ``skip`` are left out."""
    import io
    import tarfile

    members = {relative: data for relative, data in FILES.items() if relative not in skip}
    members["STS/STS12-en-test/STS.gs.MSRpar.txt"] = b"4.2\n"
    with tarfile.open(path, "w") as tar:
        for relative, data in members.items():
            info = tarfile.TarInfo(prefix + relative)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path
