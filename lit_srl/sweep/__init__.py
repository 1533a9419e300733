"""Experiments as sweeps of ordinary ``python -m lit_srl fit`` runs (``python -m lit_srl sweep``)."""

from lit_srl.sweep.spec import Run, Sweep, load_sweep

__all__ = ["Run", "Sweep", "load_sweep"]
