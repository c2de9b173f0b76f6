"""``python -m dflib.text.pretrain`` = ``python -m dflib.text.damsm``: DAMSM pretraining CLI (spec Sec. 5.2)."""

from .damsm import main

if __name__ == "__main__":
    main()
