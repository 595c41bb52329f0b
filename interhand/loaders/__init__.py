"""Loaders: the DALI pipeline (GPU, CPU twin) and the reference CPU loader (index-offset reads, a thread pool).

The augmentation and the 2.5D targets are shared by every loader (`interhand.loaders.augment`).
"""

from interhand.loaders.augment import (
                                       IDENTITY,
                                       AugmentedSample,
                                       AugmentParams,
                                       Targets,
                                       augment_sample,
                                       augment_targets,
                                       draw_augment_params,
                                       patch_affine,
)

__all__ = ["AugmentParams", "IDENTITY", "AugmentedSample", "Targets", "augment_sample", "augment_targets",
           "draw_augment_params", "patch_affine"]
