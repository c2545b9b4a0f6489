"""Where a sweep lives and how to act on it: one protocol, two implementations.

:mod:`sweepctl.backends.base` defines the protocol every command goes through;
:mod:`sweepctl.backends.factory` parses a sweep reference and picks the backend once;
``local/`` is sweepctl's own store and controller, ``wandb/`` is W&B's servers and agents.
"""
