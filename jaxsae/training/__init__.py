"""Training: the SAE trainer (`jaxsae.training.sae`), the recommender trainer (`jaxsae.training.rec`), checkpoints
and the data-parallel helpers (`jaxsae.training.parallel`)."""
