"""Training: the SAE trainer (`jaxsae.training.sae`), the recommender trainer (`jaxsae.training.rec`), checkpoints
with a schema version (`jaxsae.training.checkpoint`) and the data-parallel helpers (`jaxsae.training.parallel`)."""
