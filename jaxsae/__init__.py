"""jaxsae: monosemantic neurons in recommender systems with prediction-aware sparse autoencoders."""
__version__ = "0.1.0"
