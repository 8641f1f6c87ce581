"""The model registry: versioned model artifacts on disk (``store``) and a cache of loaded models that follows
promotions and rollbacks (``cache``). Generic: it knows no feature that uses it."""
