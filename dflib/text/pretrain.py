"""DAMSM pretraining command line (spec Sec. 5.2): ``python -m dflib.text.pretrain --help``.

Same program as ``python -m dflib.text.damsm`` (which also works, but Python warns there because the
package ``dflib.text`` has already imported ``dflib.text.damsm``).
"""

from .damsm import main

if __name__ == "__main__":
    main()
