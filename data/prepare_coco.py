"""Prepare COCO-2014 in the official DF-GAN layout (docs/official_behaviour.md §12.1) and check it.

    python data/prepare_coco.py --check
    python data/prepare_coco.py --download                    # train2014.zip 13 GB + val2014.zip 6 GB
    python data/prepare_coco.py --zips ~/train2014.zip ~/val2014.zip
    python data/prepare_coco.py --metadata ~/Downloads/coco.zip   # DF-GAN metadata, downloaded by hand

Images: http://images.cocodataset.org/zips/train2014.zip and val2014.zip (extracted to images/train2014,
images/val2014). COCO publishes no checksums. We print the SHA-256 of your copy and compare the MD5
against values recorded by other projects (not official; a mismatch is only a warning).

Metadata (captions_DAMSM.pickle, train/ and test/filenames.pickle, DAMSMencoder/): the "coco" zip linked
from the official DF-GAN README on Google Drive; no published checksum; download it by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dflib.data.download import download, extract, install_metadata, verify
from dflib.data.official import check_layout

COCO_URLS = {
    "train2014.zip": "http://images.cocodataset.org/zips/train2014.zip",
    "val2014.zip": "http://images.cocodataset.org/zips/val2014.zip",
}
# community-recorded MD5s (e.g. in wkentaro/fcn's download script); NOT published by COCO
COCO_MD5_UNOFFICIAL = {
    "train2014.zip": "0da8c0bd3d6becc4dcb32757491aca88",
    "val2014.zip": "a3d79f5ed8d289b7a7554ce06a5782b3",
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parent / "coco",
                   help="the official data_dir (default: data/coco)")
    p.add_argument("--download", action="store_true", help="download train2014.zip and val2014.zip")
    p.add_argument("--zips", type=Path, nargs="*", default=[], help="already downloaded image zips")
    p.add_argument("--metadata", type=Path, help="the DF-GAN coco metadata zip, downloaded by hand")
    p.add_argument("--check", action="store_true", help="only report the layout")
    p.add_argument("--no-image-check", action="store_true", help="skip checking every image file")
    a = p.parse_args(argv)
    if not a.check:
        zips = list(a.zips)
        if a.download:
            zips = [download(url, a.root / name) for name, url in COCO_URLS.items()]
        for z in zips:
            verify(z, md5=COCO_MD5_UNOFFICIAL.get(z.name), strict=False)
            extract(z, a.root / "images")
        if a.metadata is not None:
            install_metadata(a.metadata, a.root)
    report = check_layout(a.root, "coco", check_images=not a.no_image_check)
    print(report)
    if not report.ok:
        print("\nSee data/README.md: images come from --download/--zips, the pickles from --metadata.")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
