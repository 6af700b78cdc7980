"""Many models in one server: a model repository, versions, hot swaps and an LRU of loaded models.

`TEXTCNN_MODEL_REPOSITORY` is a folder of model folders. A model folder is either a model directory
itself (it holds manifest.json) or a folder of versions, `1/`, `2/`, ..., each a model directory; the
highest version is served unless one is pinned. Names starting with "." are skipped, so a version can
be copied in under a hidden name and renamed into place. One model folder that cannot be loaded is
reported (`status`, the log, a metric) and never stops the others. `TEXTCNN_MODEL_DIR` alone is a
repository of one fixed model, loaded at start-up and named by its own config, exactly as one model
was always served.

A swap loads and checks the new directory beside the old model, then switches in one assignment
under the lock. Requests hold a lease on the model they started with (`lease`), so in-flight work
finishes on the old model; the old model's forward threads stop once its last lease is returned. A
directory that fails its checks leaves the serving model in place, with the reason in the log, in
`status` and in `textcnn_model_load_failures_total`, and is tried again only once its files change.
"""

import gc
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from service.observability import Metrics
from service.settings import Settings
from textcnn import ModelLoadError, Predictor, TextCNNError, artifact

logger = logging.getLogger(__name__)

State = Literal["loaded", "available", "unloaded", "failed"]
# What a new model must answer before it serves: two sentences, so both heads run.
CHECK_TEXT = "A short check of the model. It has two sentences."


class ModelNotFound(TextCNNError):
    """No model of that name in the repository (404)."""


class ModelUnavailable(TextCNNError):
    """The model is known but cannot answer now: unloaded, failed, or no room to load it (503)."""


class LoadFailed(TextCNNError):
    """A model directory failed its checks; whatever served before keeps serving (409)."""


class Closeable(Protocol):
    def close(self) -> None: ...


@dataclass(eq=False)
class Served:
    """One loaded model version. `active` counts the requests holding it; once `retired`, the last
    one to return it stops its forward threads."""

    name: str
    number: int | None  # the version folder, None for an unversioned model directory
    directory: Path
    fingerprint: str  # the weights' sha256 prefix: the version answers name
    signature: tuple[object, ...]  # the files as they were when loaded (to notice a change)
    predictor: Predictor
    workers: Sequence[Closeable] = ()
    active: int = 0
    retired: bool = False

    @property
    def tasks(self) -> list[str]:
        abilities = (("classify", self.predictor.can_classify), ("summarize", self.predictor.can_summarize))
        return [task for task, able in abilities if able]

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


@dataclass(eq=False)
class Entry:
    """A model of the repository, loaded or not."""

    name: str
    folder: Path
    state: State = "available"
    served: Served | None = None
    pinned: int | None = None
    error: str | None = None  # the last failure, also while an older version serves
    failed_signature: tuple[object, ...] | None = None
    loading: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class Status:
    """What `GET /v1/models` says about one model."""

    name: str
    state: State
    version: str | None  # the fingerprint of the loaded weights
    number: int | None
    pinned: int | None
    versions: tuple[int, ...]
    tasks: tuple[str, ...]
    labels: tuple[str, ...]
    error: str | None
    default: bool

    @property
    def ready(self) -> bool:
        return self.state == "loaded"


# Routes a freshly loaded model's forward passes (micro-batching, budgets): returns the predictor
# that answers through them, and what to close.
Setup = Callable[["Served"], tuple[Predictor, Sequence[Closeable]]]


def versions(folder: Path) -> list[int]:
    """The version folders (1, 2, ...) of a model folder, lowest first."""
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())


def signature(directory: Path) -> tuple[object, ...]:
    """The directory's files by name, size and modification time: changes whenever a copy does."""
    try:
        stats = [(p.name, p.stat()) for p in directory.iterdir()]
    except OSError:
        return (str(directory), "unreadable")
    return (str(directory), *sorted((name, s.st_size, s.st_mtime_ns) for name, s in stats))


