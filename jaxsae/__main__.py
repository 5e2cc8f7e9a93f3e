"""`python -m jaxsae` is the `jaxsae` command."""
import sys

from jaxsae.app.cli import main

sys.exit(main())
