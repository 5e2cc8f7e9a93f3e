"""The pipeline's stages as typed library functions (layer: above analysis/interventions,
below the CLI and the pipeline).

One module per stage (`prepare`, `train_rec`, `train_sae`, `analyze`, `intervene`, `ablate`, `report`),
each the one definition of that stage: `OPTIONS` (its frozen config dataclasses, whose fields are the
stage's options: CLI flags via `jaxsae.app.cli.flags`, pipeline config keys via `jaxsae.app.options`),
`build(options) -> config` (validated before any work), `record(config)` (what `stage.json` keeps) and
`run(run_dir, config, *, resume, log)`. `jaxsae.app.cli.<command>` and `jaxsae run` both call these.
`auto` and `auto_sae` hold the automatic choices (intervention targets, the swept SAE).
"""
