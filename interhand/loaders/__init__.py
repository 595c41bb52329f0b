"""Loaders: the DALI pipeline (GPU, CPU twin) and the reference PyTorch/webdataset loader."""
