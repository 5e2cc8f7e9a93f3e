"""`python -m jaxsae` is the `jaxsae` command."""
import sys

from jaxsae.cli import main

sys.exit(main())
