"""Join a COCO file's annotations with their images, streaming: images are indexed compactly, then each
annotation is yielded as it is parsed (a second pass only for a file that lists annotations first)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from interhand.preprocess.json_stream import JsonStream, JsonStructureError
from interhand.preprocess.sources.common import (
    ImageProblem,
    Rejection,
    RejectSample,
    SourceError,
    flags_problem,
    integer,
)
from interhand.shard_format.names import MAX_ANNOTATION_ID, sample_key
from interhand.shard_format.sample import HAND_TYPES

__all__ = ["iter_coco_annotations"]


def _walk(path: Path, compact_image: Callable, images: dict, state: dict) -> Iterator[dict]:
    """One pass. Indexes images (first pass only); yields annotations once the images are indexed."""
    keys = []
    with JsonStream(path) as stream:
        first = stream.peek()
        if first != "{":
            raise SourceError(f"{path}: expected a COCO object {{'images': [...], 'annotations': [...]}}, "
                              f"found {'an empty file' if not first else repr(first)}")
        for key in stream.object():
            keys.append(key)
            if key == "images" and not state["images_done"]:
                _index_images(path, stream, compact_image, images)
                state["images_done"] = True
            elif key == "annotations" and state["images_done"] and not state["annotations_done"]:
                for _ in stream.array():
                    yield stream.value()
                state["annotations_done"] = True
            elif key in ("images", "annotations"):
                for _ in stream.array():  # item by item: skipping must not load the list either
                    stream.skip()
            else:
                stream.skip()
    for required in ("images", "annotations"):
        if required not in keys:
            raise SourceError(f"{path}: no '{required}' list (keys found: {', '.join(keys) or 'none'})")


def _index_images(path: Path, stream: JsonStream, compact_image: Callable, images: dict) -> None:
    """images[id] = compact_image(entry), or an ImageProblem where the entry is unusable or its id is listed
    more than once (which of two images would an annotation mean?). Entries without an integer id cannot be
    pointed at (annotations' image ids are checked too) and are skipped."""
    counts: dict[int, int] = {}
    for _ in stream.array():
        image = stream.value()
        if not isinstance(image, dict):
            raise SourceError(f"{path}: an image entry is {type(image).__name__}, expected an object")
        try:
            image_id = integer(image.get("id"), "image id", 64)
        except RejectSample:
            continue
        counts[image_id] = counts.get(image_id, 0) + 1
        try:
            images[image_id] = compact_image(image)
        except RejectSample as error:
            images[image_id] = ImageProblem(f"image {image_id}: {error}")
        except KeyError as error:
            images[image_id] = ImageProblem(f"image {image_id} lacks the field {error}")
        except (TypeError, ValueError) as error:
            images[image_id] = ImageProblem(f"image {image_id}: malformed entry ({type(error).__name__}: {error})")
    for image_id, count in counts.items():
        if count > 1:
            images[image_id] = ImageProblem(f"image id {image_id} appears {count} times in {path}")


def _annotation_id(annotation: dict) -> tuple[int, str]:
    """(id, '') or (id, or -1 where it has none usable; why the annotation cannot become a sample under it)."""
    value = annotation.get("id")
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is float and value >= 0:
        return -1, f"annotation id {value!r} is not an integer"
    if type(value) is not int or value < 0:
        return -1, f"annotation without a non-negative integer id: {str(annotation)[:120]}"
    if value > MAX_ANNOTATION_ID:
        return (value if value < 1 << 63 else -1), (f"annotation id {value} is longer than the "
                                                     f"{len(str(MAX_ANNOTATION_ID))} digits of a sample key")
    return value, ""


def iter_coco_annotations(path: Path, compact_image: Callable[[dict], object]
                          ) -> Iterator[tuple[Optional[object], dict]]:
    """Yield (compact image record, or None if the image id is unknown; annotation dict) per annotation.

    Memory holds the compact image index and one annotation at a time, never the whole file.
    """
    images: dict = {}
    state = {"images_done": False, "annotations_done": False}
    try:
        for _ in range(2):
            for annotation in _walk(path, compact_image, images, state):
                if not isinstance(annotation, dict):
                    raise SourceError(f"{path}: an annotation is {type(annotation).__name__}, expected an object")
                image_id = annotation.get("image_id")
                yield (images.get(image_id) if isinstance(image_id, (int, float)) else None), annotation
            if state["annotations_done"]:
                return
    except JsonStructureError as error:
        raise SourceError(str(error)) from error


_CHECKED_JOINT_VALID: set[bytes] = set()  # joint_valid patterns known to be all 0 or 1 (few differ in a split)


def _joint_valid_problem(joint_valid: np.ndarray) -> str:
    """flags_problem of a joint_valid array, remembering the patterns that passed (a set lookup is ~10x faster)."""
    pattern = joint_valid.tobytes()
    if pattern in _CHECKED_JOINT_VALID:
        return ""
    problem = flags_problem(joint_valid, "joint_valid")
    if not problem and len(_CHECKED_JOINT_VALID) < 4096:
        _CHECKED_JOINT_VALID.add(pattern)
    return problem


def join_records(data_path: Path, compact_image: Callable[[dict], object], build: Callable, dataset: str,
                 split: str, keep_id: Optional[Callable[[int], bool]] = None,
                 share: Optional[Callable[[int], bool]] = None,
                 place: Optional[Callable[[object], tuple[int, str]]] = None) -> Iterator:
    """One Sample or Rejection per input annotation: `build(annotation_id, image, annotation)` makes the
    sample; ids, duplicates, unknown images and malformed fields become Rejections here.

    `share(position)`, position counting what this yields: False → None is yielded there instead of building
    the sample (the parallel ingest, where each process builds only its share; ids are still tracked).
    `place(image)`: the (capture, camera) of a compact image record, which every rejection of its annotations
    carries (errors.parquet's columns), as does the annotation's hand_type where it is one.
    """
    def reject(annotation_id: int, reason: str) -> Rejection:  # of the `image` and `annotation` the loop is at
        key = sample_key(dataset, split, annotation_id) if 0 <= annotation_id <= MAX_ANNOTATION_ID else ""
        known = place is not None and image is not None and not isinstance(image, ImageProblem)
        capture, camera = place(image) if known else (-1, "")
        hand_type = annotation.get("hand_type")
        return Rejection(str(data_path), annotation_id, key, reason, capture, camera,
                         hand_type if hand_type in HAND_TYPES else "")

    seen: set[int] = set()
    position = -1  # of the record being made
    for image, annotation in iter_coco_annotations(data_path, compact_image):
        annotation_id, problem = annotation.get("id"), ""
        if type(annotation_id) is not int or not 0 <= annotation_id <= MAX_ANNOTATION_ID:
            annotation_id, problem = _annotation_id(annotation)
        if problem and annotation_id < 0:
            position += 1
            yield reject(-1, problem)
            continue
        if keep_id is not None and not keep_id(annotation_id):
            continue  # outside the requested subset: not an input annotation of this job
        position += 1
        if problem:
            yield reject(annotation_id, problem)
            continue
        if annotation_id in seen:
            yield reject(annotation_id, f"duplicate annotation id {annotation_id} (the first one is kept)")
            continue
        seen.add(annotation_id)
        image_id = annotation.get("image_id")
        if type(image_id) is not int or not -(1 << 63) <= image_id < 1 << 63:
            try:
                integer(image_id, "image_id", 64)
            except RejectSample as error:
                yield reject(annotation_id, str(error))
                continue
        if image is None:
            yield reject(annotation_id, f"image id {image_id} is not in the images list")
            continue
        if isinstance(image, ImageProblem):
            yield reject(annotation_id, image.reason)
            continue
        if share is not None and not share(position):
            yield None
            continue
        try:
            record = build(annotation_id, image, annotation)
        except RejectSample as error:
            record = reject(annotation_id, str(error))
        except KeyError as error:
            record = reject(annotation_id, f"annotation or image lacks the field {error}")
        except LookupError as error:
            record = reject(annotation_id, str(error))
        except (TypeError, ValueError) as error:
            record = reject(annotation_id, f"malformed annotation ({type(error).__name__}: {error})")
        if isinstance(record, Rejection):  # the builder's own: with where it was
            record = reject(record.annotation_id, record.reason)
        if not isinstance(record, Rejection):
            # Stored, and used as loss weights and selection masks: 7 or NaN must not pass as "valid".
            problem = _joint_valid_problem(record.joint_valid_raw) or (
                "" if record.hand_type_valid in (0, 1) else f"hand_type_valid must be 0 or 1: {record.hand_type_valid}")
            if problem:
                record = reject(annotation_id, problem)
        yield record
