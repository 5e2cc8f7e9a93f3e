"""Make tests/run_fixtures.py importable from this sub-folder."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
