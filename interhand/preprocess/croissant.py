"""croissant.json of a split folder (SHARD_FORMAT.md §1.2): Croissant 1.0 JSON-LD (mlcommons.org/croissant) with the
Responsible-AI fields (mlcommons.org/croissant/RAI), a function of dataset.json and the format document alone.

- Files: `manifest.parquet` and every tar with its SHA-256, and file sets over the tars' members (`image-members`:
  the `jpg`/`png` members the folder holds; `json-members`), which a Croissant reader extracts from the tars.
- Record sets: `manifest` (one field per manifest column, typed from `MANIFEST_SCHEMA`, described by the spec's §4.2
  and §5 tables: values, unit and frame), `images` (key and decoded pixels of every image member) and `records`
  (key and the `.json` member's text: the sample's §4.2 fields). Keys are the sample keys in all three.
- The dataset: name, description, license, `citeAs`, `url`, `version` (the format version), `datePublished` (the
  original's release: the shards add no data, and a date of this run would change the bytes of a re-run), and the
  RAI fields that apply, in the original's words where it has them.
"""

from __future__ import annotations

import json

import pyarrow as pa

from interhand.manifests.schema import MANIFEST_SCHEMA
from interhand.shard_format.dataset_json import DatasetJson
from interhand.shard_format.names import JSON_MEMBER, MANIFEST_FILE

__all__ = ["croissant_text", "spec_table", "RAI", "DATE_PUBLISHED"]

# The context every Croissant 1.0 file carries (mlcommons.org/croissant/1.0), so that no reader fetches one.
_CONTEXT = {
    "@language": "en", "@vocab": "https://schema.org/", "citeAs": "cr:citeAs", "column": "cr:column",
    "conformsTo": "dct:conformsTo", "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/", "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"}, "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty", "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract", "field": "cr:field", "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet", "format": "cr:format", "includes": "cr:includes", "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath", "key": "cr:key", "md5": "cr:md5", "parentField": "cr:parentField",
    "path": "cr:path", "recordSet": "cr:recordSet", "references": "cr:references", "regex": "cr:regex",
    "repeated": "cr:repeated", "replace": "cr:replace", "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/", "separator": "cr:separator", "source": "cr:source", "subField": "cr:subField",
    "transform": "cr:transform",
}

# When the original data were published (schema.org Date). InterHand2.6M: v1.0, the release the paper used (its
# README: "2021.03.22. Finally, InterHand2.6M v1.0, which includes all images of 5 fps and 30 fps version, is
# released!"); STB and RHD: the year of the paper that released them; a generic COCO input: unknown, so none.
DATE_PUBLISHED = {"interhand26m": "2021-03-22", "stb": "2016", "rhd": "2017"}

_PREPROCESSING = ("Converted by the interhand package (`interhand shards`) into webdataset shards: one sample per "
                  "input annotation, its image stored with decoded pixels identical to the source file's (progressive "
                  "JPEGs re-encoded losslessly as baseline, SHARD_FORMAT.md §4.3), the annotation's joints, camera "
                  "and box unchanged in value (float32), RootNet outputs and MANO fits joined by annotation id or "
                  "frame; annotations that fail the checks of SHARD_FORMAT.md §5 are left out and listed in "
                  "errors.parquet, with the reason.")
