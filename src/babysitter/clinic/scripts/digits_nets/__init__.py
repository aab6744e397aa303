"""A package beside the clinic scripts, as people keep their model code: ``from digits_nets.model import Net``
(found the way ``python SCRIPT`` finds it: the script's folder is first on ``sys.path``). Not a clinic case."""
