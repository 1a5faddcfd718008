"""``python -m cmlp``: the same command line as the ``cmlp`` console script."""
import sys

from cmlp.cli import main

if __name__ == "__main__":
    sys.exit(main())
