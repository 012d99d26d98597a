"""The `coolpapers` command: ingest, demo, serve, db upgrade."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.progress import Progress

from app.config import get_settings
from app.errors import CoolPapersError, first_line
from app.logs import configure_logging

cli = typer.Typer(no_args_is_help=True, add_completion=False, help="Cool Papers, self-hosted.")
db_cli = typer.Typer(no_args_is_help=True, help="Database schema.")
cli.add_typer(db_cli, name="db")
SAMPLES = Path(__file__).resolve().parent / "samples"


@cli.callback()
def _setup() -> None:
    configure_logging(get_settings().log_level)


def _fail(message: str) -> NoReturn:
    """One line on stderr, exit 1 (also from `main`, outside a command: hence SystemExit)."""
    typer.echo(f"error: {message}", err=True)
    raise SystemExit(1)


@cli.command()
def ingest(
    category: Annotated[str | None, typer.Option(help="category, e.g. cs.CL (live fetch of today)")] = None,
    file: Annotated[Path | None, typer.Option(help="ingest a saved feed or API response instead")] = None,
    date: Annotated[str | None, typer.Option(help="announcement day YYYY-MM-DD for --file")] = None,
) -> None:
    """Fetch (or read) one listing, store it, and print one summary line."""
    from app.store.ingest import ingest_file, ingest_live

    if file is None and category is None:
        _fail("give --category for a live fetch, or --file PATH")
    day = _day_option("--date", date, announced=True)
    settings = get_settings()
    try:
        if file is not None:
            report = ingest_file(settings, path=file, category=category, day=day)
        else:
            report = ingest_live(settings, category=category or "")
    except (CoolPapersError, OSError) as exc:
        _fail(first_line(exc))
    typer.echo(report.summary())


@cli.command()
def demo(
    embed: Annotated[bool, typer.Option(help="also embed the samples and build the index")] = True,
) -> None:
    """Load the sample feeds bundled with the package (offline)."""
    from app.store.ingest import ingest_file

    settings = get_settings()
    files = sorted(SAMPLES.glob("*.xml"))
    with Progress(transient=True) as progress:
        task = progress.add_task("loading samples", total=len(files))
        for path in files:
            report = ingest_file(settings, path=path, category=None, day=None)
            progress.advance(task)
            progress.console.print(f"{path.name}: {report.summary()}")
    if embed:
        _embed_with_progress()


def _embed_with_progress() -> None:
    from app.search.refresh import embed_and_index, missing_vectors

    settings = get_settings()
    try:
        with Progress(transient=True) as progress:
            task = progress.add_task("embedding papers", total=missing_vectors(settings))
            report = embed_and_index(settings, progress=lambda n: progress.advance(task, n))
    except CoolPapersError as exc:  # the model cannot be loaded: one line, not 105
        _fail(first_line(exc))
    typer.echo(report.summary())


venue_cli = typer.Typer(no_args_is_help=True, help="Conference venues (OpenReview, ACL, PMLR, CVF, NeurIPS).")
cli.add_typer(venue_cli, name="venue")


@venue_cli.command("ingest")
def venue_ingest(
    venue: Annotated[
        str | None, typer.Option(help="edition, e.g. ICLR.2024 (live; or names a --file's)")
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="openreview, acl, pmlr, cvf or neurips (checked)")
    ] = None,
    file: Annotated[Path | None, typer.Option(help="ingest a saved venue document instead (offline)")] = None,
    embed: Annotated[bool, typer.Option(help="embed the new papers and update the index")] = True,
) -> None:
    """Fetch (or read) one edition's accepted papers and store them; a rerun resumes where it stopped."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    from app.errors import UnknownVenueError
    from app.store.venue_ingest import ingest_edition, ingest_venue_file
    from app.venues.catalog import find_edition, parse_edition
    from app.venues.harvest import VenuePage

    settings = get_settings()
    try:
        if file is not None:
            name, year = parse_edition(venue) if venue is not None else (None, None)
            if venue is not None and source is None:  # a catalog edition says where its papers come from
                with contextlib.suppress(UnknownVenueError):
                    source = find_edition(venue).source
            report = ingest_venue_file(settings, path=file, venue=name, year=year, source=source)
        elif venue is None:
            _fail("give --venue ICLR.2024 for a live fetch, or --file PATH")
        else:
            edition = find_edition(venue)
            if source is not None and source != edition.source:
                _fail(f"{edition.name} is read from {edition.source}, not {source}")
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, transient=True) as progress:
                task = progress.add_task(f"{edition.name}: documents", total=None)
                papers = progress.add_task(f"{edition.name}: papers", total=None)

                def on_page(page: VenuePage) -> None:
                    progress.advance(task)
                    progress.update(papers, total=page.total)
                    progress.advance(papers, len(page.papers))

                report = ingest_edition(settings, edition, on_page=on_page)
    except (CoolPapersError, OSError, ValueError) as exc:
        _fail(first_line(exc))
    typer.echo(report.summary())
    if embed and report.stats.changed_ids:
        _embed_with_progress()


