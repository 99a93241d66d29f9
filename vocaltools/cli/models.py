"""`vocaltools models`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer


def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of tables.")] = False,
    set_default: Annotated[Optional[str], typer.Option(
        "--set-default", help="Make this trained model the one 'predict' uses without --model.")] = None,
    params: Annotated[bool, typer.Option(
        "--params/--no-params", help="Count each architecture's parameters at its paper "
                                     "configuration (built without weights; cached).")] = True,
) -> None:
    """List the architectures, the bundled and the trained models; choose the default model.

    For every architecture: name, task, seed paper, feature preset, input shape, trainable
    parameters and the Keras count (with BatchNorm statistics and frozen weights) at the paper's
    configuration. Pretrained entries (ge2e) say which installed wheel their weights come from.
    Bundled models ship with vocaltools and are used by name ('predict --model NAME'); each is
    listed with its task, classes, training data, licence and the figures it reached. Trained
    models are those registered by 'vocaltools train'; a registered name hides a bundled model of
    the same name.
    """
    import json
    import sys

    from vocaltools import trained
    from vocaltools.bundled import list_bundled
    from vocaltools.models.catalog import SPECS
    from vocaltools.models.pretrained import weights_source

    if set_default is not None:
        entry = trained.set_default(set_default)
        print(f"default model: {entry.name} ({entry.model} -> {entry.target}, {entry.path})",
              file=sys.stderr)
        return
    if params:
        from vocaltools.model_counts import param_counts

        counts = param_counts(SPECS)
    else:
        counts = {spec.name: (None, None) for spec in SPECS}
    default = trained.default_name()
    entries = trained.list_trained()
    bundled = list_bundled()
    rows = []
    for spec in SPECS:
        n_params, n_keras = counts[spec.name]
        rows.append({"name": spec.name, "kind": "architecture", "task": spec.task, "seed": spec.seed,
                     "family": spec.family, "preset": spec.preset, "inputs": list(spec.inputs),
                     "input_shape": list(spec.input_shape), "n_classes": spec.n_classes,
                     "params": n_params, "params_keras": n_keras, "description": spec.description,
                     "pretrained": weights_source(spec.weights) if spec.weights else None})
    for model in bundled:
        rows.append({**model.to_dict(), "kind": "bundled", "default": model.name == default})
    for entry in entries:
        rows.append({**entry.to_dict(), "kind": "trained", "default": entry.name == default})
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    width = max(17, 2 + max(len(spec.name) for spec in SPECS))
    header = f"{'architecture':<{width}}{'task':<10}{'seed':<6}{'preset':<14}{'input':<16}{'params':>12}{'keras':>12}"
    print(header)
    for row in rows:
        if row["kind"] != "architecture":
            continue
        shape = "x".join(str(v) for v in row["input_shape"])
        n_params = f"{row['params']:,}" if row["params"] is not None else "-"
        n_keras = f"{row['params_keras']:,}" if row["params_keras"] is not None else "-"
        print(f"{row['name']:<{width}}{row['task']:<10}{row['seed'] or '-':<6}{row['preset']:<14}{shape:<16}"
              f"{n_params:>12}{n_keras:>12}")
    pretrained = [row for row in rows if row.get("pretrained")]
    if pretrained:
        print()
        print("pretrained (usable without training; weights read from the installed wheel):")
        for row in pretrained:
            print(f"  {row['name']:<{width}}{row['pretrained']}")
    print()
    for model in bundled:
        mark = " (default)" if model.name == default else ""
        print(f"bundled model {model.name}{mark}: {model.model}, {model.task} {model.target}, "
              f"{len(model.labels)} classes, {model.n_bytes / 1e6:.1f} MB")
        print(f"  {model.card.description}")
        print(f"  classes: {', '.join(model.labels)}")
        print(f"  training data: {model.card.training_data}")
        print(f"  licence: {model.card.licence}; {model.card.attribution}")
        for figure, value in model.card.figures.items():
            print(f"  {figure}: {value}")
        print(f"  retrain: {model.card.script}")
        print()
    if not entries:
        print("no trained models yet: 'vocaltools train STORE --model NAME --target FIELD -o DIR' "
              "registers one")
        return
    print(f"{'trained model':<24}{'architecture':<17}{'target':<14}{'classes':>8}  path")
    for entry in entries:
        mark = " (default)" if entry.name == default else ""
        print(f"{entry.name + mark:<24}{entry.model:<17}{entry.target:<14}{entry.n_classes:>8}  {entry.path}")

