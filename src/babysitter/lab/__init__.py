"""The lectures' experiments, reproduced as commands (``babysit lab NAME``): each writes PNGs and
``summary.json`` to its folder and returns the summary that ``--json`` prints."""
