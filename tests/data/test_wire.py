"""lit_srl.data.wire: a training batch crosses from a DataLoader worker as bytes, not as a file
descriptor per tensor, and reaches the model as the same tensors."""

from __future__ import annotations

import pickle
from multiprocessing.reduction import ForkingPickler

import pytest
import torch

from lit_srl.data.wire import TokenBatch, from_wire, to_wire
from lit_srl.datamodule import SentenceDataModule


def token_batch(b: int = 8, t: int = 12) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "input_ids": torch.randint(0, 30522, (b, t), generator=g),
        "attention_mask": torch.ones(b, t, dtype=torch.long),
        "token_type_ids": torch.zeros(b, t, dtype=torch.long),
        "batch_index": torch.tensor(7),
    }


def test_the_worker_s_pickle_carries_the_bytes_where_a_tensor_s_carries_a_handle():
    batch = token_batch()
    data_bytes = sum(v.numel() * v.element_size() for v in batch.values())
    as_tensors = bytes(ForkingPickler.dumps(batch))
    as_wire = bytes(ForkingPickler.dumps(to_wire(batch)))
    assert len(as_tensors) < data_bytes  # shared-memory handles: the bytes travel apart
    assert len(as_wire) >= data_bytes  # inline: nothing to fetch per tensor on the other side
    received = from_wire(pickle.loads(as_wire))
    assert type(received) is dict and received.keys() == batch.keys()
    for key, value in batch.items():
        assert torch.equal(received[key], value) and received[key].dtype == value.dtype


def test_a_token_batch_reads_as_the_mapping_of_tensors_it_was():
    batch = token_batch()
    wire = to_wire(batch)
    assert isinstance(wire, TokenBatch) and list(wire) == list(batch) and len(wire) == 4
    assert torch.equal(wire["input_ids"], batch["input_ids"]) and wire["batch_index"].shape == ()
    assert from_wire(batch) is batch  # a batch that is already tensors (pinned on the way) passes


def test_the_training_loader_s_worker_sends_token_batches_the_model_gets_as_tensors(tiny_bert, data_dir):
    def first_batches(workers: int):
        datamodule = SentenceDataModule(tokenizer=str(tiny_bert), data_dir=str(data_dir), batch_size=4, num_workers=workers)
        datamodule.setup("fit")
        batches, loader = [], datamodule.train_dataloader()
        for batch in loader:
            # pinned on the way where CUDA is there (the pin-memory thread unpacks the batch)
            assert isinstance(batch, dict if loader.pin_memory else TokenBatch)
            batches.append(datamodule.on_before_batch_transfer(batch, 0))
            if len(batches) == 3:
                return batches

    in_process, from_worker = first_batches(0), first_batches(1)
    for a, b in zip(in_process, from_worker):
        assert type(b) is dict and a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_the_pin_memory_thread_turns_token_batches_into_pinned_tensors(cuda, tiny_bert, data_dir):
    datamodule = SentenceDataModule(tokenizer=str(tiny_bert), data_dir=str(data_dir), batch_size=4, num_workers=1)
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    assert type(batch) is dict and all(v.is_pinned() for v in batch.values())
