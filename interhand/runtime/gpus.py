"""`--gpu 0-3` syntax: inclusive ranges and comma lists, as the original's set_args accepts."""

from __future__ import annotations

__all__ = ["parse_gpus", "check_gpus_exist"]


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


def check_gpus_exist(gpus: list[int], available: int) -> None:
    """ValueError naming the listed GPUs this machine does not have."""
    missing = [gpu for gpu in gpus if gpu >= available]
    if missing:
        have = f"GPUs 0-{available - 1}" if available else "no GPU"
        raise ValueError(f"--gpu lists {missing}, but this machine has {have}; leave --gpu empty to run on the CPU")
