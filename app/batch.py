"""``python -m app.batch INPUT_DIR OUTPUT_DIR ...``: the batch CLI at its published name (lesion.batch_cli)."""

import sys

from lesion.batch_cli import main

if __name__ == "__main__":
    sys.exit(main())
