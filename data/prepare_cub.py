"""Prepare CUB-200-2011 in the official DF-GAN layout (docs/official_behaviour.md §12.1) and check it.

    python data/prepare_cub.py --check                        # only report what is missing
    python data/prepare_cub.py --download                     # images from Caltech DATA (1.1 GB)
    python data/prepare_cub.py --tgz ~/CUB_200_2011.tgz       # images you already downloaded
    python data/prepare_cub.py --metadata ~/Downloads/birds.zip   # DF-GAN metadata, downloaded by hand

Images: CUB_200_2011.tgz from Caltech DATA, https://data.caltech.edu/records/65de6-vp158 . No SHA-256 is
published; we verify the MD5 97eceeb196236b17998738112f37df78 that common CUB loaders check (compare it
with the checksum shown on the Caltech record) and print the SHA-256 of your copy.

Metadata (captions_DAMSM.pickle, train/ and test/filenames.pickle, text/, DAMSMencoder/): the "birds"
zip linked from the official DF-GAN README (github.com/tobran/DF-GAN) on Google Drive. It has no published
checksum and Google Drive needs a browser, so download it by hand and pass it with --metadata.
The pickles are only ever read with a restricted unpickler (dflib.data.vocab.safe_load_pickle).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dflib.data.download import download, extract, install_metadata, verify
from dflib.data.official import check_layout

CUB_URL = "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1"
CUB_MD5 = "97eceeb196236b17998738112f37df78"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parent / "birds",
                   help="the official data_dir (default: data/birds)")
    p.add_argument("--download", action="store_true", help="download CUB_200_2011.tgz into --root")
    p.add_argument("--tgz", type=Path, help="an already downloaded CUB_200_2011.tgz")
    p.add_argument("--metadata", type=Path, help="the DF-GAN birds metadata zip, downloaded by hand")
    p.add_argument("--check", action="store_true", help="only report the layout")
    p.add_argument("--no-image-check", action="store_true", help="skip checking every image file")
    a = p.parse_args(argv)
    if not a.check:
        tgz = a.tgz
        if a.download:
            tgz = download(CUB_URL, a.root / "CUB_200_2011.tgz")
        if tgz is not None:
            verify(tgz, md5=CUB_MD5)
            extract(tgz, a.root)
        if a.metadata is not None:
            install_metadata(a.metadata, a.root)
    report = check_layout(a.root, "cub", check_images=not a.no_image_check)
    print(report)
    if not report.ok:
        print("\nSee data/README.md: images come from --download/--tgz, the pickles from --metadata.")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
