"""lit_srl: unsupervised sentence representation learning with PyTorch Lightning.

Implements SimCSE-style training and the unified gradient paradigm of Li, Zhang & Nie,
"Towards Better Understanding of Contrastive Sentence Representation Learning: A Unified
Paradigm for Gradient" (ACL 2024).
"""

__version__ = "0.1.0"
