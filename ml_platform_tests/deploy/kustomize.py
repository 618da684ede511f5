"""A small kustomize: builds our overlays without the kustomize binary, which no registry here ships.

It implements exactly the kustomization fields `deploy/k8s` uses (resources, components, namespace,
labels, images by digest, patches as strategic merges) and refuses any other field, so a new field
fails loudly instead of being ignored. Where kubectl is installed, test_kustomize_renderer.py holds its
output equal to `kubectl kustomize` on both overlays.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "components", "namespace", "labels", "images", "patches"}
CLUSTER_SCOPED = {"Namespace"}


def load_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def build(directory: Path) -> list[dict]:
    """The manifests a kustomization directory renders to, in order."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - SUPPORTED
    if unsupported:
        raise ValueError(f"{directory}: kustomization fields this renderer does not implement: {unsupported}")
    objects: list[dict] = []
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        objects += build(target) if target.is_dir() else load_documents(target)
    for entry in kustomization.get("components", []):
        component = yaml.safe_load(((directory / entry) / "kustomization.yaml").read_text())
        kustomization.setdefault("images", []).extend(component.pop("images", []))
        if set(component) - {"apiVersion", "kind"}:
            raise ValueError(f"{entry}: component fields this renderer does not implement: {set(component)}")
    for patch_entry in kustomization.get("patches", []):
        for patch in load_documents(directory / patch_entry["path"]):
            _apply_patch(objects, patch)
    for label_entry in kustomization.get("labels", []):
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(label_entry["pairs"])
    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = kustomization["namespace"]
    for image in kustomization.get("images", []):
        for container in _containers(objects):
            _set_image(container, image)
    return objects


def _apply_patch(objects: list[dict], patch: dict) -> None:
    matches = [o for o in objects if o["kind"] == patch["kind"] and o["metadata"]["name"] == patch["metadata"]["name"]]
    if len(matches) != 1:
        raise ValueError(f"patch {patch['kind']}/{patch['metadata']['name']} matches {len(matches)} objects")
    merged = strategic_merge(matches[0], patch)
    matches[0].clear()
    matches[0].update(merged)


def strategic_merge(base, patch):
    """Maps merge key by key; lists of named items (containers, volumes, ports) merge by name; others replace."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            merged[key] = strategic_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list) and _named(base) and _named(patch):
        merged = copy.deepcopy(base)
        for item in patch:
            same = [i for i, old in enumerate(merged) if old["name"] == item["name"]]
            if same:
                merged[same[0]] = strategic_merge(merged[same[0]], item)
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(patch)


def _named(items: list) -> bool:
    return all(isinstance(i, dict) and "name" in i for i in items)


def _containers(objects: list[dict]):
    for obj in objects:
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        yield from pod.get("containers", []) + pod.get("initContainers", [])


def _set_image(container: dict, image: dict) -> None:
    name, _, tag = container["image"].partition(":")
    if name != image["name"]:
        return
    new_name = image.get("newName", name)
    if "digest" in image:
        container["image"] = f"{new_name}@{image['digest']}"
    else:
        new_tag = image.get("newTag", tag)
        container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name
