"""Embedding search: FAISS indexes (:mod:`~vocaltools.index.faiss_index`), open-set
identification (:mod:`~vocaltools.index.identify`), leave-one-out kNN evaluation
(:mod:`~vocaltools.index.evaluate`), t-SNE maps (:mod:`~vocaltools.index.tsne`) and the embeddings
file (:mod:`~vocaltools.index.embeddings`)."""
