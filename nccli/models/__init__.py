"""torch nn.Modules: layers and per-modality models. No I/O, no entropy coding."""
