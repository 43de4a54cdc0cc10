"""Settings: where the corpus and index live, how an index is built and questions are answered.

The environment is read in this module alone (`Settings.from_environment`, `user_data_dir`); everything else takes a
`Settings` and never looks at os.environ.

In a checkout (a `corpus/` folder in the current directory) the corpus and index are `corpus/`
and `index/` there. Anywhere else, unless a folder is given with an option or environment
variable, they live in the per-user data folder (platformdirs' user data dir, or
$REGIONQA_DATA_DIR), whose corpus starts with the article shipped in the package.

Defaults can be set in a TOML file (`config.toml` in platformdirs' user config folder, or the file
$REGIONQA_CONFIG names). What a command uses: an option on its command line, else the environment
variable, else the config file, else the built-in default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .chunking import ChunkSettings
from .errors import BadInputError
from .search import RetrievalSettings

INDEX_DIR_ENV = "REGIONQA_INDEX_DIR"
CORPUS_DIR_ENV = "REGIONQA_CORPUS_DIR"
DATA_DIR_ENV = "REGIONQA_DATA_DIR"
ENCODER_ENV = "REGIONQA_ENCODER"  # the query encoder: auto (ONNX when exported, else torch), onnx, torch
READER_ENV = "REGIONQA_READER"  # the span reader: on (the default) or off (typed candidates only)
READER_DIR_ENV = "REGIONQA_READER_DIR"  # read the reader's files from a copy of the shipped folder (they must match its hashes)
READER_CHOICES = ("on", "off")
CONFIG_ENV = "REGIONQA_CONFIG"  # the config file to read instead of the per-user one (need not exist)
TOKEN_ENV = "REGIONQA_TOKEN"  # serve's --token
CONFIG_NAME = "config.toml"
APP_NAME = "regionqa"
DEFAULT_CORPUS = Path("corpus")
DEFAULT_INDEX = Path("index")
HISTORY_NAME = "history.sqlite"
STARTER_SOURCE = "azerbaijan-central-asia.txt"  # shipped in regionqa/data/, copied into a new per-user corpus


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = DEFAULT_CORPUS
    index_dir: Path = DEFAULT_INDEX
    chunking: ChunkSettings = ChunkSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    embed_batch_size: int = 32
    encoder: str = "auto"  # onnx_encoder.ENCODER_CHOICES; checked in a config file, and when the encoder is opened (a ModelError, exit 4)
    reader: str = "on"  # READER_CHOICES; "off" answers from the typed candidates alone (checked when a question is answered)
    reader_dir: Path | None = None  # None: the reader shipped in the package (answer/reader.py, READER_FOLDER)
    user_data: bool = False  # True when the folders fell back to the per-user data folder
    # The per-user data folder (BEIR evaluation indexes live there); platformdirs' unless the environment moves it.
    data_dir: Path = field(default_factory=lambda: user_data_dir())
    top_k: int = 5  # passages an `ask` shows when --top-k is not given
    history: bool = True  # whether `regionqa ask` records its questions and answers (history.sqlite in data_dir)
    config_file: Path | None = None  # the config file these settings read, when there was one

    @property
    def history_file(self) -> Path:
        return self.data_dir / HISTORY_NAME

    def wants_reader(self) -> bool:
        """Whether questions are answered with the span reader; ModelError (exit 4) naming REGIONQA_READER
        when the setting is not one of READER_CHOICES."""
        from .errors import ModelError

        if self.reader not in READER_CHOICES:
            raise ModelError(f"{READER_ENV}={self.reader!r} is not one of: {', '.join(READER_CHOICES)}")
        return self.reader == "on"

    @classmethod
    def from_environment(
        cls,
        corpus_dir: Path | None = None,
        index_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Settings:
        """The settings of a command: folders given win, then $REGIONQA_CORPUS_DIR / $REGIONQA_INDEX_DIR,
        then the config file, then the checkout's or the per-user folders (`resolve_dirs`); the same order
        for $REGIONQA_ENCODER / $REGIONQA_READER. BadInputError (one line) for a config file that is not
        valid TOML, holds an unknown key or a value of the wrong kind."""
        environ = os.environ if environ is None else environ
        path = config_path(environ)
        options = read_config(path)
        corpus_dir = corpus_dir or _path(environ.get(CORPUS_DIR_ENV)) or options.get("corpus_dir")
        index_dir = index_dir or _path(environ.get(INDEX_DIR_ENV)) or options.get("index_dir")
        data_dir = user_data_dir(environ)
        folders = resolve_dirs(corpus_dir, index_dir, cwd or Path.cwd(), data_dir)
        encoder = environ.get(ENCODER_ENV, "").strip().lower() or options.get("encoder", "auto")
        reader = environ.get(READER_ENV, "").strip().lower() or options.get("reader", "on")
        return cls(
            corpus_dir=folders.corpus_dir,
            index_dir=folders.index_dir,
            encoder=encoder,
            reader=reader,
            reader_dir=_path(environ.get(READER_DIR_ENV)),
            user_data=folders.user_data,
            data_dir=data_dir,
            top_k=options.get("top_k", cls.top_k),
            history=options.get("history", cls.history),
            config_file=path if path.is_file() else None,
        )


# What a config file may set, with the kind of value each takes.
CONFIG_KEYS: dict[str, type] = {"top_k": int, "index_dir": str, "corpus_dir": str, "history": bool, "encoder": str, "reader": str}


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """The config file: $REGIONQA_CONFIG, else config.toml in platformdirs' user config folder (~/.config/regionqa)."""
    override = (os.environ if environ is None else environ).get(CONFIG_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False)) / CONFIG_NAME


