"""The index on disk: a folder of immutable generations (generations.py), each a SQLite database
(database.py: schema and the build's writer) and a FAISS vector index (vectors.py), read through
one `Store` (reader.py). Only this package runs SQL."""

# numpy before the store's modules: imported from inside them, on the `ask` path, numpy's own typing
# module took ~35 ms longer (python -X importtime; 7% of a cold ask). The cause inside numpy was not
# found; the order is what benchmarks/bench_cold_ask.py measured.
import numpy  # noqa: F401, I001

from .database import (
    SCHEMA_VERSION,
    IndexWriter,
    is_write_failure,
    manifest_for,
    VectorsWritten,
    indexed_hashes,
    migrate,
    read_stored_vectors,
)
from .documents import DocumentBM25
from .generations import (
    CURRENT_FILE,
    DATABASE_FILE,
    LOCK_FILE,
    MANIFEST_FILE,
    REBUILD_HINT,
    VECTORS_FILE,
    Manifest,
    check_compatible,
    check_files,
    check_index_dir,
    check_not_orphaned,
    current_generation,
    lock_index,
    new_generation,
    publish,
    read_manifest,
    remove_stale_generations,
    write_manifest,
)
from .highlight import term_spans
from .reader import Store, open_store
from .vectors import (
    APPROXIMATE,
    FLAT,
    FLAT_MAX_VECTORS,
    HNSW,
    HNSW_EF_CONSTRUCTION,
    HNSW_EF_SEARCH,
    HNSW_M,
    IVF,
    IVF_NPROBE,
    IVF_TRAIN_PER_LIST,
    VECTOR_INDEX_TYPES,
    build_vector_index,
    ivf_lists,
    set_search_parameters,
    vector_index_type,
)
