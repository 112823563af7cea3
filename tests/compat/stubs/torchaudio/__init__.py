"""An empty torchaudio for importing `encodec` in the compatibility tests.

encodec imports torchaudio at module level but the model code never calls it; the CPU
torch here has no matching torchaudio build to install.
"""