class ModelRepository:
    """The models a server answers with, by name; thread-safe."""

    def __init__(self, settings: Settings, metrics: Metrics, setup: Setup, *, bf16: bool = False) -> None:
        self.settings = settings
        self.bf16 = bf16
        self.metrics = metrics
        self._setup = setup
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, Entry] = OrderedDict()  # least recently used first
        self.root = settings.model_repository
        self.default = settings.default_model or ""
        self._pins = settings.pins()
        self._stop = threading.Event()
        # A Predictor sits in reference cycles (its scorer refers back to it), which only the cyclic
        # collector frees, and it may not run for a long while after a swap. The poll collects once
        # a version was retired, when the request that held it last has surely returned.
        self._garbage = threading.Event()
        self._poller: threading.Thread | None = None
        self.installed: Callable[[Served], None] = lambda served: None  # told of each new default

    # -- start and stop ---------------------------------------------------------------------------

    def start(self) -> None:
        """Load what start-up loads. A single model directory that fails stops start-up
        (ModelLoadError); in a repository only a missing folder or default does."""
        if self.root is None:
            served = self._open(None, self.settings.model_dir, None)
            entry = Entry(served.predictor.info.name, self.settings.model_dir)
            self.default = entry.name
            self._entries[entry.name] = entry
            self._install(entry, served)
            return
        if not self.root.is_dir():
            raise ModelLoadError(f"TEXTCNN_MODEL_REPOSITORY {self.root} is not a folder of model folders")
        self._scan()
        names = list(self._entries)
        if not self.default:
            if len(names) != 1:
                raise ModelLoadError(
                    f"the repository holds {len(names)} models {names}; set TEXTCNN_DEFAULT_MODEL to the "
                    "one /classify, /summarize and /v1/model answer with"
                )
            self.default = names[0]
        if self.default not in self._entries:
            raise ModelLoadError(f"TEXTCNN_DEFAULT_MODEL {self.default!r} is not in the repository {names}")
        eager = self.settings.load_models == "eager"
        cap = self.settings.max_loaded_models or len(names)
        for name in [self.default, *(n for n in names if n != self.default)][: cap if eager else 1]:
            self._refresh(self._entries[name])
        if self.settings.poll_interval_s > 0:
            self._poller = threading.Thread(target=self._poll, name="model-poller", daemon=True)
            self._poller.start()

    def close(self) -> None:
        """Stop polling and every model's forward threads (after the work already handed to them)."""
        self._stop.set()
        if self._poller is not None:
            self._poller.join()
        with self._lock:
            served = [e.served for e in self._entries.values() if e.served is not None]
        for one in served:
            one.close()

    # -- requests ---------------------------------------------------------------------------------

    def require(self, name: str | None) -> str:
        """The model's name (the default's for None); raises ModelNotFound. Cheap: for the event loop."""
        name = self.default if name is None else name
        if name not in self._entries:
            raise ModelNotFound(f"no model {name!r}; GET /v1/models lists the models served")
        return name

    @contextmanager
    def lease(self, name: str | None) -> Iterator[Served]:
        """The model to answer one request with, loaded if it is not (blocks). The request finishes
        on it even if a swap or unload happens meanwhile. Raises ModelNotFound, ModelUnavailable."""
        served = self._acquire(self.require(name))
        try:
            yield served
        finally:
            self._release(served)

    def _acquire(self, name: str) -> Served:
        while True:
            with self._lock:
                entry = self._entries.get(name)
                if entry is None:
                    raise ModelNotFound(f"the model {name!r} was removed from the repository")
                if entry.served is not None:
                    entry.served.active += 1
                    self._entries.move_to_end(name)
                    return entry.served
                if entry.state == "unloaded":
                    raise ModelUnavailable(
                        f"the model {name!r} is unloaded; POST /v1/models/{name}/load serves it"
                    )
            self._refresh(entry)
            if entry.served is None:
                raise ModelUnavailable(f"the model {name!r} cannot be loaded: {entry.error}")

    def _release(self, served: Served) -> None:
        with self._lock:
            served.active -= 1
            idle = served.retired and served.active == 0
        if idle:
            self._free(served)

    # -- status -----------------------------------------------------------------------------------

    def status(self, name: str | None = None) -> list[Status]:
        """Every model's status by name, or that of one (ModelNotFound)."""
        with self._lock:
            if name is not None:
                entry = self._entries.get(self.require(name))
                if entry is None:
                    raise ModelNotFound(f"the model {name!r} was removed from the repository")
                return [self._status(entry)]
            entries = sorted(self._entries.values(), key=lambda e: e.name)
        return [self._status(e) for e in entries]

    def _status(self, entry: Entry) -> Status:
        served = entry.served
        return Status(
            name=entry.name,
            state=entry.state,
            version=None if served is None else served.fingerprint,
            number=None if served is None else served.number,
            pinned=entry.pinned,
            versions=tuple(versions(entry.folder)) if self.root is not None else (),
            tasks=() if served is None else tuple(served.tasks),
            labels=() if served is None else served.predictor.info.labels,
            error=entry.error,
            default=entry.name == self.default,
        )

    def serving(self, name: str | None = None) -> Served | None:
        """The version a model serves now (the default's for None), without taking a lease."""
        entry = self._entries.get(self.default if name is None else name)
        return None if entry is None else entry.served

    # -- load, unload, poll -----------------------------------------------------------------------

    def load(self, name: str, version: int | None) -> Status:
        """Serve `version` of the model (pinned), or its highest when None; loads it now. Raises
        ModelNotFound, LoadFailed (the model served before keeps serving)."""
        entry = self._entries[self.require(name)]
        if self.root is None and version is not None:
            raise LoadFailed("a single TEXTCNN_MODEL_DIR has no versions to pin")
        with self._lock:
            pinned, entry.pinned = entry.pinned, version
            if entry.state == "unloaded":
                entry.state = "available"
            entry.failed_signature = None  # an explicit load always tries again
        self._refresh(entry)
        if entry.failed_signature is not None:
            entry.pinned = pinned  # what serves is still what the old pin chose
            raise LoadFailed(f"the model {name!r} was not loaded: {entry.error}")
        if entry.served is None:
            raise ModelUnavailable(f"the model {name!r} was not loaded: {entry.error}")
        return self._status(entry)

    def unload(self, name: str) -> Status:
        """Stop serving the model (its memory is freed once in-flight requests finish) until it is
        loaded again."""
        entry = self._entries[self.require(name)]
        with entry.loading, self._lock:
            old, entry.served, entry.state = entry.served, None, "unloaded"
        if old is not None:
            self._retire(old)
        self.metrics.model_loaded.labels(name).set(0)
        logger.info("unloaded the model %s", name)
        return self._status(entry)

    def _poll(self) -> None:
        while not self._stop.wait(self.settings.poll_interval_s):
            try:
                self.refresh()
            except Exception:  # the poller must outlive any surprise in one pass
                logger.exception("the repository poll failed; trying again at the next interval")

    def refresh(self) -> None:
        """Pick up new, changed and removed model folders (what each poll does)."""
        if self._garbage.is_set():
            self._garbage.clear()
            gc.collect()
        self._scan()
        with self._lock:
            watched = [e for e in self._entries.values() if e.state in ("loaded", "failed")]
        for entry in watched:
            self._refresh(entry)

    def _scan(self) -> None:
        assert self.root is not None
        try:
            folders = {p.name: p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")}
        except OSError as error:
            logger.warning("cannot read the repository %s: %s", self.root, error)
            return
        gone: list[Served] = []
        with self._lock:
            for name, folder in sorted(folders.items()):
                if name not in self._entries:
                    self._entries[name] = Entry(name, folder, pinned=self._pins.get(name))
                    self._entries.move_to_end(name, last=False)  # new: least recently used
            for name in [n for n in self._entries if n not in folders and n != self.default]:
                entry = self._entries.pop(name)
                logger.info("the model folder %s is gone; the model is no longer served", name)
                self.metrics.model_loaded.labels(name).set(0)
                if entry.served is not None:
                    gone.append(entry.served)
        for served in gone:
            self._retire(served)

    def _candidate(self, entry: Entry) -> tuple[Path, int | None]:
        """The directory the model should serve now, and its version number."""
        if self.root is None or (entry.folder / artifact.MANIFEST).is_file():
            return entry.folder, None
        numbers = versions(entry.folder)
        if entry.pinned is not None:
            if entry.pinned not in numbers:
                raise ModelLoadError(f"{entry.folder / str(entry.pinned)}: the pinned version does not exist")
            return entry.folder / str(entry.pinned), entry.pinned
        if not numbers:
            raise ModelLoadError(
                f"{entry.folder} holds neither manifest.json nor version folders (1, 2, ...); copy a "
                "directory written by `python -m training.train --out DIR` into it"
            )
        return entry.folder / str(numbers[-1]), numbers[-1]

    def _refresh(self, entry: Entry) -> None:
        """Load the model's current candidate beside what it serves and switch to it, unless nothing
        changed or the same files failed before. Failures are recorded on the entry, never raised."""
        with entry.loading:
            if entry.state == "unloaded":
                return
            try:
                directory, number = self._candidate(entry)
            except ModelLoadError as error:
                if entry.failed_signature != (str(error),):
                    self._failed(entry, error, (str(error),))
                return
            seen = signature(directory)
            if seen in (entry.failed_signature, entry.served and entry.served.signature):
                return
            try:
                served = self._open(entry.name, directory, number)
            except ModelLoadError as error:
                self._failed(entry, error, seen)
                return
            try:
                self._install(entry, served)
            except ModelUnavailable as error:
                served.close()
                entry.error = str(error)

    def _open(self, name: str | None, directory: Path, number: int | None) -> Served:
        """Load and check a model directory; raises ModelLoadError with what is wrong."""
        seen = signature(directory)
        settings = self.settings
        try:
            predictor = Predictor.load(
                directory,
                batch_size=settings.batch_size,
                max_sentences=settings.max_sentences_per_document,
                bf16=self.bf16,
                table_budget_mb=settings.table_budget_mb,
            )
            fingerprint = artifact.fingerprint(directory)
            scores = predictor.scores(predictor.prepare([CHECK_TEXT]))
        except ModelLoadError:
            raise
        except (OSError, ValueError, RuntimeError, KeyError) as error:
            raise ModelLoadError(f"{directory} does not load: {error}") from error
        if len(scores) != 1:
            raise ModelLoadError(f"{directory}: the model gave {len(scores)} answers to one document")
        served = Served(name or predictor.info.name, number, directory, fingerprint, seen, predictor)
        served.predictor, served.workers = self._setup(served)
        return served

    def _failed(self, entry: Entry, error: TextCNNError, seen: tuple[object, ...]) -> None:
        serving = entry.served
        with self._lock:
            entry.error = str(error)
            entry.failed_signature = seen
            if serving is None:
                entry.state = "failed"
        self.metrics.model_load_failures.labels(entry.name).inc()
        kept = f"; {serving.directory} keeps serving" if serving is not None else ""
        logger.warning("the model %s was not loaded: %s%s", entry.name, error, kept)

    def _install(self, entry: Entry, served: Served) -> None:
        """Switch the model to `served`, making room under TEXTCNN_MAX_LOADED_MODELS first."""
        evicted: list[Served] = []
        with self._lock:
            old = entry.served
            if old is None:
                evicted = self._make_room(entry.name)
            entry.served, entry.state, entry.error, entry.failed_signature = served, "loaded", None, None
            self._entries.move_to_end(entry.name)
        for one in [*evicted, *([old] if old is not None else [])]:
            self._retire(one)
        self.metrics.model_loaded.labels(entry.name).set(1)
        self.metrics.served_model.labels(entry.name).info(
            {"version": served.fingerprint, "number": "" if served.number is None else str(served.number)}
        )
        if old is not None:
            self.metrics.model_swaps.labels(entry.name).inc()
            logger.info("the model %s now serves %s (was %s)", entry.name, served.directory, old.directory)
        else:
            logger.info("the model %s serves %s", entry.name, served.directory)
        if entry.name == self.default:
            self.installed(served)

    def _make_room(self, name: str) -> list[Served]:
        """Evict least recently used models (never the default) until one more fits; under the lock."""
        cap = self.settings.max_loaded_models
        if cap is None:
            return []
        loaded = [e for e in self._entries.values() if e.served is not None]
        evicted: list[Served] = []
        for entry in loaded:
            if len(loaded) - len(evicted) < cap:
                break
            if entry.name in (name, self.default):
                continue
            assert entry.served is not None
            evicted.append(entry.served)
            entry.served, entry.state = None, "available"
            self.metrics.model_loaded.labels(entry.name).set(0)
            logger.info("evicted the model %s (TEXTCNN_MAX_LOADED_MODELS=%d)", entry.name, cap)
        if len(loaded) - len(evicted) >= cap:
            raise ModelUnavailable(
                f"TEXTCNN_MAX_LOADED_MODELS={cap} leaves no room for the model {name!r} beside the default"
            )
        return evicted

    def _retire(self, served: Served) -> None:
        with self._lock:
            served.retired = True
            idle = served.active == 0
        if idle:
            self._free(served)

    def _free(self, served: Served) -> None:
        """Stop a retired version's forward threads; its memory goes at the next poll."""
        served.close()
        self._garbage.set()
