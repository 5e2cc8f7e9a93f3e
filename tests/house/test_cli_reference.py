"""docs/CLI.md is generated from the stage config dataclasses and cannot drift from them."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from jaxsae.app.options import default_text, option_specs
from jaxsae.app.stages import train_sae

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "scripts" / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_cli_reference_is_the_scripts_output() -> None:
    committed = (ROOT / "docs" / "CLI.md").read_text(encoding="utf-8")
    assert committed == _script().render(), "docs/CLI.md is out of date: run python scripts/cli_reference.py"


def test_every_stage_option_has_its_row() -> None:
    """Each option of each stage command: name, flag, type, default and help in one table row."""
    script = _script()
    text = script.render()
    for command, (module, options, _) in script.STAGE_COMMANDS.items():
        stage = importlib.import_module(f"jaxsae.app.stages.{module}")
        section = text.split(f"\n## jaxsae {command}\n")[1].split("\n## ")[0]
        seen = set()
        for cls in getattr(stage, options):
            for spec in option_specs(cls):
                if spec.name in seen:  # owned by an earlier class, as on the command line
                    continue
                seen.add(spec.name)
                row = next((r for r in section.splitlines() if r.startswith(f"| `{spec.name}` |")), None)
                assert row is not None, (command, spec.name)
                cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
                assert len(cells) == 5, row
                assert cells[1] == "positional `DATASET`" or cells[1].startswith(f"`{spec.flag}"), row
                assert cells[2].startswith(spec.kind) and cells[3] == f"`{default_text(spec)}`", row
                assert cells[4] == spec.help.replace("|", "\\|"), row
    assert "| `w_pred` | `--w-pred` | float | `1.0` |" in text.split("\n## jaxsae train-sae\n")[1]
    assert train_sae.OPTIONS[0].__name__ in text


def test_example_config_is_valid() -> None:
    """The page's example config builds every stage's config, as `jaxsae run --dry-run` would."""
    import json

    import jaxsae.app.pipeline as pl

    cfg = pl.parse_config(json.loads(_script().EXAMPLE_CONFIG))
    pl.check_options(cfg)
    pl.check_options(pl.parse_config(json.loads(_script().EXAMPLE_CONFIG), "paper"))
    assert cfg.stages["train_sae"]["k"] == 8
