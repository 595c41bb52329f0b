"""torchrun/DDP training on the shards."""
