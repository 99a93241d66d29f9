"""JSONL records of index searches: ``vocaltools.neighbors/1`` (``knn query``) and
``vocaltools.identity/1`` (``knn identify``), and the one-line human form of each."""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from vocaltools.formats.jsonl import make_record
from vocaltools.index.faiss_index import Neighbor
from vocaltools.index.identify import Identity


def neighbor_records(query_ids: Sequence[str], query_labels: Sequence[str],
                     results: Sequence[Sequence[Neighbor]]) -> Iterator[dict[str, Any]]:
    """One ``neighbors`` record per query: its id, label and ranked neighbours."""
    for query_id, label, neighbors in zip(query_ids, query_labels, results):
        yield make_record("neighbors", query_id=query_id, query_label=label,
                          neighbors=[{"rank": n.rank, "item_id": n.item_id, "label": n.label,
                                      "distance": round(n.distance, 6)} for n in neighbors])


def describe_neighbors(record: dict[str, Any]) -> str:
    near = "; ".join(f"{n['rank']}. {n['item_id']} ({n['label']}, squared distance "
                     f"{n['distance']:.3f})" for n in record["neighbors"])
    return f"{record['query_id']} ({record['query_label']}): {near}"


def identity_records(decisions: Sequence[Identity], true_labels: Sequence[str], *,
                     k: int) -> Iterator[dict[str, Any]]:
    """One ``identity`` record per decision, with the query's true label (``""`` when unknown);
    ``score`` is the nearest item's AS-norm score (null when the index scores by distance, and
    then ``threshold`` is a squared distance)."""
    for d, true_label in zip(decisions, true_labels):
        yield make_record("identity", query_id=d.query_id, label=d.label,
                          confidence=round(d.confidence, 4), candidate=d.candidate,
                          nearest_distance=round(d.nearest_distance, 6), threshold=d.threshold,
                          score=None if d.score is None else round(d.score, 6),
                          k=k, true_label=true_label)


def describe_identity(record: dict[str, Any]) -> str:
    score = record.get("score")
    limit = "" if record["threshold"] is None else f", threshold {record['threshold']:.3f}"
    if score is not None:
        limit = f", AS-norm score {score:.3f}" + limit
    truth = "" if record["true_label"] is None else f"; true {record['true_label']}"
    return (f"{record['query_id']}: {record['label']} (confidence {record['confidence']:.2f} "
            f"of a {record['k']}-nearest vote, nearest squared distance "
            f"{record['nearest_distance']:.3f}{limit}{truth})")
