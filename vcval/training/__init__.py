"""Training code: datasets, collators, losses and one trainer per recipe (CCGS: trainer_ccgs)."""
