"""interhand: InterHand2.6M → webdataset shards → DALI loaders → InterNet training and evaluation."""

__version__ = "0.1.0"