@cli.command()
def embed() -> None:
    """Embed every paper that has no vector yet (bundled model, CUDA when present); update the index."""
    _embed_with_progress()


@cli.command()
def reindex() -> None:
    """Rebuild the FAISS index from the embeddings table (after a model change, or to compact it)."""
    from app.search.refresh import reindex as rebuild

    settings = get_settings()
    meta = rebuild(settings)
    typer.echo(
        f"index: {meta.count} vectors, {meta.kind}, model {meta.model}"
        if meta
        else f"index: no vectors of {settings.embed_model} (EMBED_MODEL) yet: run `coolpapers embed`"
    )


@cli.command()
def schedule(
    once: Annotated[bool, typer.Option("--once", help="run one fetch round now (for cron) and exit")] = False,
) -> None:
    """Show the fetch schedule, or run one round of it with --once (without beat)."""
    import logging

    from workers.schedule import next_run
    from workers.tasks import send_round

    settings = get_settings()
    if not once:
        typer.echo(f"rounds at {', '.join(settings.schedule_times)} UTC on {settings.schedule_days}")
        typer.echo(f"next round: {next_run(settings)}")
        return
    if settings.redis_url:
        from app.jobs import redis_client

        redis_client(settings.redis_url).ping()  # away: one line now (main), not Celery's retries
        typer.echo(f"{len(send_round())} categories queued on Redis")
        return
    # In-process, each failure is said here in one line: Celery's own log of it is two tracebacks.
    logging.getLogger("celery.app.trace").setLevel(logging.CRITICAL)
    results = send_round()
    failed = [(category, result) for category, result in results if result.state == "FAILURE"]
    for category, result in failed:
        typer.echo(f"error: {category}: {first_line(result.result)}", err=True)
    typer.echo(f"{len(results)} categories run in-process" + (f", {len(failed)} failed" if failed else ""))
    if failed:
        raise typer.Exit(1)


@cli.command()
def backfill(
    snapshot: Annotated[
        Path | None, typer.Option(help="Kaggle arxiv-metadata-oai-snapshot.json (or .gz)")
    ] = None,
    oai: Annotated[bool, typer.Option("--oai", help="harvest OAI-PMH ListRecords instead")] = False,
    from_day: Annotated[str | None, typer.Option("--from", help="OAI: first day, YYYY-MM-DD")] = None,
    until_day: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="OAI: last day, YYYY-MM-DD; unset, a rerun of a finished harvest asks what changed since",
        ),
    ] = None,
    set_spec: Annotated[
        str | None, typer.Option("--set", help="OAI set: cs, math, physics:hep-th ...")
    ] = None,
    categories: Annotated[str | None, typer.Option(help="keep only these categories: cs.*,stat.ML")] = None,
    since: Annotated[str | None, typer.Option(help="snapshot: keep papers updated since YYYY-MM-DD")] = None,
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="records per committed batch")] = 5000,
    embed: Annotated[bool, typer.Option(help="queue new and changed papers for embedding")] = True,
    restart: Annotated[bool, typer.Option(help="forget the saved progress and start over")] = False,
) -> None:
    """Import arXiv's history from the snapshot file or OAI-PMH; a rerun continues where one stopped."""
    from app.store import backfill as bf

    if (
        (snapshot is None) == (not oai)
        or (oai and not from_day)
        or (snapshot and (from_day or until_day or set_spec))
    ):
        _fail("give --snapshot PATH, or --oai --from YYYY-MM-DD [--until YYYY-MM-DD] [--set SET]")
    if oai and since:
        _fail("--since is for --snapshot; with --oai, --from says where to start")
    patterns = tuple(p.strip() for p in (categories or "").split(",") if p.strip())
    day_since, day_from, day_until = (
        _day_option(name, value)
        for name, value in (("--since", since), ("--from", from_day), ("--until", until_day))
    )
    if day_from and day_until and day_from > day_until:
        _fail(f"--from {day_from} is after --until {day_until}")
    meter = bf.RunMeter()
    with _backfill_bar(by_bytes=snapshot is not None) as bar:
        task = bar.add_task("backfill", total=None, status="starting")

        def on_batch(done: bf.BatchDone) -> None:
            bar.update(task, completed=done.done, total=done.total, status=meter.status(done))
            if embed and done.paper_ids:
                from workers.tasks import embed_papers

                embed_papers.delay(list(done.paper_ids))

        try:
            if snapshot is not None:
                options = bf.SnapshotOptions(snapshot, patterns, day_since, batch, restart)
                report = bf.import_snapshot(get_settings(), options, on_batch=on_batch)
            else:
                harvest = bf.OaiOptions(day_from or dt.date.min, day_until, set_spec, patterns, restart)
                report = bf.harvest_oai(get_settings(), harvest, on_batch=on_batch)
        except KeyboardInterrupt:
            typer.echo("interrupted: the committed batches are kept; run the same command to go on", err=True)
            raise typer.Exit(130) from None
        except (CoolPapersError, OSError) as exc:
            _fail(first_line(exc))
    typer.echo("\n".join([report.summary(), *report.reason_lines(), report.run_line()]))


