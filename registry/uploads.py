"""Turning uploaded files into a folder an importer can read, safely."""

from __future__ import annotations

import shutil
import uuid
import zipfile
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from registry.importers import EvaluationImportError

ALLOWED_NAMES = {"prompts.jsonl", "results.csv", "results.jsonl", "models.json", "llm_candidates.json",
                 "routing_data.jsonl"}


def upload_store(files: list[UploadedFile]) -> Path:
    """Copy the uploads (loose files, or one zip) into a fresh folder; refuse anything unsafe."""
    folder = Path(settings.MEDIA_ROOT) / "imports" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    try:
        for upload in files:
            _store_one(upload, folder)
    except EvaluationImportError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def _store_one(upload: UploadedFile, folder: Path) -> None:
    name = PurePosixPath(upload.name or "").name
    if upload.size is not None and upload.size > settings.OPTIROUTE_MAX_UPLOAD_BYTES:
        raise EvaluationImportError([f"{name}: file is {upload.size} bytes, over the limit of "
                                     f"{settings.OPTIROUTE_MAX_UPLOAD_BYTES}"])
    if name.endswith(".zip"):
        _extract_zip(upload, folder, name)
        return
    if not (name in ALLOWED_NAMES or name.endswith(".csv")):
        raise EvaluationImportError([f"{name}: unexpected file; upload a zip or the files "
                                     f"{', '.join(sorted(ALLOWED_NAMES))}"])
    with open(folder / name, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)


def _extract_zip(upload: UploadedFile, folder: Path, name: str) -> None:
    try:
        archive = zipfile.ZipFile(upload)
    except zipfile.BadZipFile as exc:
        raise EvaluationImportError([f"{name}: not a valid zip file"]) from exc
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX")]
        total = sum(m.file_size for m in members)
        if total > settings.OPTIROUTE_MAX_UPLOAD_BYTES:
            raise EvaluationImportError([f"{name}: unpacks to {total} bytes, over the limit of "
                                         f"{settings.OPTIROUTE_MAX_UPLOAD_BYTES}"])
        for member in members:
            # Flatten: only the base name counts, so no member can escape the folder.
            target = PurePosixPath(member.filename).name
            if not (target in ALLOWED_NAMES or target.endswith(".csv")):
                continue
            with archive.open(member) as source, open(folder / target, "wb") as out:
                shutil.copyfileobj(source, out)
