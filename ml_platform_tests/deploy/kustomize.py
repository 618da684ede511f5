"""A small kustomize: builds our overlays without the kustomize binary, which no registry here ships.

It implements exactly the kustomization fields `deploy/k8s` uses (resources, components, namespace,
nameSuffix, labels with or without selectors, images by name or digest, patches as strategic merges, from
a file or inline, by name or by a target's kind and label selector) and refuses any other field, so a new
field fails loudly instead of being ignored. Where kubectl is installed, test_kustomize_renderer.py holds its
output equal to `kubectl kustomize` on both overlays.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "components", "namespace", "nameSuffix", "labels", "images", "patches"}
CLUSTER_SCOPED = {"Namespace"}
# Where `labels: includeSelectors` also writes (kustomize's commonLabels field specs, for the kinds we use).
SELECTORS = {"Service": [("spec", "selector")],
             "Deployment": [("spec", "selector", "matchLabels"), ("spec", "template", "metadata", "labels")],
             "PodDisruptionBudget": [("spec", "selector", "matchLabels")]}


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
        patches = (load_documents(directory / patch_entry["path"]) if "path" in patch_entry
                   else [yaml.safe_load(patch_entry["patch"])])
        for patch in patches:
            _apply_patch(objects, patch, patch_entry.get("target"))
    if suffix := kustomization.get("nameSuffix"):
        _suffix_names(objects, suffix)
    for label_entry in kustomization.get("labels", []):
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(label_entry["pairs"])
            for path in SELECTORS.get(obj["kind"], []) if label_entry.get("includeSelectors") else []:
                _at(obj, path).update(label_entry["pairs"])
    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = kustomization["namespace"]
    for image in kustomization.get("images", []):
        for container in _containers(objects):
            _set_image(container, image)
    return objects


def _apply_patch(objects: list[dict], patch: dict, target: dict | None) -> None:
    """By the patch's kind and name, which must match one object; with a target, to every object it selects
    (kind and `key=value,...` label selector), the patch's own name ignored, as kustomize does."""
    if target is None:
        kind, name = patch["kind"], patch["metadata"]["name"]
        matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
        if len(matches) != 1:
            raise ValueError(f"patch {patch['kind']}/{patch['metadata']['name']} matches {len(matches)} objects")
    else:
        if set(target) - {"kind", "labelSelector"}:
            raise ValueError(f"patch target fields this renderer does not implement: {set(target)}")
        wanted = dict(pair.split("=", 1) for pair in target.get("labelSelector", "").split(",") if pair)
        matches = [o for o in objects if o["kind"] == target.get("kind", o["kind"])
                   and wanted.items() <= o["metadata"].get("labels", {}).items()]
    for match in matches:
        merged = strategic_merge(match, {**patch, "metadata": {**patch["metadata"], "name": match["metadata"]["name"]}})
        match.clear()
        match.update(merged)


def _suffix_names(objects: list[dict], suffix: str) -> None:
    """Every object's name, and the references to them that we use (an HPA's scaleTargetRef)."""
    renamed = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for obj in objects:
        obj["metadata"]["name"] += suffix
        ref = obj.get("spec", {}).get("scaleTargetRef")
        if ref and (ref["kind"], ref["name"]) in renamed:
            ref["name"] += suffix


def _at(obj: dict, path: tuple[str, ...]) -> dict:
    for key in path:
        obj = obj.setdefault(key, {})
    return obj


def strategic_merge(base, patch):
    """Maps merge key by key; lists of named items (containers, env, volumes, ports) merge by name; others replace."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            merged[key] = strategic_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list) and _named(base) and _named(patch):
        # kustomize puts the patch's items first, in the patch's order, then the others as they were.
        olds = {item["name"]: item for item in base}
        named = {item["name"] for item in patch}
        return ([strategic_merge(olds[item["name"]], item) if item["name"] in olds else copy.deepcopy(item)
                 for item in patch] + [copy.deepcopy(item) for item in base if item["name"] not in named])
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
