"""Lightning callbacks of lit_srl (installed as ``lit_srl.callbacks``)."""

from lit_srl.callbacks.throughput import SentencesPerSecond

__all__ = ["SentencesPerSecond"]