def _day_option(option: str, value: str | None, *, announced: bool = False) -> dt.date | None:
    """A day given on the command line; an `announced` one (a listing's) is arXiv's, from its first
    day to tomorrow (UTC, ahead of some zones): a listing dated 2999 would be every page's latest."""
    try:
        day = dt.date.fromisoformat(value) if value else None
    except ValueError:
        _fail(f"{option} must be YYYY-MM-DD, got {value!r}")
    from app.arxiv.types import arxiv_days

    first, latest = arxiv_days()
    if announced and day is not None and not first <= day <= latest:
        _fail(f"{option} {day} is not an arXiv day: from {first} to {latest}")
    return day


def _backfill_bar(*, by_bytes: bool) -> Progress:
    """Bytes of the snapshot file read (or OAI records harvested), rate and time left; on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, TextColumn

    console = Console(stderr=True)
    amount = DownloadColumn() if by_bytes else MofNCompleteColumn()
    status = TextColumn("{task.fields[status]}")
    columns = (TextColumn("backfill"), BarColumn(), amount, status)
    return Progress(*columns, console=console, transient=True, disable=not console.is_terminal)


@cli.command()
def digest(
    send: Annotated[bool, typer.Option("--send", help="compose and send the due digests")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="compose only: count what would be sent")
    ] = False,
) -> None:
    """Send each due profile's digest (e-mail, webhook) once per day, as the worker does after embedding."""
    from app.profiles.deliver import send_digests

    if not send:
        _fail("give --send (with --dry-run to only count what would be sent)")
    with Progress(transient=True) as progress:
        task = progress.add_task("composing digests", total=None)
        report = send_digests(
            get_settings(),
            dry_run=dry_run,
            on_total=lambda n: progress.update(task, total=n, description="sending digests"),
            on_done=lambda: progress.advance(task),
        )
    typer.echo(report.summary())
    for line in report.errors[:20]:
        typer.echo(f"  {line}", err=True)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Serve the website and the API (with PROMETHEUS_MULTIPROC_DIR, its old metrics files go first)."""
    import uvicorn

    from app.observability import empty_metrics_folder

    _can_listen(host, port)
    folder = get_settings().prometheus_multiproc_dir
    if folder is not None:
        # prometheus-client reads it from the environment when imported: one given in .env alone is
        # passed on to the web processes this way (uvicorn imports the app after this).
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(folder))
        # Before any web process starts (never from one: its siblings' files live there).
        empty_metrics_folder(folder)
    elif workers > 1:
        typer.echo(
            "note: PROMETHEUS_MULTIPROC_DIR is unset, so /metrics reports one process at a time",
            err=True,
        )
    from app.connections import HeadDeadlineProtocol

    uvicorn.run(
        "app.main:app",
        host=host,
        port=port,
        workers=workers,
        http=HeadDeadlineProtocol,
        log_level="warning",
        proxy_headers=True,
        forwarded_allow_ips=get_settings().trusted_proxies,  # X-Forwarded-For believed from these only
    )


def _can_listen(host: str, port: int) -> None:
    """A busy port said in one line, before uvicorn: it binds after the app's start-up, and exiting then
    (the model still loading in its warm-up thread) aborted the process (exit 134, no clear error)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(infos[0][4])
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or first_line(exc)}")


@cli.command("settings")
def settings_doc(
    env: Annotated[
        bool, typer.Option("--env", help="print .env.example instead of the Markdown table")
    ] = False,
) -> None:
    """Print every setting with its default and meaning (the README table, or .env.example)."""
    from app.settings_doc import env_example, settings_table

    typer.echo(env_example() if env else settings_table(), nl=not env)


@db_cli.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "heads") -> None:
    """Apply the Alembic migrations (creates the SQLite file on the embedded default)."""
    from app.store.migrate import upgrade_database

    upgrade_database(get_settings(), revision)
    typer.echo(f"database at {revision}")


def main() -> None:
    """The CLI, its setting and database errors said in one line (exit 1), not as a traceback."""
    import kombu.exceptions
    import redis
    from pydantic import ValidationError
    from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError

    try:
        cli(prog_name="coolpapers")
    except ValidationError as exc:  # a setting from the environment or .env
        said = "; ".join(f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        _fail(f"a setting is not valid: {said}")
    except ArgumentError as exc:
        _fail(f"DATABASE_URL cannot be read: {first_line(exc)}")
    except (OperationalError, ProgrammingError) as exc:
        first = first_line(exc.orig if exc.orig is not None else exc)
        if "no such table" in first or ("relation" in first and "does not exist" in first):
            _fail(f"the database has no tables yet ({first}): run `coolpapers db upgrade`")
        _fail(f"the database is not usable: {first}")
    except (redis.RedisError, kombu.exceptions.OperationalError) as exc:  # REDIS_URL set, Redis away
        _fail(f"Redis cannot be reached at REDIS_URL: {first_line(exc)}")
    except ModuleNotFoundError as exc:  # a DATABASE_URL whose driver is not installed
        _fail(
            f"a module is missing: {exc.name} (a DATABASE_URL for a database this install has no driver for?)"
        )


if __name__ == "__main__":
    main()