def read_config(path: Path) -> dict:
    """The options of a config file ({} when there is none), folders as Paths (relative ones to the
    file's folder); BadInputError naming the file and the key for anything it cannot take."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise BadInputError(f"{path}: cannot read the config file ({error}); fix it or point {CONFIG_ENV} elsewhere") from None
    except tomllib.TOMLDecodeError as error:
        raise BadInputError(f"{path}: not valid TOML ({error}); fix the file or point {CONFIG_ENV} elsewhere") from None
    _check_kinds(path, data)
    for key in ("index_dir", "corpus_dir"):
        if key in data:
            if not data[key].strip():  # Path("") is the file's own folder: never what was meant
                raise BadInputError(f"{path}: {key} is empty; give a folder, or leave the key out")
            data[key] = path.parent / Path(data[key]).expanduser()
    for key in ("encoder", "reader"):
        if key in data:
            data[key] = data[key].strip().lower()
            choices = _encoder_choices() if key == "encoder" else READER_CHOICES
            if data[key] not in choices:
                raise BadInputError(f"{path}: {key} must be one of: {', '.join(choices)}; got {data[key]!r}")
    return data


def _encoder_choices() -> tuple[str, ...]:
    from .onnx_encoder import ENCODER_CHOICES  # imported only for a config file that sets one: it imports numpy

    return ENCODER_CHOICES


def _check_kinds(path: Path, data: dict) -> None:
    """BadInputError naming the file and the key for an unknown key or a value of the wrong kind."""
    for key, value in data.items():
        kind = CONFIG_KEYS.get(key)
        if kind is None:
            raise BadInputError(f"{path}: unknown key {key!r}; the keys are: {', '.join(CONFIG_KEYS)}")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            shown = str(value).lower() if isinstance(value, bool) else repr(value)  # as TOML writes it
            raise BadInputError(f"{path}: {key} must be {_KIND_NAMES[kind]}; got {shown}")
    if "top_k" in data and not 1 <= data["top_k"] <= MAX_TOP_K:
        raise BadInputError(f"{path}: top_k must be between 1 and {MAX_TOP_K}; got {data['top_k']}")


def effective(settings: Settings) -> dict:
    """The values of the config file's keys that `settings` hold, folders as strings: what `config show` prints."""
    return {key: str(value) if isinstance(value, Path) else value for key, value in ((k, getattr(settings, k)) for k in CONFIG_KEYS)}


_KIND_NAMES = {int: "a whole number", str: "a string", bool: "true or false"}
MAX_TOP_K = 100  # engine.check_top_k's limit, checked here for the config file's top_k


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


@dataclass(frozen=True)
class Folders:
    """The corpus and index folders a command uses, and whether they are the per-user ones."""

    corpus_dir: Path
    index_dir: Path
    user_data: bool = False  # True when they fell back to the per-user data folder


def user_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user data folder: $REGIONQA_DATA_DIR, else platformdirs' (~/.local/share/regionqa on Linux)."""
    override = (os.environ if environ is None else environ).get(DATA_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir as platform_user_data_dir

    return Path(platform_user_data_dir(APP_NAME, appauthor=False))


def resolve_dirs(corpus_dir: Path | None, index_dir: Path | None, cwd: Path, data_dir: Path) -> Folders:
    """Where the corpus and index are, from the folders given (None: no option and no env var).

    A given folder always wins. Without a corpus folder, `corpus/` and `index/` of the current
    directory are used when `cwd/corpus` exists (a checkout, or a folder prepared by the user);
    otherwise both default to `data_dir/corpus` and `data_dir/index`.

    >>> resolve_dirs(None, None, Path("/nowhere"), Path("/data")).corpus_dir
    PosixPath('/data/corpus')
    """
    if corpus_dir is not None or (cwd / DEFAULT_CORPUS).is_dir():
        return Folders(corpus_dir or DEFAULT_CORPUS, index_dir or DEFAULT_INDEX)
    return Folders(data_dir / DEFAULT_CORPUS, index_dir or data_dir / DEFAULT_INDEX, user_data=True)


def seed_user_corpus(settings: Settings) -> bool:
    """Create the per-user corpus (with the article) when `settings` fell back to it and it is missing;
    True when it was created now. The CLI and the Python API both call this before using the folders."""
    return settings.user_data and seed_corpus(settings.corpus_dir)


def seed_corpus(corpus_dir: Path) -> bool:
    """Create a missing per-user corpus folder holding the shipped article; True if it was created.

    An existing folder is left as it is, even when empty: its contents are the user's choice.
    """
    if corpus_dir.exists():
        return False
    from importlib import resources

    article = resources.files(APP_NAME).joinpath("data", STARTER_SOURCE).read_bytes()
    corpus_dir.parent.mkdir(parents=True, exist_ok=True)
    temporary = corpus_dir.with_name(f".{corpus_dir.name}.part")
    temporary.mkdir(exist_ok=True)
    (temporary / STARTER_SOURCE).write_bytes(article)
    try:
        temporary.rename(corpus_dir)  # whole or not at all: a folder with a half-written article is never seen
    except OSError:
        import shutil

        shutil.rmtree(temporary, ignore_errors=True)
        if not corpus_dir.exists():
            raise
        return False  # another process seeded it first
    return True


def token_from_environment(environ: Mapping[str, str] | None = None) -> str | None:
    """REGIONQA_TOKEN as set: "" when it is set but empty, which Typer reads as not set (so that
    `serve` can refuse it rather than serve without authentication); None when it is not set."""
    return (os.environ if environ is None else environ).get(TOKEN_ENV)
