"""Evaluation jobs: MPJPE, MRRPE, handedness accuracy on the val/test shards."""
