"""Controllers: who decides what runs next (local store, or W&B)."""
