"""Embedding search: FAISS indexes (:mod:`~vocaltools.index.faiss_index`), enrolment of an
embeddings file as ``knn build`` does it (:mod:`~vocaltools.index.enrol`), open-set
identification (:mod:`~vocaltools.index.identify`) and its score normalisation
(:mod:`~vocaltools.index.score_norm`), the records of searches
(:mod:`~vocaltools.index.records`), leave-one-out kNN evaluation
(:mod:`~vocaltools.index.evaluate`), t-SNE maps (:mod:`~vocaltools.index.tsne`) and the embeddings
file (:mod:`~vocaltools.index.embeddings`)."""
