"""`--gpu 0-3` syntax: inclusive ranges and comma lists, as the original's set_args accepts; the indices count the
GPUs this job sees, so under a scheduler's CUDA_VISIBLE_DEVICES they pick from its list."""

from __future__ import annotations

__all__ = ["parse_gpus", "check_gpus_exist", "visible_devices"]


def parse_gpus(text: str) -> list[int]:
    """'0-3' → [0, 1, 2, 3]; '0,2' → [0, 2]; '0-1,4' → [0, 1, 4]. ValueError names the bad text."""
    gpus: list[int] = []
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high) if high else int(low)
        except ValueError:
            raise ValueError(f"--gpu {text!r}: '{part}' is not a GPU index or an inclusive range like 0-3") from None
        if first < 0 or last < first:
            raise ValueError(f"--gpu {text!r}: '{part}' is not an increasing range of non-negative indices")
        gpus.extend(range(first, last + 1))
    if not gpus:
        raise ValueError(f"--gpu {text!r} lists no GPU")
    if len(set(gpus)) != len(gpus):
        raise ValueError(f"--gpu {text!r} lists a GPU twice")
    return gpus


def check_gpus_exist(gpus: list[int], available: int, inherited: str | None = None) -> None:
    """ValueError naming the listed GPUs this job does not see (`inherited`: the CUDA_VISIBLE_DEVICES it runs
    under, if any)."""
    missing = [gpu for gpu in gpus if gpu >= available]
    if missing:
        have = f"GPUs 0-{available - 1}" if available else "no GPU"
        under = f" (CUDA_VISIBLE_DEVICES={inherited!r})" if inherited is not None else ""
        raise ValueError(f"--gpu lists {missing}, but this machine has {have}{under}; leave --gpu empty to run on "
                         "the CPU")


def visible_devices(gpus: list[int], inherited: str | None) -> str:
    """CUDA_VISIBLE_DEVICES for the job's processes: `--gpu` indices into the inherited list (a scheduler's,
    whose entries may be indices, GPU-… or MIG-… UUIDs), or the indices themselves when none was inherited.
    '--gpu 1' under CUDA_VISIBLE_DEVICES=4,5 is GPU 5, as torch.cuda would number it."""
    if inherited is None:
        return ",".join(str(gpu) for gpu in gpus)
    entries = [entry.strip() for entry in inherited.split(",") if entry.strip()]
    check_gpus_exist(gpus, len(entries), inherited)
    return ",".join(entries[gpu] for gpu in gpus)