_USE = "3D hand pose estimation from a single RGB image: training and evaluating models, for research."
# The Responsible-AI fields that apply, per dataset. Quoted text is the original's own (the paper's abstract, the
# release's README); the rest says what the original documents, in our words.
RAI = {
    "interhand26m": {
        "rai:dataCollection": (
            "From the paper's abstract: \"InterHand2.6M consists of 2.6M labeled single and interacting hand frames "
            "under various poses from multiple subjects\"; its README: \"the first large-scale real-captured "
            "dataset with accurate GT 3D interacting hand poses\". Frames were captured in a calibrated multi-camera "
            "studio; the released images are downsampled from the cameras' 4K frames."),
        "rai:dataCollectionType": ["Experiments", "Manual Human Curation"],
        "rai:dataAnnotationProtocol": (
            "Semi-automatic, as the paper describes: human annotators marked 2D joints in several views, "
            "triangulated to 3D (the `human_annot` subset); a machine annotator trained on those labelled the rest "
            "(`machine_annot`); `all` is both. 3D joints are in world millimetres and projected into every view; "
            "MANO fits were added later by NeuralAnnot (fitting error about 5 mm, the README says)."),
        "rai:machineAnnotationTools": ["the authors' machine annotator (machine_annot)", "NeuralAnnot (MANO fits)",
                                       "RootNet (root depth outputs, val/test)"],
        "rai:personalSensitiveInformation": (
            "Images of real people's hands (and at times forearms and clothing) recorded with their participation; "
            "no names. The original downsampled the released frames from 4K for privacy. Its `subject` ids (and "
            "the original's subject.txt, with gender) identify subjects only by number."),
    },
    "stb": {
        "rai:dataCollection": (
            "Real video sequences of a hand in front of a stereo camera pair and a depth camera, recorded by the "
            "authors (Zhang et al., 2016), in several backgrounds; read here from the InterHand2.6M release's "
            "COCO-style parse of it."),
        "rai:dataCollectionType": ["Experiments"],
        "rai:dataAnnotationProtocol": (
            "3D joint positions as the authors provide them (one hand per frame), in camera millimetres; "
            "projected with the camera's intrinsics."),
        "rai:personalSensitiveInformation": "Images of a real person's hand; no names or other identifiers.",
    },
    "rhd": {
        "rai:dataCollection": (
            "Synthetic: 3D human characters performing actions, rendered with Blender by the authors (Zimmermann "
            "and Brox, 2017); read here from the InterHand2.6M release's COCO-style parse of it."),
        "rai:dataCollectionType": ["Simulation"],
        "rai:dataAnnotationProtocol": "Exact 2D and 3D joint positions from the renderer, in camera millimetres.",
        "rai:personalSensitiveInformation": "None: rendered characters, no images of real people.",
    },
    "coco": {
        "rai:dataCollection": "A generic COCO-keypoints input: its collection is not known here; set it by hand.",
        "rai:dataAnnotationProtocol": "As in the input's annotation file; not known here.",
        "rai:personalSensitiveInformation": "Not known here: check the input's images before publishing.",
    },
}


def spec_table(spec: str, first_header: str) -> dict[str, dict[str, str]]:
    """The format document's table whose header row starts with `first_header`: name (backticks dropped) ->
    {header: cell}. ValueError naming the table when the document has none."""
    lines = spec.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |")), None)
    if start is None:
        raise ValueError(f"SHARD_FORMAT.md has no table headed `{first_header}`")
    headers = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != len(headers):
            raise ValueError(f"SHARD_FORMAT.md row with {len(cells)} cells, its table has {len(headers)}: {line}")
        name = cells[0].strip("`")
        if name in rows:
            raise ValueError(f"SHARD_FORMAT.md lists {name} twice in the {first_header} table")
        rows[name] = dict(zip(headers, cells))
    return rows


def _description(row: dict[str, str], arrow_type: pa.DataType, section: str) -> str:
    """A manifest column's description from its spec row: the values, the unit and frame, the shape where not 1,
    then its Arrow type and where the spec defines it."""
    parts = [row.get("values", "")]
    unit = row.get("unit, frame") or row.get("unit") or ""
    if unit:
        parts.append(f"unit, frame: {unit}")
    if row.get("shape") not in (None, "", "scalar"):
        parts.append(f"shape {row['shape']}")
    parts.append(f"Arrow type {arrow_type} (SHARD_FORMAT.md {section})")
    return "; ".join(part for part in parts if part).replace("`", "").replace("**", "")


def _data_type(arrow_type: pa.DataType) -> tuple[str, bool]:
    """(Croissant dataType, repeated) of a manifest column's Arrow type; a list of lists (42×3) is repeated too."""
    repeated = False
    while pa.types.is_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type):
        arrow_type, repeated = arrow_type.value_type, True
    if pa.types.is_floating(arrow_type):
        return "sc:Float", repeated
    if pa.types.is_integer(arrow_type):
        return "sc:Integer", repeated
    if pa.types.is_boolean(arrow_type):
        return "sc:Boolean", repeated
    return "sc:Text", repeated


def _field(record_set: str, name: str, data_type: str, description: str, source: dict) -> dict:
    return {"@type": "cr:Field", "@id": f"{record_set}/{name}", "name": name, "description": description,
            "dataType": data_type, "source": source}


def _manifest_fields(spec: str) -> list[dict]:
    locations, contents = spec_table(spec, "location column"), spec_table(spec, "field")
    fields = []
    for column in MANIFEST_SCHEMA:
        data_type, repeated = _data_type(column.type)
        row, section = (locations[column.name], "§5") if column.name in locations else (
            contents.get(column.name, {}), "§4.2")
        description = _description(row, column.type, section)
        field = _field("manifest", column.name, data_type, description,
                       {"fileObject": {"@id": MANIFEST_FILE}, "extract": {"column": column.name}})
        if repeated:
            field["repeated"] = True
        fields.append(field)
    return fields


