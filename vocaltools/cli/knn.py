"""`vocaltools knn`: FAISS index of embeddings (build, add, query, identify, evaluate, tsne)."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

app = typer.Typer(help="Build, query and evaluate a FAISS index of embeddings.", no_args_is_help=True)

LevelOption = Annotated[str, typer.Option(
    "--level", help="Vectors to use: 'item' (mean of an item's clips) or 'clip'.")]
WhereOption = Annotated[Optional[list[str]], typer.Option(
    "--where", help="Keep only items with FIELD=VALUE (FIELD=A|B: either; repeatable, all must hold).")]
WhereNotOption = Annotated[Optional[list[str]], typer.Option(
    "--where-not", help="Drop items with FIELD=VALUE (FIELD=A|B: either; repeatable), e.g. to hold a singer out.")]


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _vectors(path: str, *, level: str, where, where_not):
    from vocaltools.index.embeddings import filter_items, load_embeddings, select_vectors

    embeddings = filter_items(load_embeddings(path), where=where or (), where_not=where_not or ())
    return embeddings, select_vectors(embeddings, level=level)


def _index_and_vectors(index_path: str, embeddings: str, *, where, where_not):
    """The index and the embeddings' vectors at the index's level (item or clip)."""
    from vocaltools.index.faiss_index import load_index

    index = load_index(index_path)
    _, vectors = _vectors(embeddings, level=index.meta.get("level", "item"), where=where,
                          where_not=where_not)
    return index, vectors


def _split_list(text: str, *, what: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        from vocaltools.errors import InputError

        raise InputError(f"{what}: give at least one value (comma-separated)")
    return values


IndexArgument = Annotated[str, typer.Argument(help="Index file from 'knn build'.")]


def _records_option(schema: str, what: str):
    """``-o/--output`` of a command that writes ``vocaltools.<schema>/1`` records."""
    return Annotated[Optional[str], typer.Option(
        "-o", "--output", help=f"JSONL of 'vocaltools.{schema}/1' records ('-' = stdout). Without "
                               f"it, a terminal gets one line per {what} and a pipe gets JSONL.",
        show_default=False)]


@app.command("build")
def build(
    embeddings: Annotated[str, typer.Argument(help="Embeddings NPZ from 'vocaltools embed'.")],
    output: Annotated[str, typer.Option("-o", "--output", help="Index file to write (NPZ).")],
    kind: Annotated[str, typer.Option("--kind", help="exact (brute force), ivf or hnsw.")] = "exact",
    level: LevelOption = "item",
    nlist: Annotated[Optional[int], typer.Option(
        "--nlist", help="IVF cells (default round(4*sqrt(n)), at most n).")] = None,
    nprobe: Annotated[int, typer.Option("--nprobe", help="IVF cells searched per query.")] = 16,
    hnsw_m: Annotated[int, typer.Option("--hnsw-m", help="HNSW links per node.")] = 32,
    ef_construction: Annotated[int, typer.Option(
        "--ef-construction", help="HNSW build-time candidate list size.")] = 80,
    ef_search: Annotated[int, typer.Option(
        "--ef-search", help="HNSW search-time candidate list size.")] = 64,
    center: Annotated[Optional[bool], typer.Option(
        "--center/--no-center",
        help="Subtract the mean enrolled vector and L2-normalise again, for the enrolled items "
             "and every query (stored in the index). Default: on for L2-normalised embeddings "
             "(embed --normalize), off otherwise.", show_default=False)] = None,
    calibrate: Annotated[bool, typer.Option(
        "--calibrate/--no-calibrate",
        help="Choose and store an open-set threshold from the enrolled labels (leave-one-out).")] = True,
    calibrate_by: Annotated[str, typer.Option(
        "--calibrate-by", help="Field whose groups a known calibration trial ignores, so that it "
                               "resembles a new song of an enrolled singer: auto (the first of "
                               "song_key, song_id, song the embeddings carry; at clip level the "
                               "item when none), none, or a field name.")] = "auto",
    score_norm: Annotated[str, typer.Option(
        "--score-norm", help="Open-set score of a query against its nearest enrolled item: "
                             "as-norm (adaptive symmetric score normalisation, the enrolled items "
                             "of other labels as cohort; stored in the index) or none (the "
                             "squared distance).")] = "as-norm",
    cohort_top: Annotated[int, typer.Option(
        "--cohort-top", min=1, help="With --score-norm as-norm: the highest cohort scores whose "
                                    "mean and spread normalise a score.")] = 20,
    where: WhereOption = None,
    where_not: WhereNotOption = None,
) -> None:
    """Build a FAISS index of embeddings (with its id map, labels and open-set threshold)."""
    from vocaltools.index.embeddings import filter_items, load_embeddings
    from vocaltools.index.enrol import describe_enrolment, enrol_embeddings
    from vocaltools.index.faiss_index import IndexConfig

    source = filter_items(load_embeddings(embeddings), where=where or (), where_not=where_not or ())
    config = IndexConfig(kind=kind, nlist=nlist, nprobe=nprobe, hnsw_m=hnsw_m,
                         ef_construction=ef_construction, ef_search=ef_search)
    enrolment = enrol_embeddings(source, level=level, config=config, calibrate=calibrate,
                                 calibrate_by=calibrate_by, center=center,
                                 score_norm=score_norm, cohort_top=cohort_top)
    for warning in enrolment.warnings:
        _say(f"warning: {warning}")
    enrolment.index.save(output)
    _say(describe_enrolment(enrolment, output=output))


@app.command("add")
def add(
    index_path: IndexArgument,
    embeddings: Annotated[str, typer.Argument(help="Embeddings NPZ to enrol.")],
    output: Annotated[Optional[str], typer.Option(
        "-o", "--output", help="Write the enlarged index here (default: update INDEX in place).")] = None,
    where: WhereOption = None,
    where_not: WhereNotOption = None,
) -> None:
    """Enrol more embeddings into an index (the stored threshold and centre are kept)."""
    index, vectors = _index_and_vectors(index_path, embeddings, where=where, where_not=where_not)
    before = len(index)
    index.add(vectors.vectors, item_ids=vectors.ids, labels=vectors.labels, fields=vectors.fields)
    index.save(output or index_path)
    _say(f"enrolled {len(index) - before} vectors; the index holds {len(index)} -> "
         f"{output or index_path}")


@app.command("query")
def query(
    index_path: IndexArgument,
    embeddings: Annotated[str, typer.Argument(help="Embeddings NPZ of the queries.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Neighbours per query.")] = 10,
    output: _records_option("neighbors", "query") = None,
    where: WhereOption = None,
    where_not: WhereNotOption = None,
) -> None:
    """Find the k nearest enrolled items of every query (squared Euclidean distance)."""
    from vocaltools.cli.common import write_records
    from vocaltools.index.records import describe_neighbors, neighbor_records

    index, vectors = _index_and_vectors(index_path, embeddings, where=where, where_not=where_not)
    results = index.search(vectors.vectors, k=k)
    write_records(output, neighbor_records(vectors.ids, vectors.labels, results),
                  human=describe_neighbors)


@app.command("identify")
def identify(
    index_path: IndexArgument,
    embeddings: Annotated[str, typer.Argument(help="Embeddings NPZ of the voices to identify.")],
    threshold: Annotated[Optional[float], typer.Option(
        "--threshold", help="Open-set threshold on the nearest enrolled item: a minimum AS-norm "
                            "score when the index normalises scores (knn build --score-norm "
                            "as-norm; lower is 'unknown'), else a maximum squared distance "
                            "(between centred vectors when the index centres; farther is "
                            "'unknown'). Default: the index's calibrated one.")] = None,
    closed_set: Annotated[bool, typer.Option(
        "--closed-set", help="Never answer 'unknown' (ignore any threshold).")] = False,
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Neighbours that vote.")] = 5,
    output: _records_option("identity", "voice") = None,
    where: WhereOption = None,
    where_not: WhereNotOption = None,
) -> None:
    """Identify voices by a kNN vote; 'unknown' beyond the open-set threshold."""
    from vocaltools.cli.common import write_records
    from vocaltools.index.identify import identify as identify_vectors
    from vocaltools.index.records import describe_identity, identity_records

    index, vectors = _index_and_vectors(index_path, embeddings, where=where, where_not=where_not)
    if closed_set:
        used = None
    elif threshold is not None:
        used = threshold
    else:
        used = index.threshold
        if used is None:
            _say("warning: the index has no calibrated threshold and none was given: closed-set "
                 "identification (never 'unknown'); give --threshold T")
    decisions = identify_vectors(index, vectors.vectors, query_ids=vectors.ids, k=k, threshold=used)
    n_unknown = sum(d.label == "unknown" for d in decisions)
    write_records(output, identity_records(decisions, vectors.labels, k=k), human=describe_identity)
    _say(f"identified {len(decisions)} queries: {n_unknown} unknown"
         + (f" (threshold {used:.4g})" if used is not None else " (closed set)"))


@app.command("evaluate")
def evaluate(
    embeddings: Annotated[str, typer.Argument(help="Embeddings NPZ from 'vocaltools embed'.")],
    by: Annotated[str, typer.Option(
        "--by", help="Comma-separated fields to classify by, e.g. singer,song (song effect).")] = "label",
    ks: Annotated[str, typer.Option("--k", help="Comma-separated neighbour counts.")] = "1,3,5",
    level: LevelOption = "item",
    exclude_same: Annotated[Optional[str], typer.Option(
        "--exclude-same", help="Comma-separated fields: neighbours sharing all of them with the "
                               "query are left out (e.g. singer,song = judge from other songs).")] = None,
    standardize: Annotated[bool, typer.Option(
        "--standardize", help="Z-score every dimension first (set statistics, no labels).")] = False,
    output: Annotated[str, typer.Option(
        "-o", "--output", help="JSONL of 'vocaltools.report/1' records ('-' = stdout).")] = "-",
    where: WhereOption = None,
    where_not: WhereNotOption = None,
) -> None:
    """Leave-one-out kNN accuracy by singer and by song (S2's embedding evaluation)."""
    from vocaltools.errors import InputError
    from vocaltools.formats.jsonl import make_record, write_jsonl
    from vocaltools.index.embeddings import standardize as zscore
    from vocaltools.index.evaluate import loo_knn_accuracy

    source, vectors = _vectors(embeddings, level=level, where=where, where_not=where_not)
    try:
        k_values = [int(v) for v in _split_list(ks, what="--k")]
    except ValueError as error:
        raise InputError(f"--k: expected comma-separated integers, got {ks!r}") from error
    matrix = zscore(vectors.vectors) if standardize else vectors.vectors
    excluded = _split_list(exclude_same, what="--exclude-same") if exclude_same else []
    fields = {**vectors.fields, "label": vectors.labels, "item_id": vectors.ids}
    records = []
    for name in _split_list(by, what="--by"):
        labels = source.field(name) if level == "item" else source.clip_field(name)
        for result in loo_knn_accuracy(matrix, labels=labels, ks=k_values, by=name, fields=fields,
                                       exclude_same=excluded):
            records.append(make_record(
                "report", task="knn_loo", by=result.by, k=result.k,
                accuracy=round(result.accuracy, 4), n=result.n, n_answerable=result.n_answerable,
                accuracy_answerable=round(result.accuracy_answerable, 4),
                n_classes=len(set(labels)), chance=round(1 / len(set(labels)), 4), level=level,
                exclude_same=list(result.exclude_same), standardize=standardize,
                embedder=source.meta.get("model") or source.meta.get("baseline")))
            _say(f"by {result.by:<10} k={result.k:<3} accuracy {result.accuracy:.3f} "
                 f"(n={result.n}, {len(set(labels))} classes)")
    write_jsonl(output, records)


@app.command("tsne")
def tsne(
    embeddings: Annotated[str, typer.Argument(help="Embeddings NPZ from 'vocaltools embed'.")],
    output: Annotated[str, typer.Option("-o", "--output", help="PNG file to write.")],
    color: Annotated[str, typer.Option("--color", help="Field that colours the points.")] = "label",
    marker: Annotated[Optional[str], typer.Option(
        "--marker", help="Field that shapes the points (e.g. song).")] = None,
    level: LevelOption = "item",
    perplexity: Annotated[float, typer.Option(
        "--perplexity", help="t-SNE perplexity (lowered to (n-1)/3 for few points).")] = 30.0,
    seed: Annotated[int, typer.Option("--seed", help="t-SNE random seed.")] = 0,
    standardize: Annotated[bool, typer.Option(
        "--standardize", help="Z-score every dimension first.")] = False,
    where: WhereOption = None,
    where_not: WhereNotOption = None,
) -> None:
    """Draw a t-SNE map of the embeddings coloured by a field (PNG)."""
    from vocaltools.index.embeddings import standardize as zscore
    from vocaltools.index.tsne import plot_tsne, tsne_coordinates

    source, vectors = _vectors(embeddings, level=level, where=where, where_not=where_not)
    values = source.field if level == "item" else source.clip_field
    colors, markers = values(color), values(marker) if marker else None  # unknown fields fail now
    matrix = zscore(vectors.vectors) if standardize else vectors.vectors
    projection = tsne_coordinates(matrix, perplexity=perplexity, seed=seed)
    name = source.meta.get("model") or source.meta.get("baseline") or "embeddings"
    plot_tsne(projection, colors=colors, markers=markers,
              path=output, color_name=color, marker_name=marker or "",
              title=f"t-SNE of {name} ({level} level), colour = {color}")
    _say(f"t-SNE of {len(matrix)} {level} vectors -> {output}")
