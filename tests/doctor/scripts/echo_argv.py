"""Prints what a script sees of how it was run; argv[1] picks how it ends."""
import os
import sys

print(__name__, sys.argv[1:], os.path.basename(__file__), sys.path[0] == os.path.dirname(os.path.abspath(__file__)))
if sys.argv[1:2] == ["raise"]:
    raise ValueError("the script's own error")
if sys.argv[1:2] == ["exit"]:
    sys.exit(int(sys.argv[2]))
