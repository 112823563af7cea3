"""The embedded default weights (safetensors); their model cards are in configs/."""
