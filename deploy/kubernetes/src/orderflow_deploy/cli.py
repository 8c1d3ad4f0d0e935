"""``orderflow-deploy kubernetes generate``: the Kubernetes resources derived from
deploy/topics.yaml and deploy/monitoring. ``--check`` only compares (for CI)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orderflow_deploy.generate import Layout, stale, write
from orderflow_deploy.schemas import write_crd_schemas
from orderflow_deploy.topic_catalog import TopicCatalogError

app = typer.Typer(help="Orderflow deployment tooling.", no_args_is_help=True)
kubernetes = typer.Typer(help="Kubernetes resources (deploy/kubernetes).", no_args_is_help=True)
app.add_typer(kubernetes, name="kubernetes")


def _repository_root() -> Path:
    """The nearest folder above the working directory that holds deploy/topics.yaml."""
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "deploy" / "topics.yaml").is_file():
            return folder
    raise typer.BadParameter("no deploy/topics.yaml here or above: pass --root")


@kubernetes.command("generate")
def generate(
    root: Annotated[
        Path | None, typer.Option(help="Repository root (default: found from here).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if a file is out of date.")
    ] = False,
) -> None:
    """Write KafkaTopics, KafkaUsers (ACLs), ScaledObjects and the PrometheusRule."""
    layout = Layout(root or _repository_root())
    try:
        if check:
            outdated = stale(layout)
            for name in outdated:
                typer.echo(f"out of date: {layout.output_dir / name}", err=True)
            if outdated:
                typer.echo("run: uv run orderflow-deploy kubernetes generate", err=True)
                raise typer.Exit(1)
            typer.echo(f"up to date: {layout.output_dir}")
            return
        written = write(layout)
    except TopicCatalogError as error:
        typer.echo(f"orderflow-deploy: {error}", err=True)
        raise typer.Exit(2) from error
    for path in written:
        typer.echo(f"wrote {path}")
    if not written:
        typer.echo(f"up to date: {layout.output_dir}")


@kubernetes.command("crd-schemas")
def crd_schemas(
    crd_files: Annotated[list[Path], typer.Argument(help="CRD YAML files of the operators.")],
    out: Annotated[Path, typer.Option(help="Where the JSON schemas go.")] = Path(
        "deploy/kubernetes/schemas/crds"
    ),
) -> None:
    """Convert operators' CRDs into the strict JSON schemas the validation test uses."""
    for path in write_crd_schemas(crd_files, out):
        typer.echo(f"wrote {path}")
