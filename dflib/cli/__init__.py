"""Command lines on top of the library: ``python -m dflib <command> --help``.

- ``train``: train DF-GAN (``dflib.cli.train``)
- ``sample``: images from captions (``dflib.cli.sample``)
- ``evaluate``: FID and friends, the official protocol (``dflib.cli.evaluate``)
- ``pretrain``: pretrain a DAMSM text encoder (``dflib.cli.pretrain``)
- ``export``: a shipped generator as ONNX + JSON for a web page (``dflib.cli.export``)
"""

COMMANDS = ("train", "sample", "evaluate", "pretrain", "export")
