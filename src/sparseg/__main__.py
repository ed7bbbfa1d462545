"""``python -m sparseg`` (also how DDP worker processes re-enter the CLI)."""

from sparseg.cli import main

main()
