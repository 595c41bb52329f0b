"""Join a COCO file's annotations with their images, streaming: images are indexed compactly, then each
annotation is yielded as it is parsed (a second pass only for a file that lists annotations first)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator, Optional

from interhand.preprocess.json_stream import JsonStream, JsonStructureError
from interhand.preprocess.sources.common import RejectSample, Rejection, SourceError
from interhand.shard_format import sample_key

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
                for _ in stream.array():
                    image = stream.value()
                    images[image["id"]] = compact_image(image)
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
                yield images.get(annotation.get("image_id")), annotation
            if state["annotations_done"]:
                return
    except JsonStructureError as error:
        raise SourceError(str(error)) from error
    except (KeyError, TypeError) as error:
        raise SourceError(f"{path}: an image entry lacks a field ({error!r})") from error


def join_records(data_path: Path, compact_image: Callable[[dict], object], build: Callable, dataset: str,
                 split: str, keep_id: Optional[Callable[[int], bool]] = None,
                 share: Optional[Callable[[int], bool]] = None) -> Iterator:
    """One Sample or Rejection per input annotation: `build(annotation_id, image, annotation)` makes the
    sample; ids, duplicates, unknown images and malformed fields become Rejections here.

    `share(position)`, position counting what this yields: False → None is yielded there instead of building
    the sample (the parallel ingest, where each process builds only its share; ids are still tracked).
    """
    def reject(annotation_id: int, reason: str) -> Rejection:
        key = sample_key(dataset, split, annotation_id) if annotation_id >= 0 else ""
        return Rejection(str(data_path), annotation_id, key, reason)

    seen: set[int] = set()
    position = -1  # of the record being made
    for image, annotation in iter_coco_annotations(data_path, compact_image):
        try:
            annotation_id = int(annotation["id"])
            if annotation_id < 0:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            position += 1
            yield reject(-1, f"annotation without a non-negative integer id: {str(annotation)[:120]}")
            continue
        if keep_id is not None and not keep_id(annotation_id):
            continue  # outside the requested subset: not an input annotation of this job
        position += 1
        if annotation_id in seen:
            yield reject(annotation_id, f"duplicate annotation id {annotation_id} (the first one is kept)")
            continue
        seen.add(annotation_id)
        if image is None:
            yield reject(annotation_id, f"image id {annotation.get('image_id')} is not in the images list")
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
        yield record
