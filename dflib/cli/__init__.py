"""Command lines on top of the library: ``python -m dflib <command> --help``.

``COMMANDS`` maps each command to the module whose ``main(argv)`` runs it: ``train`` and ``sample`` are
dflib's own; ``evaluate``, ``pretrain`` and ``export`` belong to the packages beside dflib (``dfeval``,
``dfdamsm``, ``dfexport``), which dflib never imports: ``python -m dflib`` imports them by name when asked.
"""

COMMANDS = {
    "train": "dflib.cli.train",  # train DF-GAN
    "sample": "dflib.cli.sample",  # images from captions
    "evaluate": "dfeval.cli",  # FID and friends, the paper's protocols
    "pretrain": "dfdamsm.cli",  # pretrain a DAMSM text + image encoder pair
    "export": "dfexport.cli",  # a shipped generator as ONNX + JSON for a web page
}
