"""``python -m lit_srl`` — see :func:`lit_srl.cli.main`."""

from lit_srl.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
