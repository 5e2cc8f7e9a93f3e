"""`jaxsae run`: every stage of a run in order, rerunning what is missing, unfinished, failed or stale.

A pipeline config is JSON: the dataset, then per stage a dict of that stage's options
(`{"dataset": "synthetic", "prepare": {"size": "demo"}, "train_rec": {"model": "mf"}, ...}`), and
`intervene` a list of such dicts, one per experiment. A stage's option names are the fields of its config
dataclasses (`jaxsae.app.stages.<stage>.OPTIONS`, the same that make its CLI flags), and before any stage runs
every stage's options are built into those dataclasses by the stage's own `build` (`check_options`), so
`k > latents`, `"latents": "many"`, `steps: -5`, a dataset typo or (with prepared data) an unknown
concept fail before any work. Each stage then runs as its library function (`jaxsae.app.stages.<stage>.run`);
no command line is built or parsed. Which stages are complete comes from `jaxsae.app.lineage` (`stage.json`):
a stage reruns when it is missing, unfinished, failed or stale (made from an older input), when its
config changed, when a stage it depends on ran in this invocation, or when forced; an interrupted
training stage resumes from its checkpoint. `RUN/pipeline.json` records the resolved config and each
stage's status, time and equivalent command line.
"""
# The package's public API, in three modules: the config document (`config`), options -> validated stage
# configs (`checks`), and running (`run`).
from jaxsae.app.pipeline.checks import (Runner, build_stage, check_options, option_flag, options_to_argv,  # noqa: F401
                                    stage_argv, stage_module, stage_options)
from jaxsae.app.pipeline.config import (CONFIG_DIR, DEFAULT_INTERVENTIONS, DEFAULT_ON, DEPENDS, DONE_FILES,  # noqa: F401
                                    INTERVENTION_KINDS, RESERVED_OPTIONS, RESUMABLE, STAGE_COMMANDS, STAGE_DIRS,
                                    TOP_KEYS, PipelineConfig, deep_merge, load_config, parse_config,
                                    synthetic_config)
from jaxsae.app.pipeline.run import (RERUN_IGNORED, StageRecord, _interrupted, prepared_data, config_change,  # noqa: F401
                                 plan, run_pipeline, run_stage, stage_complete, stage_status, upstream)
# automatic choices of `"auto"` intervention targets
from jaxsae.app.stages.auto import (AUTO, PipelineError, concept_margin, intervention_done, pick_concepts,  # noqa: F401
                                pick_niche_item, resolve_interventions)
