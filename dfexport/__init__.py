"""A DF-GAN generator for a web page: NetG as ONNX and the JSON that turns captions into sentence vectors
in JavaScript (the course site's in-browser demo). Beside dflib (it imports dflib; dflib never imports it).

* :mod:`~dfexport.export`: the files, the page's noise generator, the text table
* :mod:`~dfexport.cli`: ``python -m dflib export``
"""

from .export import export_for_page, export_onnx, page_noise

__all__ = ["export_for_page", "export_onnx", "page_noise"]
