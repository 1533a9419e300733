"""The DataModule: the streamed training corpus (``lit_srl.data``) and the STS sets used for
validation and test (``lit_srl.evaluation``), tokenised with the backbone's tokenizer."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Optional, Union

import lightning as L
import torch
from torch.utils.data import DataLoader

from lit_srl.data.corpus import (
    StreamingCorpus,
    check_corpus,
    check_decodable,
    corpus_stats,
    format_corpus_stats,
    resolve_train_files,
)
from lit_srl.data.order import ORDERS, batches_per_epoch
from lit_srl.data.wire import from_wire, to_wire
from lit_srl.errors import LitSrlError, check_choice
from lit_srl.evaluation.encoding import SentenceShard
from lit_srl.evaluation.evaluator import STSEvaluator
from lit_srl.evaluation.tasks import TASKS
from lit_srl.paths import default_data_dir
from lit_srl.preemption import ignore_stop_signals

log = logging.getLogger("lit_srl")

class StreamLoader(DataLoader):
    """The training DataLoader, marked resumable for Lightning (``state_dict``/``load_state_dict``).

    Lightning warns that a mid-epoch resume is "unreliable" unless the loader has these methods.
    Ours is exact, but the position lives in :meth:`SentenceDataModule.state_dict`: it is taken
    from the trainer's count of *completed* batches, which — unlike a count kept by the loader —
    is not thrown off by the batch Lightning prefetches. So the loader's own state is empty and the
    datamodule skips the consumed batches of the stream when it builds the loader again.
    """

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def training_loader(dataset: StreamingCorpus, num_workers: int) -> StreamLoader:
    """The DataLoader of the training stream (``dataset`` yields whole batches), as every fit uses it.

    Workers ignore the stop signals (a SIGTERM to the process group stops the fit, not its loader);
    batches cross from them as :class:`lit_srl.data.wire.TokenBatch` (numpy through the worker's
    pipe: no file descriptor per tensor) and are pinned on the way where CUDA is available.
    """
    return StreamLoader(
        dataset,
        batch_size=None,
        num_workers=num_workers,
        persistent_workers=False,
        worker_init_fn=ignore_stop_signals,
        pin_memory=torch.cuda.is_available(),
        collate_fn=to_wire,
    )


class SentenceDataModule(L.LightningDataModule):
    """Streams the unsupervised corpus; serves STS dev (validation) and the 7-task suite (test).

    Args:
        tokenizer: the backbone whose tokenizer cuts the sentences (``minilm``, a folder, a hub name);
            the CLI sets it to ``model.backbone`` when it is not given.
        data_dir: the data root (``senteval/``, ``corpus/``); default ``$LIT_SRL_DATA`` or ``./data``.
        train_files: corpus paths or globs, relative ones under the data root (plain or .gz text,
            one sentence per line).
        batch_size: sentences per optimizer step on each device (each is encoded twice).
        max_length: tokens per training sentence (SimCSE: 32).
        order: ``permutation`` (default): an exact seeded permutation of the whole corpus each epoch,
            as the Hugging Face Trainer gives SimCSE, read through a cached index of line offsets
            (8 bytes a line; plain-text corpora only); ``buffer``: the file order through a
            shuffle buffer, for corpora whose index would not fit (see ``lit_srl.data.order``).
        shuffle_buffer: size of the seeded shuffle buffer of the ``buffer`` order.
        drop_last: drop the incomplete last batch of each epoch (``true``, default) or keep it as
            the Hugging Face Trainer does (``false``: 7,813 steps of 128 for 1,000,000 lines; under
            DDP the tail is padded to a multiple of the world size, see ``StreamingCorpus``).
        index_dir: where to cache the line index (default: beside the corpus if that folder is
            writable, else ``$XDG_CACHE_HOME/lit_srl/line_index``).
        seed: shuffling seed (mixed with the epoch); default: the run's ``seed_everything``
            (``PL_GLOBAL_SEED``), so a sweep over seeds also varies the data order, as SimCSE's seed does.
        num_workers: DataLoader workers tokenising the corpus.
        count_sentences: count the corpus once at start-up, for the progress bar and the
            learning-rate schedule (a quick pass; turn off for huge corpora and set max_steps).
            The ``permutation`` order always knows the count from its index.
        val_tasks: SentEval tasks evaluated during training (STS-B dev by default).
        val_split: their split (``dev``: STS-B dev, SICK-R trial).
        test_tasks: tasks of ``trainer.test`` (the 7-task suite, test splits).
        eval_batch_size: sentences per evaluation batch.
        eval_max_length: truncation at evaluation (SentEval does not truncate; 512 = BERT's limit).
    """

    def __init__(
        self,
        tokenizer: Optional[str] = None,
        data_dir: Optional[str] = None,
        train_files: Union[str, list[str]] = "corpus/wiki1m_head.txt",
        batch_size: int = 64,
        max_length: int = 32,
        order: str = "permutation",
        shuffle_buffer: int = 10_000,
        drop_last: bool = True,
        index_dir: Optional[str] = None,
        seed: Optional[int] = None,
        num_workers: int = 1,
        count_sentences: bool = True,
        val_tasks: list[str] = ["STSBenchmark"],
        val_split: str = "dev",
        test_tasks: list[str] = list(TASKS),
        eval_batch_size: int = 128,
        eval_max_length: int = 512,
    ) -> None:
        super().__init__()
        self.tokenizer_name = tokenizer
        self._tokenizer = None
        if batch_size < 2:
            raise LitSrlError(f"data.batch_size is {batch_size}; contrastive training needs at least 2 sentences a batch (in-batch negatives)")
        if max_length < 4:
            raise LitSrlError(f"data.max_length is {max_length}; use at least 4 tokens ([CLS], [SEP] and some words; SimCSE uses 32)")
        self.data_dir = Path(os.path.expanduser(data_dir)) if data_dir else default_data_dir()
        self.train_files = [train_files] if isinstance(train_files, str) else list(train_files)
        self.batch_size = batch_size
        self.max_length = max_length
        self.order = check_choice("data.order", order, ORDERS)
        self.shuffle_buffer = shuffle_buffer
        self.drop_last = drop_last
        self.index_dir = index_dir
        self.seed = seed
        self.num_workers = num_workers
        self.count_sentences = count_sentences
        self.val_tasks = list(val_tasks)
        self.val_split = val_split
        self.test_tasks = list(test_tasks)
        self.eval_batch_size = eval_batch_size
        self.eval_max_length = eval_max_length
        self._evaluators: dict = {}
        self._train_set: Optional[StreamingCorpus] = None
        self._resume_state: Optional[dict] = None
        self.num_sentences: Optional[int] = None

    # ----------------------------------------------------------------- helpers
    @property
    def tokenizer(self):
        """The tokenizer of ``tokenizer`` (the backbone), loaded once."""
        if self._tokenizer is None:
            if not self.tokenizer_name:
                raise LitSrlError(
                    "data.tokenizer is not set; give the backbone whose tokenizer to use "
                    "(python -m lit_srl sets it to model.backbone)"
                )
            from transformers import AutoTokenizer

            from lit_srl.backbones import load_pretrained
            from lit_srl.encoder import quiet_transformers

            with quiet_transformers():
                self._tokenizer = load_pretrained(AutoTokenizer, self.tokenizer_name)
        return self._tokenizer

    def _rank_world(self) -> tuple[int, int]:
        if self.trainer is None:
            return 0, 1
        return self.trainer.global_rank, self.trainer.world_size

    def evaluator(self, stage: str) -> STSEvaluator:
        """The STS evaluator of ``val`` (dev split) or ``test`` (7 tasks, test split)."""
        if stage not in self._evaluators:
            tasks, split = (self.val_tasks, self.val_split) if stage == "val" else (self.test_tasks, "test")
            self._evaluators[stage] = STSEvaluator.from_data_dir(self.data_dir, tasks=tasks, split=split)
        return self._evaluators[stage]

    # ------------------------------------------------------------------- hooks
    def setup(self, stage: str) -> None:
        if stage == "fit":
            self._setup_train_set()
        if stage in ("fit", "validate"):
            self.evaluator("val")
        if stage == "test":
            self.evaluator("test")

    def _setup_train_set(self) -> None:
        files = resolve_train_files(self.train_files, self.data_dir)
        check_corpus(files)
        rank, world = self._rank_world()
        self._train_set = StreamingCorpus(
            files=files,
            tokenizer=self.tokenizer,
            batch_size=self.batch_size,
            max_length=self.max_length,
            order=self.order,
            shuffle=True,
            shuffle_buffer=self.shuffle_buffer,
            seed=self.shuffle_seed(),
            rank=rank,
            world_size=world,
            drop_last=self.drop_last,
            index_dir=self.index_dir,
        )
        if self.num_sentences is not None:
            return
        if self._train_set.index is not None:
            stats = self._train_set.index.stats()
        elif self.count_sentences:
            stats = corpus_stats(files)
        else:
            return
        if rank == 0:
            log.info(format_corpus_stats(stats))
        check_decodable(stats, files)
        self.num_sentences = int(stats["sentences"])
        if self._batches_per_epoch() == 0:
            raise LitSrlError(
                f"corpus {', '.join(map(str, files))} has {self.num_sentences} sentences, fewer than one "
                f"global batch ({self.batch_size * world}); lower data.batch_size or add text"
            )

    def _batches_per_epoch(self) -> int:
        return batches_per_epoch(self.num_sentences, self.batch_size * self._rank_world()[1], not self.drop_last)

    def shuffle_seed(self) -> int:
        """``data.seed``, else the seed of ``seed_everything`` (42 when nothing seeded the run)."""
        if self.seed is not None:
            return int(self.seed)
        return int(os.environ.get("PL_GLOBAL_SEED") or 42)

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle the stream for ``epoch`` (called by the module at each epoch's start)."""
        if self._train_set is not None and self._train_set.epoch != epoch:
            self._train_set.set_epoch(epoch)

    def train_dataloader(self) -> DataLoader:
        dataset = self._train_set
        dataset.set_epoch(self.trainer.current_epoch if self.trainer else 0)
        if self._resume_state is not None:
            dataset.load_state_dict(self._resume_state)
            self._resume_state = None
        if self.num_sentences is not None:
            dataset.length = self._batches_per_epoch()
        return training_loader(dataset, self.num_workers)

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Training batches arrive as :class:`lit_srl.data.wire.TokenBatch` (or already as pinned
        tensors); the model gets a dict of tensors."""
        return from_wire(batch)

    def _eval_dataloader(self, stage: str) -> DataLoader:
        """This rank's shard of the stage's unique STS sentences; the dataset carries the evaluator
        that scores the gathered embeddings (the module reads it from the dataloader)."""
        rank, world = self._rank_world()
        evaluator = self.evaluator(stage)
        shard = SentenceShard(
            evaluator.sentences, self.tokenizer, self.eval_batch_size, self.eval_max_length, rank, world, evaluator
        )
        return DataLoader(shard, batch_size=None, num_workers=0)

    def val_dataloader(self) -> DataLoader:
        return self._eval_dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_dataloader("test")

    # ------------------------------------------------------------ resumability
    def state_dict(self) -> dict:
        """Where the training stream stands: its epoch and how many batches were consumed."""
        if self.trainer is None:
            return {}
        loop = self.trainer.fit_loop
        return {
            "epoch": int(self.trainer.current_epoch),
            "batches_done": int(loop.epoch_loop.batch_progress.current.completed),
        }

    def load_state_dict(self, state: dict) -> None:
        if state:
            self._resume_state = dict(state)
