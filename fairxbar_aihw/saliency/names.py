"""Names a study may choose (kept apart from the torch code so configs validate without torch)."""

ESTIMATORS = ("hutchinson", "hessian-exact", "ggn-exact", "ggn-mc", "fisher")
METHODS = ("none", "uniform", "random", "FR", "F+A R")
