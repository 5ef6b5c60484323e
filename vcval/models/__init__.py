"""Model definitions: one package per model, ``configuration_*.py`` + ``modeling_*.py`` (loss beside the model)."""
