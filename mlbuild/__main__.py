"""`python -m mlbuild` runs the CLI."""
import sys

from mlbuild.cli import main

sys.exit(main())
