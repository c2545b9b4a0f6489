"""The W&B backend: sweeps on W&B's servers, ``wandb agent`` fan-out, and ``wandb sync``."""