def _member_record_sets(dataset: DatasetJson) -> list[dict]:
    """`images` and `records`: one record per image member and per `.json` member, keyed by the sample key (the
    member's name without its extension), read from the file sets over the tars."""
    images = "|".join(dataset.image_members) or "jpg"
    key_of = {"fileProperty": "filename"}
    image_fields = [
        _field("images", "key", "sc:Text", "the sample key (SHARD_FORMAT.md §3)",
               {"fileSet": {"@id": "image-members"}, "extract": key_of,
                "transform": {"regex": f"^(.+)\\.(?:{images})$"}}),
        _field("images", "image", "sc:ImageObject", "the image, decoded (pixels equal the source file's, §4.3)",
               {"fileSet": {"@id": "image-members"}, "extract": {"fileProperty": "content"}})]
    record_fields = [
        _field("records", "key", "sc:Text", "the sample key (SHARD_FORMAT.md §3)",
               {"fileSet": {"@id": "json-members"}, "extract": key_of,
                "transform": {"regex": f"^(.+)\\.{JSON_MEMBER}$"}}),
        _field("records", "record", "sc:Text", "the `.json` member: UTF-8 JSON of the sample's §4.2 fields (the "
               "manifest record set's content fields, same names and values)",
               {"fileSet": {"@id": "json-members"}, "extract": {"fileProperty": "content"}})]
    return [{"@type": "cr:RecordSet", "@id": "images", "name": "images", "key": {"@id": "images/key"},
             "description": "one record per sample: its image member, decoded", "field": image_fields},
            {"@type": "cr:RecordSet", "@id": "records", "name": "records", "key": {"@id": "records/key"},
             "description": "one record per sample: its `.json` member", "field": record_fields}]


def _distribution(dataset: DatasetJson) -> list[dict]:
    manifest = {"@type": "cr:FileObject", "@id": MANIFEST_FILE, "name": MANIFEST_FILE, "contentUrl": MANIFEST_FILE,
                "encodingFormat": "application/x-parquet", "sha256": dataset.files[MANIFEST_FILE].sha256}
    tars = [{"@type": "cr:FileObject", "@id": shard.name, "name": shard.name, "contentUrl": shard.name,
             "encodingFormat": "application/x-tar", "sha256": shard.sha256} for shard in dataset.shards]
    contained_in = [{"@id": tar["@id"]} for tar in tars]
    members = dataset.image_members or ("jpg",)
    image_sets = {"@type": "cr:FileSet", "@id": "image-members", "name": "image-members",
                  "description": "the image member of every sample (SHARD_FORMAT.md §4.3), a tar member",
                  "containedIn": contained_in,
                  "encodingFormat": [{"jpg": "image/jpeg", "png": "image/png"}[member] for member in members],
                  "includes": [f"*.{member}" for member in members]}
    json_set = {"@type": "cr:FileSet", "@id": "json-members", "name": "json-members",
                "description": "the `.json` record of every sample (SHARD_FORMAT.md §4.2), a tar member",
                "containedIn": contained_in, "encodingFormat": "application/json", "includes": f"*.{JSON_MEMBER}"}
    return [manifest, *tars, image_sets, json_set]


def croissant_text(dataset: DatasetJson, *, name: str, description: str, license_text: str, cite_as: str,
                   url: str, spec: str) -> str:
    """croissant.json for the split folder `dataset` describes; `spec` is the format document's text."""
    document = {
        "@context": _CONTEXT, "@type": "sc:Dataset", "conformsTo": "http://mlcommons.org/croissant/1.0",
        "name": name, "description": description, "license": license_text, "citeAs": cite_as, "url": url,
        "version": f"{dataset.format_version}.0.0",
    }
    if dataset.dataset in DATE_PUBLISHED:
        document["datePublished"] = DATE_PUBLISHED[dataset.dataset]
    document.update(RAI[dataset.dataset])
    document.update({
        "rai:dataUseCases": _USE, "rai:dataPreprocessingProtocol": _PREPROCESSING,
        "distribution": _distribution(dataset),
        "recordSet": [{"@type": "cr:RecordSet", "@id": "manifest", "name": "manifest", "key": {"@id": "manifest/key"},
                       "description": "one row per sample (manifest.parquet, SHARD_FORMAT.md §5)",
                       "field": _manifest_fields(spec)},
                      *_member_record_sets(dataset)],
    })
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"
