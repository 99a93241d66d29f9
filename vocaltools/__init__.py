"""vocaltools: singer identification, singer embedding, singing-technique and instrument recognition."""

__version__ = "0.1.0"
