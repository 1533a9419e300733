"""The sentence encoder: a Hugging Face backbone, a pooler and an optional projection head."""

from __future__ import annotations

import contextlib
from typing import Optional, Sequence

import torch
from torch import nn

from lit_srl.backbones import load_pretrained
from lit_srl.errors import check_choice
from lit_srl.evaluation.encoding import encode_sentences, truncation_length
from lit_srl.poolers import HEADS, POOLERS, make_head, pool


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' load reports and progress bars (unexpected pooler weights etc.)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def load_backbone(loader, name: str):
    """``AutoModel`` without BERT's pooler layer where the architecture has one (unused here)."""
    try:
        return load_pretrained(loader, name, add_pooling_layer=False)
    except TypeError:
        return load_pretrained(loader, name)


def default_head(pooler: str) -> str:
    """SimCSE's convention: the ``cls`` pooler trains through an MLP head, the others use none."""
    return "mlp" if pooler == "cls" else "none"


class SentenceEncoder(nn.Module):
    """Backbone + pooler (+ head) mapping tokenised sentences to embeddings (B, H).

    Args:
        backbone: ``minilm``, a local Hugging Face folder or a hub name (``bert-base-uncased``).
        pooler: one of ``cls``, ``cls_before_pooler``, ``avg``, ``avg_first_last``.
        head: ``mlp`` (SimCSE's Linear+Tanh), ``linear`` (the ACL 2024 paper's BERT head,
            Linear, weight and bias ~ N(0, 0.006²)), ``tanh_linear`` (the paper's RoBERTa head,
            Linear(tanh(x)), same initialisation) or ``none``; ``None`` picks ``mlp`` for ``cls``.
        head_at_eval: keep the head when encoding for evaluation (SimCSE drops it).
        freeze_embeddings: freeze the embedding layer (word/position/type + LayerNorm), as the
            paper's code does.
    """

    def __init__(
        self,
        backbone: str = "minilm",
        pooler: str = "cls",
        head: Optional[str] = None,
        head_at_eval: bool = False,
        freeze_embeddings: bool = False,
        model: Optional[nn.Module] = None,
        tokenizer=None,
    ) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        check_choice("pooler", pooler, POOLERS)
        head = default_head(pooler) if head is None else head
        check_choice("head", head, HEADS)
        self.backbone_name = backbone
        self.pooler = pooler
        self.head_kind = head
        self.head_at_eval = head_at_eval
        with quiet_transformers():
            self.backbone = model if model is not None else load_backbone(AutoModel, backbone)
            self.tokenizer = tokenizer if tokenizer is not None else load_pretrained(AutoTokenizer, backbone)
        self.hidden_size = int(self.backbone.config.hidden_size)
        self.head = make_head(head, self.hidden_size)
        if freeze_embeddings:
            for param in self.backbone.get_input_embeddings().parameters():
                param.requires_grad_(False)
            embeddings = getattr(self.backbone, "embeddings", None)
            if embeddings is not None:
                for param in embeddings.parameters():
                    param.requires_grad_(False)
        # from_pretrained returns the model in eval mode; dropout is SimCSE's augmentation, so the
        # encoder starts in training mode (Lightning keeps each module's mode as it finds it).
        self.train()

    @classmethod
    def from_config(cls, config: dict, tokenizer_dir: str, backbone_name: str, **kwargs) -> "SentenceEncoder":
        """Build the architecture from a Hugging Face config dict (random weights, no download)."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        config = dict(config)
        model_type = config.pop("model_type")
        with quiet_transformers():
            hf_config = AutoConfig.for_model(model_type, **config)
            try:
                model = AutoModel.from_config(hf_config, add_pooling_layer=False)
            except TypeError:
                model = AutoModel.from_config(hf_config)
            tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        return cls(backbone=backbone_name, model=model, tokenizer=tokenizer, **kwargs)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: Optional[torch.Tensor] = None,
        use_head: Optional[bool] = None,
    ) -> torch.Tensor:
        """Embed a tokenised batch: (B, T) ids and mask → (B, H).

        ``use_head`` defaults to ``self.training or self.head_at_eval``.
        """
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        need_all = self.pooler == "avg_first_last"
        out = self.backbone(**kwargs, output_hidden_states=need_all, return_dict=True)
        pooled = pool(
            self.pooler, attention_mask, out.last_hidden_state, out.hidden_states if need_all else None
        )
        if use_head is None:
            use_head = self.training or self.head_at_eval
        if use_head and self.head is not None:
            pooled = self.head(pooled)
        return pooled

    def tokenize(self, sentences: Sequence[str], max_length: Optional[int] = None) -> dict:
        """Tokenise with dynamic padding (to the longest sentence) and optional truncation."""
        return self.tokenizer(
            list(sentences),
            padding=True,
            truncation=True,
            max_length=truncation_length(self.tokenizer, max_length),
            return_tensors="pt",
        )

    def encode(
        self,
        sentences: Sequence[str],
        batch_size: int = 128,
        max_length: Optional[int] = None,
        device: Optional[torch.device | str] = None,
    ) -> torch.Tensor:
        """Embed sentences for evaluation: (len(sentences), H) float32 on the CPU.

        Through :func:`lit_srl.evaluation.encoding.encode_sentences`, the path ``eval`` and the
        validation loop use: batches sorted by token count, dropout off, the head only if
        ``head_at_eval``; the training mode is restored afterwards.
        """
        return encode_sentences(self, sentences, batch_size, device, max_length)
