"""Names and labels of the mitigation arms (kept apart from the torch code that runs them)."""

FINETUNE_ARMS = ("va", "vfa", "fair-loss", "boundary")
ARM_LABELS = {"va": "VA-Retrain", "vfa": "VFA-Retrain", "fair-loss": "Fair-loss FT", "boundary": "Boundary-reg FT",
              "hwa": "HWA (aihwkit)"}
