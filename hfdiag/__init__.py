"""hfdiag: at which service boundary does the evidence of a Hugging Face Spaces failure disappear?"""

__version__ = "0.1.0"
