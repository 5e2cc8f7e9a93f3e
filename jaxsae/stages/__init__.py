"""Stage configurations checked before any stage runs (SPEC §14; layer: above analysis/interventions,
below the CLI and the pipeline). `intervene.InterveneOptions` is the first; the other stages' configs are
the library dataclasses (`PrepareOptions`, `RecConfig`, `SAETrainConfig`, `AnalysisConfig`,
`AblationConfig`), built from a command line by each `jaxsae.cli.<stage>.config_from_args`."""
