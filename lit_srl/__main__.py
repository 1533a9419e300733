"""``python -m lit_srl`` — see :func:`lit_srl.cli.main`."""

import gc

from lit_srl.cli import LIGHTNING_COMMAND_IMPORTS, main
from lit_srl.sweep.standby import await_order, standby_ready_fd
from lit_srl.sweep.tether import tether_to_runner

if __name__ == "__main__":
    tether_to_runner()  # a child of `sweep run` ends with its runner
    ready_fd = standby_ready_fd()
    if ready_fd is not None and not await_order(LIGHTNING_COMMAND_IMPORTS, ready_fd):
        raise SystemExit(0)  # a standby of `sweep run` that got no run
    code = main()
    # Everything is written and closed by now. The interpreter's final garbage collections walk
    # every object torch, Lightning and transformers created: 1-4 s on a 2-core CPU, per run of a
    # sweep. Frozen objects are skipped (memory is the OS's to reclaim); nothing is lost.
    gc.freeze()
    raise SystemExit(code)
