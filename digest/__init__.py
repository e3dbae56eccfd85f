"""paper-digest: a daily email of new research papers, ranked by each subscriber's keywords."""

__version__ = "0.1.0"
