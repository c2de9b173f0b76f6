"""Download, checksum and extraction helpers for ``data/prepare_cub.py`` and ``data/prepare_coco.py``.

Nothing here runs at import or test time; the prepare scripts call it on request.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

__all__ = ["file_digest", "download", "verify", "extract", "install_metadata"]


def file_digest(path: str | Path, algo: str = "sha256", chunk: int = 1 << 20) -> str:
    """Hex digest of a file (``algo`` = 'sha256' or 'md5')."""
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify(path: str | Path, md5: str | None = None, sha256: str | None = None, strict: bool = True) -> bool:
    """Compare checksums; prints the SHA-256 so users can record it. Raises on mismatch if ``strict``."""
    path = Path(path)
    got = file_digest(path, "sha256")
    print(f"{path.name}: sha256 {got}")
    problems = []
    if sha256 and got != sha256.lower():
        problems.append(f"sha256 {got} != expected {sha256}")
    if md5:
        got_md5 = file_digest(path, "md5")
        print(f"{path.name}: md5    {got_md5}")
        if got_md5 != md5.lower():
            problems.append(f"md5 {got_md5} != expected {md5}")
    if problems:
        msg = f"checksum mismatch for {path}: " + "; ".join(problems)
        if strict:
            raise ValueError(msg + " (delete the file and download it again)")
        print("WARNING:", msg)
        return False
    return True


def download(url: str, dest: str | Path) -> Path:
    """Download ``url`` to ``dest`` (via ``dest.part``, with a tqdm progress bar); keeps an existing file."""
    from tqdm.auto import tqdm

    dest = Path(dest)
    if dest.is_file():
        print(f"{dest} exists, not downloading again")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with urllib.request.urlopen(url) as r, open(part, "wb") as f:
        total = int(r.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
            while block := r.read(1 << 20):
                f.write(block)
                bar.update(len(block))
    part.rename(dest)
    return dest


def extract(archive: str | Path, dest: str | Path) -> None:
    """Extract a .tgz/.tar or .zip into ``dest`` (tar with the safe 'data' filter; zip member paths are
    sanitised by :mod:`zipfile`)."""
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    print(f"extracting {archive} -> {dest}")
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            t.extractall(dest, filter="data")
    else:
        raise ValueError(f"{archive} is neither a zip nor a tar archive")


def install_metadata(zip_path: str | Path, root: str | Path) -> Path:
    """Extract a DF-GAN metadata zip (downloaded by hand) and merge the folder that holds
    ``captions_DAMSM.pickle`` into ``root``. Returns ``root``."""
    zip_path, root = Path(zip_path), Path(root)
    if not zip_path.is_file():
        raise FileNotFoundError(f"metadata zip not found: {zip_path}")
    with tempfile.TemporaryDirectory() as tmp:
        extract(zip_path, tmp)
        found = sorted(Path(tmp).rglob("captions_DAMSM.pickle"), key=lambda p: len(p.parts))
        if not found:
            raise ValueError(f"{zip_path} contains no captions_DAMSM.pickle: is it the DF-GAN metadata zip?")
        src = found[0].parent
        root.mkdir(parents=True, exist_ok=True)
        for item in src.iterdir():
            target = root / item.name
            if item.is_dir():
                shutil.copytree(item, target, dirs_exist_ok=True)
            else:
                shutil.copy2(item, target)
    print(f"metadata from {zip_path} installed into {root}")
    return root
