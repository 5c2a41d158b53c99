"""Data shipped with the package: the demo corpus (see README.md here)."""

import os

DEMO_CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "austen.txt")
