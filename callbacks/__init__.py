"""Lightning callbacks of lit_srl (installed as ``lit_srl.callbacks``)."""

from lit_srl.callbacks.effective_components import EffectiveComponentMonitor
from lit_srl.callbacks.gradient_monitor import GradientComponentMonitor
from lit_srl.callbacks.last_checkpoint import LastCheckpoint
from lit_srl.callbacks.learning_rate import LearningRateMonitor
from lit_srl.callbacks.throughput import SentencesPerSecond

__all__ = ["EffectiveComponentMonitor", "GradientComponentMonitor", "LastCheckpoint", "LearningRateMonitor", "SentencesPerSecond"]
