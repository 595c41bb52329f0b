"""Pure geometry: no I/O, no randomness. Written once, shared by synth, preprocess, loaders and eval."""
