/*  sl_store_sqlite: the SQLite backend of sl_store (see sl_store_backend.h).

    Concurrency design
    - A pool of connections (opened lazily, at most S_POOL_MAX): a call takes
      one, uses it, and gives it back, so any number of threads share the
      store and each connection is used by one thread at a time. Prepared
      statements are cached per connection (prepared once, reset per use).
    - WAL journal: readers never block the writer or each other.
    - SQLite allows one writer per database. Writers in this process queue on
      write_lock before BEGIN IMMEDIATE, so they wait in FIFO-ish order on a
      mutex instead of spinning in SQLite's busy handler, and SQLITE_BUSY
      cannot leak to callers; busy_timeout covers writers in other processes.
    - synchronous=NORMAL: in WAL mode a commit survives a process crash and
      only the last transactions can be lost on power failure; that is the
      usual trade for a service whose jobs are re-driven anyway.

    Schema design
    - Versioned migrations (schema_version table) applied at open inside one
      IMMEDIATE transaction, so concurrent openers apply each exactly once.
    - Document ids are derived from (workspace, sha256) and chunk ids from
      (document id, ordinal), so a redelivered commit collides on the primary
      key and becomes a no-op instead of a duplicate.
    - chunks.rid is an integer key, never reused: the vector index uses it
      as the row id and vectors hang off it (ON DELETE CASCADE from documents -> chunks ->
      vectors, so deleting a document is one DELETE).
    - workspaces.generation is bumped by every write that changes a
      workspace's vectors, inside that write's transaction, so in-memory
      indexes (in this or another process) can tell whether they are stale.
*/
#include "sl_store_backend.h"
#include "sl_log.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_POOL_MAX        8         //  connections per store
#define S_BUSY_TIMEOUT_MS 15000     //  wait for other processes' writers

//  --------------------------------------------------------------------------
//  Migrations: append only. Never edit a released migration.

typedef struct {
    int version;
    const char *sql;
} s_migration_t;

static const s_migration_t s_migrations [] = {
    { 1,
      "CREATE TABLE workspaces ("
      "  name TEXT PRIMARY KEY,"
      "  model_id TEXT,"                    //  recorded at first embed
      "  dim INTEGER,"
      "  generation INTEGER NOT NULL DEFAULT 0,"
      "  created_ms INTEGER NOT NULL"
      ");"
      "CREATE TABLE jobs ("
      "  id TEXT PRIMARY KEY,"
      "  workspace TEXT NOT NULL REFERENCES workspaces (name),"
      "  source TEXT NOT NULL,"
      "  sha256 TEXT,"
      "  mime TEXT,"
      "  state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'fetching',"
      "    'parsing', 'chunking', 'embedding', 'storing', 'completed', 'failed')),"
      "  stage TEXT,"
      "  percent INTEGER NOT NULL DEFAULT 0,"
      "  attempts INTEGER NOT NULL DEFAULT 0,"
      "  error_stage TEXT,"
      "  error TEXT,"
      "  document_id TEXT,"
      "  created_ms INTEGER NOT NULL,"
      "  updated_ms INTEGER NOT NULL,"
      "  fetch_started_ms INTEGER, fetch_finished_ms INTEGER,"
      "  parse_started_ms INTEGER, parse_finished_ms INTEGER,"
      "  chunk_started_ms INTEGER, chunk_finished_ms INTEGER,"
      "  embed_started_ms INTEGER, embed_finished_ms INTEGER,"
      "  store_started_ms INTEGER, store_finished_ms INTEGER,"
      "  lease_owner TEXT,"
      "  lease_until_ms INTEGER,"
      "  options TEXT"
      ");"
      "CREATE INDEX jobs_by_workspace ON jobs (workspace, created_ms);"
      "CREATE INDEX jobs_unfinished ON jobs (updated_ms)"
      "  WHERE state NOT IN ('completed', 'failed');"
      "CREATE INDEX jobs_by_sha256 ON jobs (sha256);"
      "CREATE TABLE documents ("
      "  id TEXT PRIMARY KEY,"
      "  workspace TEXT NOT NULL REFERENCES workspaces (name),"
      "  source TEXT NOT NULL,"
      "  sha256 TEXT NOT NULL,"
      "  mime TEXT,"
      "  title TEXT,"
      "  pages INTEGER NOT NULL DEFAULT 0,"
      "  bytes INTEGER NOT NULL DEFAULT 0,"
      "  chunks INTEGER NOT NULL DEFAULT 0,"
      "  model_id TEXT,"
      "  state TEXT NOT NULL DEFAULT 'ready',"
      "  job_id TEXT,"
      "  created_ms INTEGER NOT NULL,"
      "  updated_ms INTEGER NOT NULL"
      ");"
      "CREATE UNIQUE INDEX documents_by_content ON documents (workspace, sha256)"
      "  WHERE state = 'ready';"
      "CREATE UNIQUE INDEX documents_by_source ON documents (workspace, source)"
      "  WHERE state = 'ready';"
      "CREATE INDEX documents_by_time ON documents (workspace, created_ms);"
      "CREATE INDEX documents_by_sha256 ON documents (sha256);"
      "CREATE TABLE chunks ("
      //  AUTOINCREMENT: a rid is never reused, so an index row that is a
      //  moment stale can only miss, never name a different chunk
      "  rid INTEGER PRIMARY KEY AUTOINCREMENT,"
      "  id TEXT NOT NULL UNIQUE,"
      "  document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,"
      "  ordinal INTEGER NOT NULL,"
      "  page_start INTEGER NOT NULL DEFAULT 0,"
      "  page_end INTEGER NOT NULL DEFAULT 0,"
      "  char_start INTEGER NOT NULL DEFAULT 0,"
      "  char_end INTEGER NOT NULL DEFAULT 0,"
      "  tokens INTEGER NOT NULL DEFAULT 0,"
      "  hash TEXT NOT NULL,"
      "  text TEXT NOT NULL,"
      "  UNIQUE (document_id, ordinal)"
      ");"
      "CREATE TABLE vectors ("
      "  chunk_rid INTEGER PRIMARY KEY REFERENCES chunks (rid) ON DELETE CASCADE,"
      "  model_id TEXT NOT NULL,"
      "  dim INTEGER NOT NULL,"
      "  vec BLOB NOT NULL"                 //  dim float32, host byte order
      ");"
      "CREATE TABLE embed_cache ("
      "  model_id TEXT NOT NULL,"
      "  hash TEXT NOT NULL,"
      "  dim INTEGER NOT NULL,"
      "  vec BLOB NOT NULL,"
      "  created_ms INTEGER NOT NULL,"
      "  PRIMARY KEY (model_id, hash)"
      ") WITHOUT ROWID;"
      "CREATE TABLE events ("
      "  job_id TEXT NOT NULL,"
      "  seq INTEGER NOT NULL,"
      "  type TEXT NOT NULL,"
      "  data TEXT,"
      "  ts INTEGER NOT NULL,"
      "  PRIMARY KEY (job_id, seq)"
      ") WITHOUT ROWID;"
    },
    //  Lexical search: a full-text index over chunk text that the chunks
    //  table keeps current through triggers (cascaded deletes included),
    //  filled from the chunks already stored
    { 2,
      "CREATE VIRTUAL TABLE chunks_fts USING fts5 (text, content = 'chunks',"
      "  content_rowid = 'rid', tokenize = 'unicode61 remove_diacritics 2');"
      "CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN"
      "  INSERT INTO chunks_fts (rowid, text) VALUES (new.rid, new.text);"
      "END;"
      "CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN"
      "  INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.rid, old.text);"
      "END;"
      "CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text ON chunks BEGIN"
      "  INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.rid, old.text);"
      "  INSERT INTO chunks_fts (rowid, text) VALUES (new.rid, new.text);"
      "END;"
      "INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild');"
    },
    //  Document identity (sl_store.c): a source names one document, a
    //  document may have several sources; since_ms is the accept time of
    //  the job that named it (an older job never takes it back). Jobs keep
    //  what their commit replaced and whether the content was stored
    //  already. Every existing document keeps its one source.
    { 3,
      "CREATE TABLE document_sources ("
      "  workspace TEXT NOT NULL,"
      "  source TEXT NOT NULL,"
      "  document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,"
      "  job_id TEXT,"
      "  since_ms INTEGER NOT NULL,"
      "  updated_ms INTEGER NOT NULL,"
      "  PRIMARY KEY (workspace, source)"
      ") WITHOUT ROWID;"
      "CREATE INDEX document_sources_by_document ON document_sources (document_id, since_ms);"
      "INSERT INTO document_sources (workspace, source, document_id, job_id, since_ms, updated_ms)"
      "  SELECT d.workspace, d.source, d.id, d.job_id, COALESCE ((SELECT j.created_ms FROM jobs j"
      "  WHERE j.id = d.job_id), d.created_ms), d.updated_ms FROM documents d;"
      "ALTER TABLE jobs ADD COLUMN replaced TEXT;"
      "ALTER TABLE jobs ADD COLUMN duplicate_of TEXT;"
    },
    //  Housekeeping: named leases for duties one process at a time does
    //  (the storage collector), and the embedding cache by age, so the
    //  oldest entries are found without sorting the whole cache
    { 4,
      "CREATE TABLE leases ("
      "  name TEXT PRIMARY KEY,"
      "  owner TEXT NOT NULL,"
      "  until_ms INTEGER NOT NULL"
      ");"
      "CREATE INDEX embed_cache_by_age ON embed_cache (created_ms);"
    },
    //  Document structure: a chunk's kind (text or table), its section
    //  path, the lowest OCR confidence of its pages (NULL: not OCR'd) and
    //  the embedding context it was embedded with. The word index covers
    //  the section path too, so a heading's words find its chunks.
    { 5,
      "ALTER TABLE chunks ADD COLUMN kind TEXT NOT NULL DEFAULT 'text';"
      "ALTER TABLE chunks ADD COLUMN section TEXT NOT NULL DEFAULT '';"
      "ALTER TABLE chunks ADD COLUMN ocr_conf INTEGER;"
      "ALTER TABLE chunks ADD COLUMN context TEXT NOT NULL DEFAULT '';"
      "DROP TRIGGER chunks_fts_insert;"
      "DROP TRIGGER chunks_fts_delete;"
      "DROP TRIGGER chunks_fts_update;"
      "DROP TABLE chunks_fts;"
      "CREATE VIRTUAL TABLE chunks_fts USING fts5 (text, section, content = 'chunks',"
      "  content_rowid = 'rid', tokenize = 'unicode61 remove_diacritics 2');"
      "CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN"
      "  INSERT INTO chunks_fts (rowid, text, section) VALUES (new.rid, new.text, new.section);"
      "END;"
      "CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN"
      "  INSERT INTO chunks_fts (chunks_fts, rowid, text, section)"
      "  VALUES ('delete', old.rid, old.text, old.section);"
      "END;"
      "CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text, section ON chunks BEGIN"
      "  INSERT INTO chunks_fts (chunks_fts, rowid, text, section)"
      "  VALUES ('delete', old.rid, old.text, old.section);"
      "  INSERT INTO chunks_fts (rowid, text, section) VALUES (new.rid, new.text, new.section);"
      "END;"
      "INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild');"
    },
    //  Ranked word matching: the word index stems (Porter, over the same
    //  unicode61 tokens), so "terminates" finds "terminate"; the query goes
    //  through the same tokenizer, so indexing and query stem alike. The
    //  index is rebuilt from the chunks
    { 6,
      "DROP TRIGGER chunks_fts_insert;"
      "DROP TRIGGER chunks_fts_delete;"
      "DROP TRIGGER chunks_fts_update;"
      "DROP TABLE chunks_fts;"
      "CREATE VIRTUAL TABLE chunks_fts USING fts5 (text, section, content = 'chunks',"
      "  content_rowid = 'rid', tokenize = 'porter unicode61 remove_diacritics 2');"
      "CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN"
      "  INSERT INTO chunks_fts (rowid, text, section) VALUES (new.rid, new.text, new.section);"
      "END;"
      "CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN"
      "  INSERT INTO chunks_fts (chunks_fts, rowid, text, section)"
      "  VALUES ('delete', old.rid, old.text, old.section);"
      "END;"
      "CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text, section ON chunks BEGIN"
      "  INSERT INTO chunks_fts (chunks_fts, rowid, text, section)"
      "  VALUES ('delete', old.rid, old.text, old.section);"
      "  INSERT INTO chunks_fts (rowid, text, section) VALUES (new.rid, new.text, new.section);"
      "END;"
      "INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild');"
    },
    //  Document attributes (sl_filter.h): their canonical JSON on the
    //  document for showing, and one row per scalar and list item for
    //  filtering, indexed by text and by number within a workspace's key;
    //  they go with their document. Documents by type, for the mime filter
    { 7,
      "ALTER TABLE documents ADD COLUMN meta TEXT;"
      "ALTER TABLE workspaces ADD COLUMN filters_gen INTEGER NOT NULL DEFAULT 0;"
      "CREATE TABLE doc_attrs ("
      "  workspace TEXT NOT NULL,"
      "  document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,"
      "  key TEXT NOT NULL,"
      "  vtype TEXT NOT NULL,"             //  s string, d instant, n number, b boolean
      "  vtext TEXT NOT NULL,"
      "  vnum REAL"                         //  numbers, booleans 0/1, instants (s since 1970)
      ");"
      "CREATE INDEX doc_attrs_by_text ON doc_attrs (workspace, key, vtext);"
      "CREATE INDEX doc_attrs_by_num ON doc_attrs (workspace, key, vnum);"
      "CREATE INDEX doc_attrs_by_document ON doc_attrs (document_id);"
      "CREATE INDEX documents_by_mime ON documents (workspace, mime);"
    },
    //  Chunking settings (engine/sl_chunking.h, JSON text): a workspace's
    //  own (NULL: the server's), and what each document was cut with
    { 8,
      "ALTER TABLE workspaces ADD COLUMN chunking TEXT;"
      "ALTER TABLE documents ADD COLUMN chunking TEXT;"
    },
    //  Pages as the word index sees them: the text of a page's chunks (in
    //  order), indexed like chunks, so a chunk can be ranked by its page's
    //  BM25 as well as its own (a page holding all the question's words
    //  over several chunks says more than one chunk holding some). Built
    //  from the chunks at commit (and here, for documents stored before)
    { 9,
      "CREATE TABLE pages ("
      "  rid INTEGER PRIMARY KEY AUTOINCREMENT,"
      "  document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,"
      "  page INTEGER NOT NULL,"
      "  text TEXT NOT NULL,"
      "  UNIQUE (document_id, page)"
      ");"
      "CREATE INDEX chunks_by_page ON chunks (document_id, page_start);"
      "CREATE VIRTUAL TABLE pages_fts USING fts5 (text, content = 'pages',"
      "  content_rowid = 'rid', tokenize = 'porter unicode61 remove_diacritics 2');"
      "CREATE TRIGGER pages_fts_insert AFTER INSERT ON pages BEGIN"
      "  INSERT INTO pages_fts (rowid, text) VALUES (new.rid, new.text);"
      "END;"
      "CREATE TRIGGER pages_fts_delete AFTER DELETE ON pages BEGIN"
      "  INSERT INTO pages_fts (pages_fts, rowid, text) VALUES ('delete', old.rid, old.text);"
      "END;"
      "INSERT INTO pages (document_id, page, text) SELECT document_id, page_start,"
      "  group_concat (text, char (10)) FROM (SELECT document_id, page_start, text FROM chunks"
      "  ORDER BY document_id, ordinal) GROUP BY document_id, page_start;"
    },
    //  Job control (sl_store.h, "Job control"): a job can be cancelled
    //  (the state CHECK gains 'cancelled', which SQLite cannot alter, so the
    //  table is rebuilt with its rows), held while its workspace's intake is
    //  paused (held = 1: accepted, not started, left alone by the
    //  re-driver), and a workspace remembers that it is paused. A document
    //  keeps its parse output (pages_blob, a blob in the blob area) so it
    //  can be chunked again without fetching or parsing
    { 10,
      "CREATE TABLE jobs_new ("
      "  id TEXT PRIMARY KEY,"
      "  workspace TEXT NOT NULL REFERENCES workspaces (name),"
      "  source TEXT NOT NULL,"
      "  sha256 TEXT,"
      "  mime TEXT,"
      "  state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'fetching',"
      "    'parsing', 'chunking', 'embedding', 'storing', 'completed', 'failed', 'cancelled')),"
      "  stage TEXT,"
      "  percent INTEGER NOT NULL DEFAULT 0,"
      "  attempts INTEGER NOT NULL DEFAULT 0,"
      "  error_stage TEXT,"
      "  error TEXT,"
      "  document_id TEXT,"
      "  created_ms INTEGER NOT NULL,"
      "  updated_ms INTEGER NOT NULL,"
      "  fetch_started_ms INTEGER, fetch_finished_ms INTEGER,"
      "  parse_started_ms INTEGER, parse_finished_ms INTEGER,"
      "  chunk_started_ms INTEGER, chunk_finished_ms INTEGER,"
      "  embed_started_ms INTEGER, embed_finished_ms INTEGER,"
      "  store_started_ms INTEGER, store_finished_ms INTEGER,"
      "  lease_owner TEXT,"
      "  lease_until_ms INTEGER,"
      "  options TEXT,"
      "  replaced TEXT,"
      "  duplicate_of TEXT,"
      "  held INTEGER NOT NULL DEFAULT 0"
      ");"
      "INSERT INTO jobs_new (id, workspace, source, sha256, mime, state, stage, percent, attempts,"
      "  error_stage, error, document_id, created_ms, updated_ms, fetch_started_ms,"
      "  fetch_finished_ms, parse_started_ms, parse_finished_ms, chunk_started_ms,"
      "  chunk_finished_ms, embed_started_ms, embed_finished_ms, store_started_ms,"
      "  store_finished_ms, lease_owner, lease_until_ms, options, replaced, duplicate_of)"
      "  SELECT id, workspace, source, sha256, mime, state, stage, percent, attempts,"
      "  error_stage, error, document_id, created_ms, updated_ms, fetch_started_ms,"
      "  fetch_finished_ms, parse_started_ms, parse_finished_ms, chunk_started_ms,"
      "  chunk_finished_ms, embed_started_ms, embed_finished_ms, store_started_ms,"
      "  store_finished_ms, lease_owner, lease_until_ms, options, replaced, duplicate_of"
      "  FROM jobs;"
      "DROP TABLE jobs;"
      "ALTER TABLE jobs_new RENAME TO jobs;"
      "CREATE INDEX jobs_by_workspace ON jobs (workspace, created_ms);"
      "CREATE INDEX jobs_unfinished ON jobs (updated_ms)"
      "  WHERE state NOT IN ('completed', 'failed', 'cancelled') AND held = 0;"
      "CREATE INDEX jobs_by_sha256 ON jobs (sha256);"
      "CREATE INDEX jobs_held ON jobs (workspace, created_ms) WHERE held = 1;"
      "ALTER TABLE workspaces ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;"
      "ALTER TABLE documents ADD COLUMN pages_blob TEXT;"
      "CREATE INDEX documents_by_pages_blob ON documents (pages_blob) WHERE pages_blob IS NOT NULL;"
    },
    //  Sources (actors/sources): a workspace's registered sources (row:
    //  JSON the sources service owns; key: kind and target, one source per
    //  key), each item's evidence (mtime+size, ETag, lastmod: JSON), and
    //  the sync runs. Deleting a source takes its items and runs along
    { 11,
      "CREATE TABLE sources ("
      "  id TEXT PRIMARY KEY,"
      "  workspace TEXT NOT NULL,"
      "  key TEXT NOT NULL,"
      "  row TEXT NOT NULL,"
      "  next_ms INTEGER NOT NULL,"
      "  created_ms INTEGER NOT NULL,"
      "  updated_ms INTEGER NOT NULL,"
      "  UNIQUE (workspace, key)"
      ");"
      "CREATE INDEX sources_by_due ON sources (next_ms);"
      "CREATE TABLE source_items ("
      "  source_id TEXT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,"
      "  key TEXT NOT NULL,"
      "  evidence TEXT NOT NULL,"
      "  PRIMARY KEY (source_id, key)"
      ");"
      "CREATE TABLE source_runs ("
      "  id TEXT PRIMARY KEY,"
      "  source_id TEXT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,"
      "  started_ms INTEGER NOT NULL,"
      "  row TEXT NOT NULL"
      ");"
      "CREATE INDEX source_runs_by_source ON source_runs (source_id, started_ms);"
    },
    //  A job's run: 0 for its first, one more at each retry. Messages carry
    //  the run that sent them, and a stage drops those of an earlier run
    //  (sl_store_job_gate): a cancelled run's handler still at work when the
    //  retry came must not go on beside the new run
    { 12,
      "ALTER TABLE jobs ADD COLUMN run INTEGER NOT NULL DEFAULT 0;"
    },
    //  A chunk's words enter the word index by an explicit insert beside
    //  the chunk's own (S_CHUNK_FTS_INSERT), not by a trigger: a statement
    //  that fires a trigger inside a transaction opens a statement
    //  savepoint, and FTS5 flushes its pending terms to a new segment at
    //  every savepoint, so a trigger per chunk wrote one segment per chunk
    //  and merged them again: about 4x the cost of the index (measured with
    //  6,000 chunks in one transaction). Deletes and updates keep their
    //  triggers (one statement per document, one flush)
    { 13,
      "DROP TRIGGER chunks_fts_insert;"
    },
};
#define S_MIGRATIONS ((int) (sizeof s_migrations / sizeof s_migrations [0]))

//  --------------------------------------------------------------------------
//  Statements, prepared once per connection

#define S_TERMINAL "state NOT IN ('completed', 'failed', 'cancelled')"
#define S_LEXICAL_HEAD "SELECT rid, score FROM (SELECT c.rid, -bm25 (chunks_fts, 1.0, ?9) " \
    "* (CASE WHEN ?5 IS NOT NULL AND chunks_fts.rowid IN (SELECT rowid FROM chunks_fts " \
    "WHERE chunks_fts MATCH ?5) THEN ?6 ELSE 1.0 END) * (CASE WHEN ?7 IS NOT NULL AND " \
    "chunks_fts.rowid IN (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?7) THEN ?8 " \
    "ELSE 1.0 END) AS score FROM chunks_fts JOIN chunks c ON c.rid = chunks_fts.rowid " \
    "JOIN documents d ON d.id = c.document_id WHERE chunks_fts MATCH ?1 AND d.workspace = ?2 " \
    "AND d.state = 'ready' " \
    "AND (?4 IS NULL OR d.id IN (SELECT value FROM json_each (?4)))"
#define S_LEXICAL_TAIL ") ORDER BY score DESC, rid LIMIT ?3"
//  A search's best pages, their chunks (filter between head and tail,
//  parameters from ?5)
#define S_PAGE_LEXICAL_HEAD "SELECT c.rid, p.score FROM (SELECT pages.document_id, pages.page, " \
    "-bm25 (pages_fts) AS score FROM pages_fts JOIN pages ON pages.rid = pages_fts.rowid " \
    "JOIN documents d ON d.id = pages.document_id WHERE pages_fts MATCH ?1 " \
    "AND d.workspace = ?2 AND d.state = 'ready' AND (?4 IS NULL OR d.id IN (SELECT value FROM json_each (?4)))"
#define S_PAGE_LEXICAL_TAIL " ORDER BY score DESC LIMIT ?3) p JOIN chunks c " \
    "ON c.document_id = p.document_id AND c.page_start = p.page"
//  A search's chunk keys (filter between head and tail, parameters from ?3)
#define S_DOCS_KEYS_HEAD "SELECT c.rid FROM documents d JOIN chunks c ON c.document_id = d.id " \
    "WHERE d.workspace = ?1 AND d.state = 'ready' AND (?2 IS NULL OR d.id IN (SELECT value FROM json_each (?2)))"
#define S_DOCS_KEYS_TAIL " ORDER BY c.rid"
//  A search's documents and their chunk counts (filter from ?3)
#define S_FILTER_DOCS_HEAD "SELECT d.id, d.chunks FROM documents d WHERE d.workspace = ?1 " \
    "AND d.state = 'ready' " \
    "AND (?2 IS NULL OR d.id IN (SELECT value FROM json_each (?2)))"
#define S_JOB_COLS "SELECT id, workspace, source, sha256, mime, state, stage, percent, " \
    "attempts, error_stage, error, document_id, created_ms, updated_ms, " \
    "fetch_started_ms, fetch_finished_ms, parse_started_ms, parse_finished_ms, " \
    "chunk_started_ms, chunk_finished_ms, embed_started_ms, embed_finished_ms, " \
    "store_started_ms, store_finished_ms, lease_owner, lease_until_ms, options, replaced, " \
    "duplicate_of, held, run FROM jobs "
#define S_DOC_COLS "SELECT id, workspace, sha256, source, mime, title, model_id, job_id, " \
    "state, pages, bytes, chunks, created_ms, updated_ms, chunking, meta, pages_blob FROM documents "
//  A job back to its start: what its last run recorded goes
#define S_RESTART "state = 'queued', stage = NULL, percent = 0, attempts = 0, run = run + 1, " \
    "error_stage = NULL, error = NULL, document_id = NULL, replaced = NULL, " \
    "duplicate_of = NULL, fetch_started_ms = NULL, fetch_finished_ms = NULL, " \
    "parse_started_ms = NULL, parse_finished_ms = NULL, chunk_started_ms = NULL, " \
    "chunk_finished_ms = NULL, embed_started_ms = NULL, embed_finished_ms = NULL, " \
    "store_started_ms = NULL, store_finished_ms = NULL, updated_ms = ?3, " \
    "lease_owner = NULL, lease_until_ms = NULL"
//  ?1 id, ?2 state, ?3 stage, ?4 now
#define S_STARTED(st) "UPDATE jobs SET state = ?2, stage = ?3, updated_ms = ?4, " \
    st "_started_ms = COALESCE (" st "_started_ms, ?4) WHERE id = ?1 AND " S_TERMINAL
#define S_FINISHED(st) "UPDATE jobs SET updated_ms = ?4, " st "_finished_ms = ?4 " \
    "WHERE id = ?1 AND " S_TERMINAL

typedef enum {
    S_BEGIN, S_BEGIN_IMMEDIATE, S_COMMIT, S_ROLLBACK,
    S_WS_ENSURE, S_WS_GET, S_WS_CHUNKING, S_WS_SET_CHUNKING, S_WS_MODEL, S_WS_BUMP,
    S_JOB_CREATE, S_JOB_GET, S_JOB_STATE, S_JOB_SET_BLOB,
    S_JOB_STARTED,              //  + stage
    S_JOB_FINISHED = S_JOB_STARTED + SL_STORE_STAGE_COUNT,
    S_JOB_PROGRESS = S_JOB_FINISHED + SL_STORE_STAGE_COUNT,
    S_JOB_FAIL, S_JOB_COMPLETE, S_JOB_ATTEMPT, S_JOB_LEASE, S_JOB_LIST, S_JOBS_UNFINISHED,
    S_DOC_FIND, S_DOC_GET, S_DOC_LIST, S_DOC_COUNT, S_DOC_EXISTS, S_DOC_SET_SOURCE,
    S_DOC_INSERT, S_DOC_KEYS, S_DOC_DELETE,
    S_TX_JOB, S_TX_JOB_COMPLETE, S_SRC_GET, S_SRC_SET, S_SRC_UNLINK, S_SRC_FIRST,
    S_CHUNK_INSERT, S_CHUNK_FTS_INSERT, S_VEC_INSERT, S_CHUNKS_LIST,
    S_BLOB_REF, S_VEC_LOAD, S_HIT_FILL, S_CACHE_GET, S_CACHE_PUT,
    S_EVENT_APPEND, S_EVENTS_LIST, S_STATS_JOBS, S_STATS_COUNTS,
    S_WS_CHUNKS, S_WS_CACHE_MISSING, S_WS_VEC_DELETE, S_WS_VEC_FROM_CACHE, S_WS_SET_MODEL,
    S_WS_DOC_MODEL, S_LEXICAL, S_TERM_CHUNKS, S_CHUNK_COUNT, S_PAGE_LEXICAL, S_TERM_PAGES, S_PAGE_COUNT, S_PAGES_BUILD, S_DOCS_KEYS,
    S_LEASE, S_LEASE_RELEASE, S_WS_BYTES, S_CACHE_USAGE, S_CACHE_EVICT,
    S_SRC_INSERT, S_SRC_UPDATE, S_SRC_ROW, S_SRC_LIST, S_SRC_DELETE, S_SRC_NEXT,
    S_SRC_ITEMS, S_SRC_ITEM_SET, S_SRC_ITEM_DELETE, S_SRC_RUN_PUT, S_SRC_RUNS, S_SRC_RUNS_TRIM,
    S_ATTRS_DELETE, S_ATTR_INSERT, S_DOC_META_SET, S_DOC_META_GET,
    S_FILTERS_GEN, S_FILTERS_BUMP,
    S_JOB_CONTROL,              //  + sl_store_control_t
    S_WS_PAUSED = S_JOB_CONTROL + SL_STORE_CONTROL_COUNT, S_WS_SET_PAUSED,
    S_DOC_CHUNKS_DROP, S_DOC_PAGES_DROP, S_DOC_UPDATE,
    S_DOC_STATE, S_DOC_TOMBSTONE, S_DOC_PURGE_CHUNKS, S_DOC_PURGE_PAGES, S_DOCS_DELETING,
    S_COUNT
} s_stmt_id_t;

static const char *s_sql [S_COUNT] = {
    [S_BEGIN] = "BEGIN",
    [S_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_WS_ENSURE] = "INSERT INTO workspaces (name, created_ms) VALUES (?1, ?2) "
        "ON CONFLICT (name) DO NOTHING",
    [S_WS_GET] = "SELECT model_id, dim, generation FROM workspaces WHERE name = ?1",
    [S_WS_CHUNKING] = "SELECT COALESCE (chunking, '') FROM workspaces WHERE name = ?1",
    [S_WS_SET_CHUNKING] = "INSERT INTO workspaces (name, created_ms, chunking) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (name) DO UPDATE SET chunking = excluded.chunking",
    //  Records the model on first embed; returns what the workspace uses
    [S_WS_MODEL] = "INSERT INTO workspaces (name, model_id, dim, created_ms) "
        "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE SET "
        "model_id = COALESCE (model_id, excluded.model_id), dim = COALESCE (dim, excluded.dim) "
        "RETURNING model_id, dim, generation",
    [S_WS_BUMP] = "UPDATE workspaces SET generation = generation + 1 WHERE name = ?1 "
        "RETURNING generation",
    //  A job made while its workspace's intake is paused is held from its
    //  first moment: the flag is read in the same transaction
    [S_JOB_CREATE] = "INSERT INTO jobs (id, workspace, source, sha256, mime, options, "
        "created_ms, updated_ms, held) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, "
        "COALESCE ((SELECT paused FROM workspaces WHERE name = ?2), 0)) "
        "ON CONFLICT (id) DO NOTHING",
    [S_JOB_GET] = S_JOB_COLS "WHERE id = ?1",
    [S_JOB_STATE] = "SELECT state FROM jobs WHERE id = ?1",
    [S_JOB_SET_BLOB] = "UPDATE jobs SET sha256 = ?2, mime = COALESCE (?3, mime), "
        "updated_ms = ?4 WHERE id = ?1 AND " S_TERMINAL,
    [S_JOB_STARTED + SL_STORE_STAGE_FETCH] = S_STARTED ("fetch"),
    [S_JOB_STARTED + SL_STORE_STAGE_PARSE] = S_STARTED ("parse"),
    [S_JOB_STARTED + SL_STORE_STAGE_CHUNK] = S_STARTED ("chunk"),
    [S_JOB_STARTED + SL_STORE_STAGE_EMBED] = S_STARTED ("embed"),
    [S_JOB_STARTED + SL_STORE_STAGE_STORE] = S_STARTED ("store"),
    [S_JOB_FINISHED + SL_STORE_STAGE_FETCH] = S_FINISHED ("fetch"),
    [S_JOB_FINISHED + SL_STORE_STAGE_PARSE] = S_FINISHED ("parse"),
    [S_JOB_FINISHED + SL_STORE_STAGE_CHUNK] = S_FINISHED ("chunk"),
    [S_JOB_FINISHED + SL_STORE_STAGE_EMBED] = S_FINISHED ("embed"),
    [S_JOB_FINISHED + SL_STORE_STAGE_STORE] = S_FINISHED ("store"),
    [S_JOB_PROGRESS] = "UPDATE jobs SET percent = ?2, updated_ms = ?3 "
        "WHERE id = ?1 AND " S_TERMINAL,
    [S_JOB_FAIL] = "UPDATE jobs SET state = 'failed', error_stage = ?2, error = ?3, "
        "updated_ms = ?4, lease_owner = NULL, lease_until_ms = NULL "
        "WHERE id = ?1 AND " S_TERMINAL,
    [S_JOB_COMPLETE] = "UPDATE jobs SET state = 'completed', percent = 100, "
        "document_id = ?2, updated_ms = ?3, lease_owner = NULL, lease_until_ms = NULL "
        "WHERE id = ?1 AND " S_TERMINAL,
    [S_JOB_ATTEMPT] = "UPDATE jobs SET attempts = attempts + 1, updated_ms = ?2 "
        "WHERE id = ?1 AND " S_TERMINAL " RETURNING attempts",
    [S_JOB_LEASE] = "UPDATE jobs SET lease_owner = ?2, lease_until_ms = ?4 "
        "WHERE id = ?1 AND " S_TERMINAL " AND (lease_owner IS NULL OR lease_owner = ?2 "
        "OR lease_until_ms < ?3)",
    [S_JOB_LIST] = S_JOB_COLS "WHERE workspace = ?1 AND (?2 IS NULL OR state = ?2) "
        "ORDER BY created_ms DESC, id LIMIT ?3 OFFSET ?4",
    [S_JOBS_UNFINISHED] = S_JOB_COLS "WHERE " S_TERMINAL " AND held = 0 AND updated_ms < ?1 "
        "ORDER BY updated_ms LIMIT ?2",
    [S_DOC_FIND] = S_DOC_COLS "WHERE workspace = ?1 AND sha256 = ?2 AND state = 'ready'",
    [S_DOC_GET] = S_DOC_COLS "WHERE workspace = ?1 AND id = ?2",
    [S_DOC_LIST] = S_DOC_COLS "WHERE workspace = ?1 AND state = 'ready' ORDER BY created_ms DESC, id "
        "LIMIT ?2 OFFSET ?3",
    [S_DOC_COUNT] = "SELECT COUNT(*) FROM documents WHERE workspace = ?1 AND state = 'ready'",
    [S_DOC_EXISTS] = "SELECT 1 FROM documents WHERE workspace = ?1 AND id = ?2",
    [S_DOC_SET_SOURCE] = "UPDATE documents SET source = ?3, updated_ms = ?4 "
        "WHERE id = ?1 AND source = ?2",
    [S_TX_JOB] = "SELECT state, created_ms, document_id FROM jobs WHERE id = ?1",
    //  Any state but completed: a failed job's late commit completes it
    [S_TX_JOB_COMPLETE] = "UPDATE jobs SET state = 'completed', stage = 'store', percent = 100, "
        "document_id = ?2, replaced = ?3, duplicate_of = ?4, error = NULL, error_stage = NULL, "
        "store_started_ms = COALESCE (store_started_ms, ?5), store_finished_ms = ?5, "
        "updated_ms = ?5, lease_owner = NULL, lease_until_ms = NULL "
        "WHERE id = ?1 AND state NOT IN ('completed', 'cancelled')",
    [S_SRC_GET] = "SELECT document_id, since_ms, job_id FROM document_sources "
        "WHERE workspace = ?1 AND source = ?2",
    //  since_ms only grows, and job_id follows it
    [S_SRC_SET] = "INSERT INTO document_sources (workspace, source, document_id, job_id, "
        "since_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
        "ON CONFLICT (workspace, source) DO UPDATE SET document_id = excluded.document_id, "
        "job_id = CASE WHEN excluded.since_ms >= since_ms THEN excluded.job_id ELSE job_id END, "
        "since_ms = MAX (since_ms, excluded.since_ms), updated_ms = excluded.updated_ms",
    [S_SRC_UNLINK] = "DELETE FROM document_sources WHERE workspace = ?1 AND source = ?2",
    [S_SRC_FIRST] = "SELECT source FROM document_sources WHERE document_id = ?1 "
        "ORDER BY since_ms, source LIMIT 1",
    [S_DOC_INSERT] = "INSERT INTO documents (id, workspace, source, sha256, mime, title, "
        "pages, bytes, chunks, model_id, job_id, created_ms, updated_ms, chunking) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13) "
        "ON CONFLICT (id) DO NOTHING",
    [S_DOC_KEYS] = "SELECT c.rid FROM documents d JOIN chunks c ON c.document_id = d.id "
        "WHERE d.workspace = ?1 AND d.id = ?2",
    [S_DOC_DELETE] = "DELETE FROM documents WHERE workspace = ?1 AND id = ?2 RETURNING sha256",
    [S_CHUNK_INSERT] = "INSERT INTO chunks (id, document_id, ordinal, page_start, page_end, "
        "char_start, char_end, tokens, hash, text, kind, section, ocr_conf, context) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    //  The word index of a chunk just inserted (migration 13 says why not
    //  a trigger)
    [S_CHUNK_FTS_INSERT] = "INSERT INTO chunks_fts (rowid, text, section) VALUES (?1, ?2, ?3)",
    [S_VEC_INSERT] = "INSERT INTO vectors (chunk_rid, model_id, dim, vec) VALUES (?1, ?2, ?3, ?4)",
    [S_CHUNKS_LIST] = "SELECT id, document_id, ordinal, page_start, page_end, char_start, "
        "char_end, tokens, hash, text, kind, section, ocr_conf, context FROM chunks WHERE document_id = ?1 "
        "ORDER BY ordinal LIMIT ?2 OFFSET ?3",
    [S_BLOB_REF] = "SELECT EXISTS (SELECT 1 FROM documents WHERE sha256 = ?1) "
        "OR EXISTS (SELECT 1 FROM documents WHERE pages_blob = ?1) "
        "OR EXISTS (SELECT 1 FROM jobs WHERE sha256 = ?1 AND " S_TERMINAL ")",
    //  Housekeeping. ?1 name, ?2 owner, ?3 now, ?4 until: the guard is
    //  checked on the row the upsert found, in the same statement
    [S_SRC_INSERT] = "INSERT INTO sources (id, workspace, key, row, next_ms, created_ms, updated_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT DO NOTHING",
    [S_SRC_UPDATE] = "UPDATE sources SET key = ?3, row = ?4, next_ms = ?5, updated_ms = ?6 "
        "WHERE id = ?1 AND workspace = ?2",
    [S_SRC_ROW] = "SELECT row, next_ms FROM sources WHERE id = ?1 AND workspace = ?2",
    [S_SRC_LIST] = "SELECT COALESCE (json_group_array (json_set (row, '$.next_ms', next_ms)), '[]') "
        "FROM (SELECT row, next_ms FROM sources WHERE (?1 IS NULL OR workspace = ?1) "
        "AND (?2 = 0 OR next_ms <= ?2) ORDER BY created_ms, id)",
    [S_SRC_DELETE] = "DELETE FROM sources WHERE id = ?1 AND workspace = ?2",
    [S_SRC_NEXT] = "UPDATE sources SET next_ms = ?2 WHERE id = ?1",
    [S_SRC_ITEMS] = "SELECT COALESCE (json_group_object (key, json (evidence)), '{}') "
        "FROM source_items WHERE source_id = ?1",
    [S_SRC_ITEM_SET] = "INSERT INTO source_items (source_id, key, evidence) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (source_id, key) DO UPDATE SET evidence = excluded.evidence",
    [S_SRC_ITEM_DELETE] = "DELETE FROM source_items WHERE source_id = ?1 AND key = ?2",
    [S_SRC_RUN_PUT] = "INSERT INTO source_runs (id, source_id, started_ms, row) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (id) DO UPDATE SET row = excluded.row",
    [S_SRC_RUNS] = "SELECT COALESCE (json_group_array (json (row)), '[]') FROM (SELECT row FROM "
        "source_runs WHERE source_id = ?1 ORDER BY started_ms DESC, id DESC LIMIT ?2)",
    [S_SRC_RUNS_TRIM] = "DELETE FROM source_runs WHERE source_id = ?1 AND id NOT IN (SELECT id FROM "
        "source_runs WHERE source_id = ?1 ORDER BY started_ms DESC, id DESC LIMIT ?2)",
    [S_LEASE] = "INSERT INTO leases (name, owner, until_ms) VALUES (?1, ?2, ?4) "
        "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms "
        "WHERE leases.owner = excluded.owner OR leases.until_ms < ?3",
    [S_LEASE_RELEASE] = "DELETE FROM leases WHERE name = ?1 AND owner = ?2",
    [S_WS_BYTES] = "SELECT COALESCE (SUM (bytes), 0) FROM documents WHERE workspace = ?1",
    //  An entry's size: its vector and its key (the row overhead is the
    //  database's business); the columns read come before vec, so the
    //  vectors themselves are not read
    [S_CACHE_USAGE] = "SELECT COUNT(*), COALESCE (SUM (dim * 4 + length (model_id) "
        "+ length (hash)), 0) FROM embed_cache",
    [S_CACHE_EVICT] = "DELETE FROM embed_cache WHERE (model_id, hash) IN (SELECT model_id, hash "
        "FROM embed_cache WHERE created_ms < ?1 ORDER BY created_ms LIMIT ?2) "
        "RETURNING dim * 4 + length (model_id) + length (hash)",
    [S_VEC_LOAD] = "SELECT v.chunk_rid, v.dim, v.vec, d.id FROM documents d "
        "JOIN chunks c ON c.document_id = d.id JOIN vectors v ON v.chunk_rid = c.rid "
        "WHERE d.workspace = ?1 AND v.model_id = ?2 AND d.state = 'ready'",
    [S_HIT_FILL] = "SELECT c.id, c.document_id, c.ordinal, c.page_start, c.page_end, c.text, "
        "d.title, d.source, c.kind, c.section, c.ocr_conf, d.mime FROM chunks c "
        "JOIN documents d ON d.id = c.document_id WHERE c.rid = ?1 AND d.workspace = ?2 AND d.state = 'ready'",
    //  ?1 an FTS5 query of quoted terms joined by OR, ranked by BM25 (FTS5
    //  bm25 (): negative, lower is better); ?5 NULL or the same terms
    //  joined by AND: a chunk holding every word has its score multiplied
    //  by ?6 (> 1, the all-words boost); ?7 NULL or NEAR groups of
    //  consecutive terms: a chunk matching one is multiplied by ?8; ?9
    //  the section column's weight; ?4 NULL or a JSON array of
    //  document ids to stay within. Second column: the (boosted) score
    //  (a search's filter goes between the two halves, parameters from ?10)
    [S_LEXICAL] = S_LEXICAL_HEAD S_LEXICAL_TAIL,
    //  What FTS5's bm25 () counts a term's idf from: the rows of the index
    //  (every workspace) and those holding the term (?1, one quoted term)
    [S_TERM_CHUNKS] = "SELECT COUNT (*) FROM chunks_fts WHERE chunks_fts MATCH ?1",
    [S_CHUNK_COUNT] = "SELECT COUNT (*) FROM chunks",
    //  The chunks of the best ?3 pages for ?1 (as S_LEXICAL's), each with
    //  its page's BM25; ?4 NULL or a JSON array of document ids (a
    //  search's filter between the halves, parameters from ?5)
    [S_PAGE_LEXICAL] = S_PAGE_LEXICAL_HEAD S_PAGE_LEXICAL_TAIL,
    [S_TERM_PAGES] = "SELECT COUNT (*) FROM pages_fts WHERE pages_fts MATCH ?1",
    [S_PAGE_COUNT] = "SELECT COUNT (*) FROM pages",
    //  A committed document's pages from its chunks (?1 its id)
    [S_PAGES_BUILD] = "INSERT INTO pages (document_id, page, text) SELECT document_id, "
        "page_start, group_concat (text, char (10)) FROM (SELECT document_id, page_start, text "
        "FROM chunks WHERE document_id = ?1 ORDER BY ordinal) WHERE true GROUP BY page_start "
        "ON CONFLICT (document_id, page) DO NOTHING",
    //  ?2 a JSON array of document ids, or NULL
    [S_DOCS_KEYS] = S_DOCS_KEYS_HEAD S_DOCS_KEYS_TAIL,
    [S_CACHE_GET] = "SELECT dim, vec FROM embed_cache WHERE model_id = ?1 AND hash = ?2",
    [S_CACHE_PUT] = "INSERT INTO embed_cache (model_id, hash, dim, vec, created_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
    //  One statement: the writer lock makes MAX + 1 atomic; PRIMARY KEY
    //  (job_id, seq) makes a racing duplicate fail rather than fork the log
    [S_EVENT_APPEND] = "INSERT INTO events (job_id, seq, type, data, ts) "
        "SELECT ?1, COALESCE (MAX (seq), 0) + 1, ?2, ?3, ?4 FROM events WHERE job_id = ?1 "
        "RETURNING seq",
    [S_EVENTS_LIST] = "SELECT seq, type, data, ts FROM events WHERE job_id = ?1 AND seq > ?2 "
        "ORDER BY seq LIMIT ?3",
    [S_STATS_JOBS] = "SELECT state, COUNT(*) FROM jobs GROUP BY state",
    [S_STATS_COUNTS] = "SELECT (SELECT COUNT(*) FROM workspaces), (SELECT COUNT(*) FROM documents), "
        "(SELECT COUNT(*) FROM chunks), (SELECT COUNT(*) FROM vectors), "
        "(SELECT COUNT(*) FROM embed_cache)",
    //  Re-embedding: a workspace's chunks in key order, and the writes
    //  what was embedded: the context, a blank line, the text
    [S_WS_CHUNKS] = "SELECT c.rid, CASE WHEN c.context = '' THEN c.text "
        "ELSE c.context || char (10, 10) || c.text END FROM documents d JOIN chunks c "
        "ON c.document_id = d.id WHERE d.workspace = ?1 AND c.rid > ?2 ORDER BY c.rid LIMIT ?3",
    //  Chunks of workspace ?1 with no vector of model ?2, dim ?3 in the cache
    [S_WS_CACHE_MISSING] = "SELECT COUNT(*) FROM documents d JOIN chunks c "
        "ON c.document_id = d.id LEFT JOIN embed_cache e ON e.model_id = ?2 "
        "AND e.hash = c.hash AND e.dim = ?3 WHERE d.workspace = ?1 AND e.hash IS NULL",
    [S_WS_VEC_DELETE] = "DELETE FROM vectors WHERE chunk_rid IN (SELECT c.rid FROM documents d "
        "JOIN chunks c ON c.document_id = d.id WHERE d.workspace = ?1)",
    [S_WS_VEC_FROM_CACHE] = "INSERT INTO vectors (chunk_rid, model_id, dim, vec) "
        "SELECT c.rid, ?2, ?3, e.vec FROM documents d JOIN chunks c ON c.document_id = d.id "
        "JOIN embed_cache e ON e.model_id = ?2 AND e.hash = c.hash AND e.dim = ?3 "
        "WHERE d.workspace = ?1",
    [S_WS_SET_MODEL] = "UPDATE workspaces SET model_id = ?2, dim = ?3 WHERE name = ?1",
    //  Attributes (tx_doc_attrs): the document's text, then its rows
    [S_DOC_META_SET] = "UPDATE documents SET meta = ?3, updated_ms = ?4 "
        "WHERE workspace = ?1 AND id = ?2",
    [S_DOC_META_GET] = "SELECT meta FROM documents WHERE workspace = ?1 AND id = ?2",
    [S_FILTERS_GEN] = "SELECT filters_gen FROM workspaces WHERE name = ?1",
    [S_FILTERS_BUMP] = "UPDATE workspaces SET filters_gen = filters_gen + 1 WHERE name = ?1",
    [S_ATTRS_DELETE] = "DELETE FROM doc_attrs WHERE document_id = ?1",
    [S_ATTR_INSERT] = "INSERT INTO doc_attrs (workspace, document_id, key, vtype, vtext, vnum) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_WS_DOC_MODEL] = "UPDATE documents SET model_id = ?2, updated_ms = ?3 "
        "WHERE workspace = ?1 AND model_id IS NOT NULL",
    //  Job control: ?1 id, ?2 workspace, ?3 now. Each is one guarded
    //  UPDATE, so it and a racing commit (which locks the job first) are
    //  ordered by the database: whichever writes first wins
    [S_JOB_CONTROL + SL_STORE_CANCEL] = "UPDATE jobs SET state = 'cancelled', held = 0, "
        "updated_ms = ?3, lease_owner = NULL, lease_until_ms = NULL "
        "WHERE id = ?1 AND workspace = ?2 AND " S_TERMINAL,
    [S_JOB_CONTROL + SL_STORE_RESTART] = "UPDATE jobs SET " S_RESTART ", held = 0 "
        "WHERE id = ?1 AND workspace = ?2 AND state IN ('failed', 'cancelled')",
    [S_JOB_CONTROL + SL_STORE_RESTART_HELD] = "UPDATE jobs SET " S_RESTART ", held = 1 "
        "WHERE id = ?1 AND workspace = ?2 AND state IN ('failed', 'cancelled')",
    [S_JOB_CONTROL + SL_STORE_HOLD] = "UPDATE jobs SET held = 1, updated_ms = ?3 "
        "WHERE id = ?1 AND workspace = ?2 AND state = 'queued' AND held = 0",
    [S_JOB_CONTROL + SL_STORE_RELEASE] = "UPDATE jobs SET held = 0, updated_ms = ?3 "
        "WHERE id = ?1 AND workspace = ?2 AND state = 'queued' AND held = 1",
    [S_WS_PAUSED] = "SELECT paused FROM workspaces WHERE name = ?1",
    //  A reprocess: the document's chunks go (vectors by cascade, the word
    //  index by trigger), then its pages; ?3.. NULL keeps what it has
    [S_DOC_CHUNKS_DROP] = "DELETE FROM chunks WHERE document_id = ?1",
    [S_DOC_PAGES_DROP] = "DELETE FROM pages WHERE document_id = ?1",
    //  Deletion (sl_store_document_tombstone / _purge): the state a search
    //  filters on, then the document's rows a bounded batch at a time
    [S_DOC_STATE] = "SELECT state FROM documents WHERE workspace = ?1 AND id = ?2",
    [S_DOC_TOMBSTONE] = "UPDATE documents SET state = 'deleting', updated_ms = ?3 "
        "WHERE workspace = ?1 AND id = ?2",
    [S_DOC_PURGE_CHUNKS] = "DELETE FROM chunks WHERE rid IN (SELECT rid FROM chunks "
        "WHERE document_id = ?1 LIMIT ?2)",
    [S_DOC_PURGE_PAGES] = "DELETE FROM pages WHERE rid IN (SELECT rid FROM pages "
        "WHERE document_id = ?1 LIMIT ?2)",
    [S_DOCS_DELETING] = "SELECT COALESCE (json_group_array (json_array (workspace, id)), '[]') "
        "FROM (SELECT workspace, id FROM documents WHERE state = 'deleting' "
        "ORDER BY updated_ms LIMIT ?1)",
    [S_DOC_UPDATE] = "UPDATE documents SET chunks = COALESCE (?3, chunks), "
        "model_id = COALESCE (?4, model_id), chunking = COALESCE (?5, chunking), "
        "pages_blob = COALESCE (?6, pages_blob), updated_ms = ?7 WHERE workspace = ?1 AND id = ?2",
    [S_WS_SET_PAUSED] = "INSERT INTO workspaces (name, created_ms, paused) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (name) DO UPDATE SET paused = excluded.paused",
};

//  --------------------------------------------------------------------------
//  Connections and the pool

typedef struct s_conn_s {
    sqlite3 *db;
    sqlite3_stmt *stmt [S_COUNT];
    struct s_conn_s *next;      //  free list
} s_conn_t;

typedef struct {
    char *path;
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    s_conn_t *idle;             //  free list
    int open;                   //  connections opened (idle or in use)
    pthread_mutex_t write_lock; //  one writer at a time in this process
} s_sqlite_t;

static int
s_journal_cb (void *arg, int ncols, char **values, char **names)
{
    if (ncols > 0 && values [0])
        snprintf ((char *) arg, 16, "%s", values [0]);
    return 0;
}

static s_conn_t *
s_conn_open (const char *path)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2 (path, &db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        sl_store_set_errmsg ("cannot open database %s: %s", path,
                             db ? sqlite3_errmsg (db) : sqlite3_errstr (rc));
        sqlite3_close (db);
        return NULL;
    }
    sqlite3_extended_result_codes (db, 1);
    sqlite3_busy_timeout (db, S_BUSY_TIMEOUT_MS);
    char mode [16] = "";
    char *msg = NULL;
    if (sqlite3_exec (db, "PRAGMA journal_mode = WAL", s_journal_cb, mode, &msg) != SQLITE_OK
    //  cache_spill: a document's commit dirties tens of MB (its chunks,
    //  their words, vectors, pages); with the default 2 MB cache SQLite
    //  wrote dirty pages to the WAL mid-transaction and read them back.
    //  Up to 32 MB of dirty pages stay in memory (only the one writing
    //  connection ever holds dirty pages); bigger commits still spill
    ||  sqlite3_exec (db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
                      "PRAGMA cache_spill = 8192",
                      NULL, NULL, &msg) != SQLITE_OK) {
        sl_store_set_errmsg ("cannot configure database %s: %s", path, msg ? msg : "?");
        sqlite3_free (msg);
        sqlite3_close (db);
        return NULL;
    }
    if (strcmp (mode, "wal") != 0)
        sl_warn (NULL, "store: %s: journal mode is '%s', not 'wal' (file system without "
                 "shared memory?): readers will block writers", path, mode);
    s_conn_t *c = calloc (1, sizeof *c);
    assert (c);
    c->db = db;
    return c;
}

static void
s_conn_close (s_conn_t *c)
{
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize (c->stmt [i]);
    sqlite3_close (c->db);
    free (c);
}

//  Take a connection: an idle one, a new one, or wait for one.
static s_conn_t *
s_acquire (s_sqlite_t *self)
{
    pthread_mutex_lock (&self->pool_lock);
    while (!self->idle && self->open >= S_POOL_MAX)
        pthread_cond_wait (&self->pool_cond, &self->pool_lock);
    s_conn_t *c = self->idle;
    if (c) {
        self->idle = c->next;
        pthread_mutex_unlock (&self->pool_lock);
        return c;
    }
    self->open++;
    pthread_mutex_unlock (&self->pool_lock);

    c = s_conn_open (self->path);
    if (!c) {
        pthread_mutex_lock (&self->pool_lock);
        self->open--;
        pthread_cond_signal (&self->pool_cond);
        pthread_mutex_unlock (&self->pool_lock);
    }
    return c;
}

static void
s_release (s_sqlite_t *self, s_conn_t *c)
{
    pthread_mutex_lock (&self->pool_lock);
    c->next = self->idle;
    self->idle = c;
    pthread_cond_signal (&self->pool_cond);
    pthread_mutex_unlock (&self->pool_lock);
}

//  --------------------------------------------------------------------------
//  Statement helpers

static int
s_fail (s_conn_t *c, const char *what)
{
    sl_store_set_errmsg ("sqlite: %s: %s", what, sqlite3_errmsg (c->db));
    return SL_STORE_ERROR;
}

//  The cached statement id, ready to bind. NULL (message set) on failure.
static sqlite3_stmt *
s_stmt (s_conn_t *c, s_stmt_id_t id)
{
    if (!c->stmt [id]
    &&  sqlite3_prepare_v3 (c->db, s_sql [id], -1, SQLITE_PREPARE_PERSISTENT,
                            &c->stmt [id], NULL) != SQLITE_OK) {
        s_fail (c, s_sql [id]);
        return NULL;
    }
    return c->stmt [id];
}

//  Return a statement to its unbound state for the next use.
static void
s_done (sqlite3_stmt *st)
{
    sqlite3_reset (st);
    sqlite3_clear_bindings (st);
}

static void
s_bind_text (sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text (st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null (st, i);
}

//  Run a statement with no result rows (or ignore them). 0 or ERROR.
static int
s_run (s_conn_t *c, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step (st);
    int result = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : s_fail (c, what);
    s_done (st);
    return result;
}

static int
s_run_id (s_conn_t *c, s_stmt_id_t id)
{
    sqlite3_stmt *st = s_stmt (c, id);
    return st ? s_run (c, st, s_sql [id]) : SL_STORE_ERROR;
}

//  Begin a write transaction. This process's writers queue on write_lock;
//  held until s_write_commit / s_write_rollback.
static int
s_write_begin (s_sqlite_t *self, s_conn_t *c)
{
    pthread_mutex_lock (&self->write_lock);
    if (s_run_id (c, S_BEGIN_IMMEDIATE) == 0)
        return 0;
    pthread_mutex_unlock (&self->write_lock);
    return SL_STORE_ERROR;
}

static void
s_write_rollback (s_sqlite_t *self, s_conn_t *c)
{
    //  After some errors SQLite has already rolled back; ignore that error
    if (!sqlite3_get_autocommit (c->db)) {
        sqlite3_stmt *st = s_stmt (c, S_ROLLBACK);
        if (st) {
            sqlite3_step (st);
            s_done (st);
        }
    }
    pthread_mutex_unlock (&self->write_lock);
}

static int
s_write_commit (s_sqlite_t *self, s_conn_t *c)
{
    if (s_run_id (c, S_COMMIT) == 0) {
        pthread_mutex_unlock (&self->write_lock);
        return 0;
    }
    s_write_rollback (self, c);
    return SL_STORE_ERROR;
}

//  Read transactions see one snapshot (WAL); no lock needed.
static int
s_read_begin (s_conn_t *c)
{
    return s_run_id (c, S_BEGIN);
}

static void
s_read_end (s_conn_t *c)
{
    if (!sqlite3_get_autocommit (c->db))
        s_run_id (c, S_COMMIT);
}

//  One autocommit write statement (already bound) under the write lock.
//  Returns rows changed, or ERROR. Result rows, if any, are ignored.
static int
s_write_one (s_sqlite_t *self, s_conn_t *c, sqlite3_stmt *st, const char *what)
{
    pthread_mutex_lock (&self->write_lock);
    int rc = sqlite3_step (st);
    int result = rc == SQLITE_DONE || rc == SQLITE_ROW ? sqlite3_changes (c->db)
                                                       : s_fail (c, what);
    s_done (st);
    pthread_mutex_unlock (&self->write_lock);
    return result;
}

static char *
s_col_dup (sqlite3_stmt *st, int i)
{
    const unsigned char *text = sqlite3_column_text (st, i);
    if (!text)
        return NULL;
    char *copy = strdup ((const char *) text);
    assert (copy);
    return copy;
}

static void
s_col_copy (sqlite3_stmt *st, int i, char *buf, size_t size)
{
    const unsigned char *text = sqlite3_column_text (st, i);
    snprintf (buf, size, "%s", text ? (const char *) text : "");
}

//  Grow a result array by one slot (zeroed); asserts on OOM like strdup.
static void *
s_grow (void *array, int count, int *cap, size_t elem)
{
    if (count == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        array = realloc (array, (size_t) *cap * elem);
        assert (array);
    }
    memset ((char *) array + (size_t) count * elem, 0, elem);
    return array;
}

//  --------------------------------------------------------------------------
//  Jobs

static void
s_job_read (sqlite3_stmt *st, sl_store_job_t *job)
{
    memset (job, 0, sizeof *job);
    s_col_copy (st, 0, job->id, sizeof job->id);
    s_col_copy (st, 1, job->workspace, sizeof job->workspace);
    job->source = s_col_dup (st, 2);
    s_col_copy (st, 3, job->sha256, sizeof job->sha256);
    job->mime = s_col_dup (st, 4);
    int state = sl_store_state_parse ((const char *) sqlite3_column_text (st, 5));
    job->state = state < 0 ? SL_STORE_QUEUED : (sl_store_state_t) state;
    job->stage = sl_store_stage_parse ((const char *) sqlite3_column_text (st, 6));
    job->percent = sqlite3_column_int (st, 7);
    job->attempts = sqlite3_column_int (st, 8);
    job->error_stage = sl_store_stage_parse ((const char *) sqlite3_column_text (st, 9));
    job->error = s_col_dup (st, 10);
    s_col_copy (st, 11, job->document_id, sizeof job->document_id);
    job->created_ms = sqlite3_column_int64 (st, 12);
    job->updated_ms = sqlite3_column_int64 (st, 13);
    for (int s = 0; s < SL_STORE_STAGE_COUNT; s++) {
        job->started_ms [s] = sqlite3_column_int64 (st, 14 + 2 * s);
        job->finished_ms [s] = sqlite3_column_int64 (st, 15 + 2 * s);
    }
    job->lease_owner = s_col_dup (st, 24);
    job->lease_until_ms = sqlite3_column_int64 (st, 25);
    job->options = s_col_dup (st, 26);
    s_col_copy (st, 27, job->replaced, sizeof job->replaced);
    s_col_copy (st, 28, job->duplicate_of, sizeof job->duplicate_of);
    job->held = sqlite3_column_int (st, 29) != 0;
    job->run = sqlite3_column_int (st, 30);
}

//  Why did a guarded job UPDATE change nothing? NOT_FOUND or TERMINAL, or
//  `otherwise` if the job is still live (e.g. a lease held elsewhere).
static int
s_job_why (s_conn_t *c, const char *job_id, int otherwise)
{
    sqlite3_stmt *st = s_stmt (c, S_JOB_STATE);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, job_id);
    int rc = sqlite3_step (st);
    int result;
    if (rc == SQLITE_ROW) {
        const char *state = (const char *) sqlite3_column_text (st, 0);
        bool terminal = state && sl_store_state_terminal (sl_store_state_parse (state));
        result = terminal ? SL_STORE_TERMINAL : otherwise;
        if (terminal)
            sl_store_set_errmsg ("job %s is already %s", job_id, state);
        else
        if (otherwise == SL_STORE_BUSY)
            sl_store_set_errmsg ("job %s is leased by another owner", job_id);
    }
    else
    if (rc == SQLITE_DONE) {
        sl_store_set_errmsg ("no job %s", job_id);
        result = SL_STORE_NOT_FOUND;
    }
    else
        result = s_fail (c, "job state");
    s_done (st);
    return result;
}

//  Run a guarded job UPDATE (bound) and classify "nothing changed".
static int
s_job_update (s_sqlite_t *self, s_conn_t *c, sqlite3_stmt *st, const char *job_id,
              const char *what)
{
    int changed = s_write_one (self, c, st, what);
    if (changed < 0)
        return changed;
    return changed > 0 ? SL_STORE_OK : s_job_why (c, job_id, SL_STORE_ERROR);
}

static int
s_job_create (void *backend, const char *job_id, const char *workspace, const char *source,
              const char *sha256, const char *mime, const char *options_json, int64_t now_ms)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    int rc = s_write_begin (self, c);
    if (rc == 0) {
        sqlite3_stmt *st = s_stmt (c, S_WS_ENSURE);
        rc = st ? 0 : SL_STORE_ERROR;
        if (rc == 0) {
            s_bind_text (st, 1, workspace);
            sqlite3_bind_int64 (st, 2, now_ms);
            rc = s_run (c, st, "ensure workspace");
        }
        if (rc == 0 && (st = s_stmt (c, S_JOB_CREATE))) {
            s_bind_text (st, 1, job_id);
            s_bind_text (st, 2, workspace);
            s_bind_text (st, 3, source);
            s_bind_text (st, 4, sha256);
            s_bind_text (st, 5, mime);
            s_bind_text (st, 6, options_json);
            sqlite3_bind_int64 (st, 7, now_ms);
            rc = s_run (c, st, "create job");
        }
        else
            rc = SL_STORE_ERROR;
        if (rc == 0)
            rc = s_write_commit (self, c);
        else
            s_write_rollback (self, c);
    }
    s_release (self, c);
    return rc;
}

static int
s_job_get (void *backend, const char *job_id, sl_store_job_t *job)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_JOB_GET);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, job_id);
        int step = sqlite3_step (st);
        if (step == SQLITE_ROW) {
            s_job_read (st, job);
            rc = SL_STORE_OK;
        }
        else
        if (step == SQLITE_DONE) {
            sl_store_set_errmsg ("no job %s", job_id);
            rc = SL_STORE_NOT_FOUND;
        }
        else
            rc = s_fail (c, "get job");
        s_done (st);
    }
    s_release (self, c);
    return rc;
}

static int
s_job_set_blob (void *backend, const char *job_id, const char *sha256, const char *mime,
                int64_t now_ms)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_JOB_SET_BLOB);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, job_id);
        s_bind_text (st, 2, sha256);
        s_bind_text (st, 3, mime);
        sqlite3_bind_int64 (st, 4, now_ms);
        rc = s_job_update (self, c, st, job_id, "set job blob");
    }
    s_release (self, c);
    return rc;
}

static int
s_job_stage (void *backend, const char *job_id, sl_store_stage_t stage, sl_store_step_t step,
             int64_t now_ms)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    s_stmt_id_t id = (step == SL_STORE_STARTED ? S_JOB_STARTED : S_JOB_FINISHED) + stage;
    sqlite3_stmt *st = s_stmt (c, id);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, job_id);
        s_bind_text (st, 2, sl_store_state_name ((sl_store_state_t) (stage + 1)));
        s_bind_text (st, 3, sl_store_stage_name (stage));
        sqlite3_bind_int64 (st, 4, now_ms);
        rc = s_job_update (self, c, st, job_id, "job stage");
    }
    s_release (self, c);
    return rc;
}

static int
s_job_progress (void *backend, const char *job_id, int percent, int64_t now_ms)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_JOB_PROGRESS);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, job_id);
        sqlite3_bind_int (st, 2, percent);
        sqlite3_bind_int64 (st, 3, now_ms);
        rc = s_job_update (self, c, st, job_id, "job progress");
    }
    s_release (self, c);
    return rc;
}

static int
s_job_fail (void *backend, const char *job_id, sl_store_stage_t stage, const char *reason,
            int64_t now_ms)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_JOB_FAIL);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, job_id);
        s_bind_text (st, 2, stage == SL_STORE_STAGE_NONE ? NULL : sl_store_stage_name (stage));
        s_bind_text (st, 3, reason);
        sqlite3_bind_int64 (st, 4, now_ms);
        rc = s_job_update (self, c, st, job_id, "fail job");
    }
    s_release (self, c);
    return rc;
}

static int
s_job_complete (void *backend, const char *job_id, const char *document_id, int64_t now_ms)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_JOB_COMPLETE);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, job_id);
        s_bind_text (st, 2, document_id);
        sqlite3_bind_int64 (st, 3, now_ms);
        rc = s_job_update (self, c, st, job_id, "complete job");
    }
    s_release (self, c);
    return rc;
}

static int
s_job_attempt (void *backend, const char *job_id, int *attempts_out, int64_t now_ms)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_JOB_ATTEMPT);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, job_id);
        sqlite3_bind_int64 (st, 2, now_ms);
        pthread_mutex_lock (&self->write_lock);
        int step = sqlite3_step (st);
        if (step == SQLITE_ROW) {
            if (attempts_out)
                *attempts_out = sqlite3_column_int (st, 0);
            rc = SL_STORE_OK;
        }
        else
        if (step != SQLITE_DONE)
            rc = s_fail (c, "job attempt");
        s_done (st);
        pthread_mutex_unlock (&self->write_lock);
        if (step == SQLITE_DONE)
            rc = s_job_why (c, job_id, SL_STORE_ERROR);
    }
    s_release (self, c);
    return rc;
}

static int
s_job_lease (void *backend, const char *job_id, const char *owner, int64_t now_ms,
             int64_t until_ms)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_JOB_LEASE);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, job_id);
        s_bind_text (st, 2, owner);
        sqlite3_bind_int64 (st, 3, now_ms);
        sqlite3_bind_int64 (st, 4, until_ms);
        int changed = s_write_one (self, c, st, "lease job");
        rc = changed < 0 ? changed
           : changed > 0 ? SL_STORE_OK
           : s_job_why (c, job_id, SL_STORE_BUSY);
    }
    s_release (self, c);
    return rc;
}

//  Step a bound job query and collect all rows.
static int
s_job_rows (s_conn_t *c, sqlite3_stmt *st, sl_store_job_t **jobs_p, int *count_p)
{
    sl_store_job_t *jobs = NULL;
    int count = 0, cap = 0, step;
    while ((step = sqlite3_step (st)) == SQLITE_ROW) {
        jobs = s_grow (jobs, count, &cap, sizeof *jobs);
        s_job_read (st, &jobs [count++]);
    }
    s_done (st);
    if (step != SQLITE_DONE) {
        sl_store_jobs_free (&jobs, count);
        return s_fail (c, "list jobs");
    }
    *jobs_p = jobs;
    *count_p = count;
    return SL_STORE_OK;
}

static int
s_job_list (void *backend, const char *workspace, const char *state, int limit, int offset,
            sl_store_job_t **jobs_p, int *count_p)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_JOB_LIST);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, workspace);
        s_bind_text (st, 2, state);
        sqlite3_bind_int (st, 3, limit);
        sqlite3_bind_int (st, 4, offset);
        rc = s_job_rows (c, st, jobs_p, count_p);
    }
    s_release (self, c);
    return rc;
}

static int
s_jobs_unfinished (void *backend, int64_t older_than_ms, int limit, sl_store_job_t **jobs_p,
                   int *count_p)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_JOBS_UNFINISHED);
    int rc = SL_STORE_ERROR;
    if (st) {
        sqlite3_bind_int64 (st, 1, older_than_ms);
        sqlite3_bind_int (st, 2, limit);
        rc = s_job_rows (c, st, jobs_p, count_p);
    }
    s_release (self, c);
    return rc;
}

static int
s_job_control (void *backend, const char *job_id, const char *workspace,
               sl_store_control_t what, int64_t now_ms)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_JOB_CONTROL + what);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, job_id);
        s_bind_text (st, 2, workspace);
        sqlite3_bind_int64 (st, 3, now_ms);
        int changed = s_write_one (self, c, st, "job control");
        rc = changed < 0 ? changed : changed > 0 ? SL_STORE_OK : SL_STORE_CONFLICT;
    }
    s_release (self, c);
    return rc;
}

static int
s_workspace_paused (void *backend, const char *workspace, int set, bool *paused, int64_t now_ms)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, set < 0 ? S_WS_PAUSED : S_WS_SET_PAUSED);
    int rc = SL_STORE_ERROR;
    if (st && set < 0) {
        s_bind_text (st, 1, workspace);
        int step = sqlite3_step (st);
        *paused = step == SQLITE_ROW && sqlite3_column_int (st, 0) != 0;
        rc = step == SQLITE_ROW || step == SQLITE_DONE ? SL_STORE_OK : s_fail (c, "read paused");
        s_done (st);
    }
    else
    if (st) {
        s_bind_text (st, 1, workspace);
        sqlite3_bind_int64 (st, 2, now_ms);
        sqlite3_bind_int (st, 3, set);
        rc = s_write_one (self, c, st, "set paused") < 0 ? SL_STORE_ERROR : SL_STORE_OK;
        *paused = set != 0;
    }
    s_release (self, c);
    return rc;
}

//  --------------------------------------------------------------------------
//  Documents

static void
s_doc_read (sqlite3_stmt *st, sl_store_doc_t *doc)
{
    memset (doc, 0, sizeof *doc);
    s_col_copy (st, 0, doc->id, sizeof doc->id);
    s_col_copy (st, 1, doc->workspace, sizeof doc->workspace);
    s_col_copy (st, 2, doc->sha256, sizeof doc->sha256);
    doc->source = s_col_dup (st, 3);
    doc->mime = s_col_dup (st, 4);
    doc->title = s_col_dup (st, 5);
    doc->model_id = s_col_dup (st, 6);
    doc->job_id = s_col_dup (st, 7);
    s_col_copy (st, 8, doc->state, sizeof doc->state);
    doc->pages = sqlite3_column_int (st, 9);
    doc->bytes = sqlite3_column_int64 (st, 10);
    doc->chunks = sqlite3_column_int (st, 11);
    doc->created_ms = sqlite3_column_int64 (st, 12);
    doc->updated_ms = sqlite3_column_int64 (st, 13);
    doc->chunking = s_col_dup (st, 14);
    doc->meta = sqlite3_column_type (st, 15) == SQLITE_NULL ? strdup ("{}") : s_col_dup (st, 15);
    s_col_copy (st, 16, doc->pages_blob, sizeof doc->pages_blob);
}

//  Run a bound single-document query. doc may be NULL.
static int
s_doc_one (s_conn_t *c, sqlite3_stmt *st, sl_store_doc_t *doc, const char *what)
{
    int step = sqlite3_step (st);
    int rc;
    if (step == SQLITE_ROW) {
        if (doc)
            s_doc_read (st, doc);
        rc = SL_STORE_OK;
    }
    else
    if (step == SQLITE_DONE) {
        sl_store_set_errmsg ("%s: no such document", what);
        rc = SL_STORE_NOT_FOUND;
    }
    else
        rc = s_fail (c, what);
    s_done (st);
    return rc;
}

static int
s_document_find (void *backend, const char *workspace, const char *sha256, sl_store_doc_t *doc)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_DOC_FIND);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, workspace);
        s_bind_text (st, 2, sha256);
        rc = s_doc_one (c, st, doc, "find document");
    }
    s_release (self, c);
    return rc;
}

static int
s_document_get (void *backend, const char *workspace, const char *doc_id, sl_store_doc_t *doc)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_DOC_GET);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, workspace);
        s_bind_text (st, 2, doc_id);
        rc = s_doc_one (c, st, doc, "get document");
    }
    s_release (self, c);
    return rc;
}

//  Append the chunk keys a bound query returns to *keys (length *n). Out
//  of memory is an error, not an abort: a commit replacing a big document
//  runs through here
static int
s_collect_keys (s_conn_t *c, sqlite3_stmt *st, int64_t **keys, int *n, const char *what)
{
    int cap = *n, step;
    while ((step = sqlite3_step (st)) == SQLITE_ROW) {
        if (*n == cap) {
            int more = cap ? cap * 2 : 256;
            int64_t *grown = realloc (*keys, (size_t) more * sizeof (int64_t));
            if (!grown) {
                s_done (st);
                sl_store_set_errmsg ("%s: out of memory for %d chunk keys", what, more);
                return SL_STORE_ERROR;
            }
            *keys = grown;
            cap = more;
        }
        (*keys) [(*n)++] = sqlite3_column_int64 (st, 0);
    }
    s_done (st);
    return step == SQLITE_DONE ? 0 : s_fail (c, what);
}

//  Bump the workspace generation inside the current write transaction.
static int
s_bump (s_conn_t *c, const char *workspace, int64_t *gen_out)
{
    sqlite3_stmt *st = s_stmt (c, S_WS_BUMP);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    int rc = sqlite3_step (st) == SQLITE_ROW ? 0 : s_fail (c, "bump workspace generation");
    if (rc == 0)
        *gen_out = sqlite3_column_int64 (st, 0);
    s_done (st);
    return rc;
}

//  A commit's transaction (sl_store.c drives it): the connection, holding
//  the write lock from tx_begin to tx_end

static int
s_tx_begin (void *backend, void **tx_p)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    if (s_write_begin (self, c)) {
        s_release (self, c);
        return SL_STORE_ERROR;
    }
    *tx_p = c;
    return SL_STORE_OK;
}

static int
s_tx_end (void *backend, void *tx, int rc)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = tx;
    if (rc == SL_STORE_OK)
        rc = s_write_commit (self, c);
    else
        s_write_rollback (self, c);
    s_release (self, c);
    return rc;
}

//  The write lock serialises every writer already: recording the model
//  is all there is to do
static int
s_tx_workspace (void *tx, const char *workspace, const char *model_id, int dim,
                int64_t now_ms, char *model_out, size_t size, int *dim_out, int64_t *gen_out)
{
    s_conn_t *c = tx;
    sqlite3_stmt *st = s_stmt (c, S_WS_MODEL);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    s_bind_text (st, 2, model_id);
    if (dim > 0)
        sqlite3_bind_int (st, 3, dim);
    sqlite3_bind_int64 (st, 4, now_ms);
    int rc = SL_STORE_OK;
    if (sqlite3_step (st) == SQLITE_ROW) {
        s_col_copy (st, 0, model_out, size);
        *dim_out = sqlite3_column_int (st, 1);
        *gen_out = sqlite3_column_int64 (st, 2);
    }
    else
        rc = s_fail (c, "record workspace model");
    s_done (st);
    return rc;
}

static int
s_tx_job (void *tx, const char *job_id, sl_store_state_t *state_out, int64_t *created_out,
          char doc_out [SL_STORE_ID])
{
    s_conn_t *c = tx;
    sqlite3_stmt *st = s_stmt (c, S_TX_JOB);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, job_id);
    int step = sqlite3_step (st), rc = SL_STORE_OK;
    if (step == SQLITE_ROW) {
        int state = sl_store_state_parse ((const char *) sqlite3_column_text (st, 0));
        *state_out = state < 0 ? SL_STORE_QUEUED : (sl_store_state_t) state;
        *created_out = sqlite3_column_int64 (st, 1);
        s_col_copy (st, 2, doc_out, SL_STORE_ID);
    }
    else
    if (step == SQLITE_DONE) {
        sl_store_set_errmsg ("no job %s", job_id);
        rc = SL_STORE_NOT_FOUND;
    }
    else
        rc = s_fail (c, "read job");
    s_done (st);
    return rc;
}

static int
s_tx_source_get (void *tx, const char *workspace, const char *source, char doc_out [SL_STORE_ID],
                 int64_t *since_out, char job_out [SL_STORE_TOKEN])
{
    s_conn_t *c = tx;
    sqlite3_stmt *st = s_stmt (c, S_SRC_GET);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    s_bind_text (st, 2, source);
    int step = sqlite3_step (st), rc = SL_STORE_OK;
    if (step == SQLITE_ROW) {
        s_col_copy (st, 0, doc_out, SL_STORE_ID);
        *since_out = sqlite3_column_int64 (st, 1);
        s_col_copy (st, 2, job_out, SL_STORE_TOKEN);
    }
    else
        rc = step == SQLITE_DONE ? SL_STORE_NOT_FOUND : s_fail (c, "read source");
    s_done (st);
    return rc;
}

static int
s_tx_source_set (void *tx, const char *workspace, const char *source, const char *doc_id,
                 const char *job_id, int64_t since_ms, int64_t now_ms)
{
    s_conn_t *c = tx;
    sqlite3_stmt *st = s_stmt (c, S_SRC_SET);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    s_bind_text (st, 2, source);
    s_bind_text (st, 3, doc_id);
    s_bind_text (st, 4, job_id);
    sqlite3_bind_int64 (st, 5, since_ms);
    sqlite3_bind_int64 (st, 6, now_ms);
    return s_run (c, st, "name document by source");
}

static int
s_tx_source_unlink (void *tx, const char *workspace, const char *source, const char *doc_id,
                    char *first_out, size_t size)
{
    s_conn_t *c = tx;
    sqlite3_stmt *st = s_stmt (c, S_SRC_UNLINK);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    s_bind_text (st, 2, source);
    if (s_run (c, st, "unlink source") || !(st = s_stmt (c, S_SRC_FIRST)))
        return SL_STORE_ERROR;
    s_bind_text (st, 1, doc_id);
    int step = sqlite3_step (st);
    *first_out = 0;
    if (step == SQLITE_ROW)
        s_col_copy (st, 0, first_out, size);
    s_done (st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? SL_STORE_OK : s_fail (c, "document sources");
}

static int
s_tx_doc_exists (void *tx, const char *workspace, const char *doc_id)
{
    s_conn_t *c = tx;
    sqlite3_stmt *st = s_stmt (c, S_DOC_EXISTS);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    s_bind_text (st, 2, doc_id);
    int step = sqlite3_step (st);
    s_done (st);
    return step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : s_fail (c, "document exists");
}

static int
s_tx_doc_insert (void *tx, const sl_doc_meta_t *meta, const char *doc_id, int n,
                 const char *model_id, int64_t now_ms)
{
    s_conn_t *c = tx;
    sqlite3_stmt *st = s_stmt (c, S_DOC_INSERT);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, doc_id);
    s_bind_text (st, 2, meta->workspace);
    s_bind_text (st, 3, meta->source);
    s_bind_text (st, 4, meta->sha256);
    s_bind_text (st, 5, meta->mime);
    s_bind_text (st, 6, meta->title);
    sqlite3_bind_int (st, 7, meta->pages);
    sqlite3_bind_int64 (st, 8, meta->bytes);
    sqlite3_bind_int (st, 9, n);
    s_bind_text (st, 10, model_id);
    s_bind_text (st, 11, meta->job_id);
    sqlite3_bind_int64 (st, 12, now_ms);
    s_bind_text (st, 13, meta->chunking);
    if (s_run (c, st, "insert document"))
        return SL_STORE_ERROR;
    return sqlite3_changes (c->db) > 0 ? 1 : 0;
}

static int
s_tx_pages_build (void *tx, const char *doc_id)
{
    s_conn_t *c = tx;
    sqlite3_stmt *st = s_stmt (c, S_PAGES_BUILD);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, doc_id);
    return s_run (c, st, "build pages") ? SL_STORE_ERROR : SL_STORE_OK;
}

static int
s_tx_doc_deleting (void *tx, const char *workspace, const char *doc_id)
{
    s_conn_t *c = tx;
    sqlite3_stmt *st = s_stmt (c, S_DOC_STATE);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    s_bind_text (st, 2, doc_id);
    int step = sqlite3_step (st);
    int rc = step == SQLITE_ROW ? strcmp ((const char *) sqlite3_column_text (st, 0), "deleting") == 0
           : step == SQLITE_DONE ? SL_STORE_NOT_FOUND : s_fail (c, "read document state");
    s_done (st);
    return rc;
}

//  Mark a document deleting; *was_out 1 if it already was
static int
s_tx_doc_tombstone (void *tx, const char *workspace, const char *doc_id, int64_t now_ms,
                    int *was_out)
{
    s_conn_t *c = tx;
    int rc = s_tx_doc_deleting (tx, workspace, doc_id);
    if (rc < 0)
        return rc;
    *was_out = rc;
    if (*was_out)
        return SL_STORE_OK;
    sqlite3_stmt *st;
    if (!(st = s_stmt (c, S_DOC_TOMBSTONE)))
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    s_bind_text (st, 2, doc_id);
    sqlite3_bind_int64 (st, 3, now_ms);
    return s_run (c, st, "mark document deleting") ? SL_STORE_ERROR : SL_STORE_OK;
}

//  Up to limit chunks (their vectors and word rows go by cascade and
//  trigger) and up to limit pages of a document
static int
s_tx_doc_purge (void *tx, const char *doc_id, int limit, int *removed_out)
{
    s_conn_t *c = tx;
    *removed_out = 0;
    for (s_stmt_id_t id = S_DOC_PURGE_CHUNKS; id <= S_DOC_PURGE_PAGES; id++) {
        sqlite3_stmt *st = s_stmt (c, id);
        if (!st)
            return SL_STORE_ERROR;
        s_bind_text (st, 1, doc_id);
        sqlite3_bind_int (st, 2, limit);
        if (s_run (c, st, "purge document rows"))
            return SL_STORE_ERROR;
        *removed_out += sqlite3_changes (c->db);
    }
    return SL_STORE_OK;
}

static int
s_tx_doc_remove (void *tx, const char *workspace, const char *doc_id, char *sha256_out,
                 sl_store_change_t *change)
{
    s_conn_t *c = tx;
    sqlite3_stmt *st = s_stmt (c, S_DOC_KEYS);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    s_bind_text (st, 2, doc_id);
    if (s_collect_keys (c, st, &change->removed, &change->n_removed, "document chunk keys"))
        return SL_STORE_ERROR;
    if (!(st = s_stmt (c, S_DOC_DELETE)))
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    s_bind_text (st, 2, doc_id);
    int step = sqlite3_step (st);
    int rc = SL_STORE_OK;
    if (step == SQLITE_ROW) {
        if (sha256_out)
            s_col_copy (st, 0, sha256_out, SL_SHA256_HEX);
    }
    else
    if (step == SQLITE_DONE)
        rc = SL_STORE_NOT_FOUND;
    else
        rc = s_fail (c, "delete document");
    s_done (st);
    return rc;
}

static int
s_tx_doc_update (void *tx, const char *workspace, const char *doc_id, bool drop, int n,
                 const char *model_id, const char *chunking, const char *pages_blob,
                 int64_t now_ms, sl_store_change_t *change)
{
    s_conn_t *c = tx;
    sqlite3_stmt *st;
    if (drop) {
        if (!(st = s_stmt (c, S_DOC_KEYS)))
            return SL_STORE_ERROR;
        s_bind_text (st, 1, workspace);
        s_bind_text (st, 2, doc_id);
        if (s_collect_keys (c, st, &change->removed, &change->n_removed, "document chunk keys"))
            return SL_STORE_ERROR;
        for (s_stmt_id_t id = S_DOC_CHUNKS_DROP; id <= S_DOC_PAGES_DROP; id++) {
            if (!(st = s_stmt (c, id)))
                return SL_STORE_ERROR;
            s_bind_text (st, 1, doc_id);
            if (s_run (c, st, "drop chunks") != SL_STORE_OK)
                return SL_STORE_ERROR;
        }
    }
    if (!(st = s_stmt (c, S_DOC_UPDATE)))
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    s_bind_text (st, 2, doc_id);
    if (drop)
        sqlite3_bind_int (st, 3, n);
    else
        sqlite3_bind_null (st, 3);
    s_bind_text (st, 4, model_id);
    s_bind_text (st, 5, chunking);
    s_bind_text (st, 6, pages_blob);
    sqlite3_bind_int64 (st, 7, now_ms);
    return s_run (c, st, "update document");
}

static int
s_tx_doc_set_source (void *tx, const char *doc_id, const char *old_source, const char *source,
                     int64_t now_ms)
{
    s_conn_t *c = tx;
    sqlite3_stmt *st = s_stmt (c, S_DOC_SET_SOURCE);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, doc_id);
    s_bind_text (st, 2, old_source);
    s_bind_text (st, 3, source);
    sqlite3_bind_int64 (st, 4, now_ms);
    return s_run (c, st, "document source");
}

static int
s_tx_chunks_insert (void *tx, const char *doc_id, const sl_chunk_row_t *chunks,
                    const char (*chunk_ids) [SL_STORE_ID], const char **hashes, int n,
                    const float *vectors, int dim, const char *model_id, int64_t *keys_out)
{
    s_conn_t *c = tx;
    sqlite3_stmt *ins = s_stmt (c, S_CHUNK_INSERT);
    sqlite3_stmt *fts = s_stmt (c, S_CHUNK_FTS_INSERT);
    sqlite3_stmt *vec = s_stmt (c, S_VEC_INSERT);
    if (!ins || !fts || !vec)
        return SL_STORE_ERROR;
    for (int i = 0; i < n; i++) {
        const sl_chunk_row_t *chunk = &chunks [i];
        s_bind_text (ins, 1, chunk_ids [i]);
        s_bind_text (ins, 2, doc_id);
        sqlite3_bind_int (ins, 3, chunk->ordinal);
        sqlite3_bind_int (ins, 4, chunk->page_start);
        sqlite3_bind_int (ins, 5, chunk->page_end);
        sqlite3_bind_int64 (ins, 6, chunk->char_start);
        sqlite3_bind_int64 (ins, 7, chunk->char_end);
        sqlite3_bind_int (ins, 8, chunk->tokens);
        s_bind_text (ins, 9, hashes [i]);
        s_bind_text (ins, 10, chunk->text);
        s_bind_text (ins, 11, chunk->kind && *chunk->kind ? chunk->kind : "text");
        s_bind_text (ins, 12, chunk->section ? chunk->section : "");
        if (chunk->ocr)
            sqlite3_bind_int (ins, 13, chunk->ocr_confidence);
        else
            sqlite3_bind_null (ins, 13);
        s_bind_text (ins, 14, chunk->context ? chunk->context : "");
        if (s_run (c, ins, "insert chunk"))
            return SL_STORE_ERROR;
        int64_t rid = sqlite3_last_insert_rowid (c->db);
        keys_out [i] = rid;
        sqlite3_bind_int64 (fts, 1, rid);
        s_bind_text (fts, 2, chunk->text);
        s_bind_text (fts, 3, chunk->section ? chunk->section : "");
        if (s_run (c, fts, "index chunk words"))
            return SL_STORE_ERROR;
        sqlite3_bind_int64 (vec, 1, rid);
        s_bind_text (vec, 2, model_id);
        sqlite3_bind_int (vec, 3, dim);
        sqlite3_bind_blob (vec, 4, vectors + (size_t) i * (size_t) dim,
                           dim * (int) sizeof (float), SQLITE_STATIC);
        if (s_run (c, vec, "insert vector"))
            return SL_STORE_ERROR;
    }
    return SL_STORE_OK;
}

static int
s_tx_job_complete (void *tx, const char *job_id, const char *doc_id, const char *replaced,
                   const char *duplicate_of, int64_t now_ms)
{
    s_conn_t *c = tx;
    sqlite3_stmt *st = s_stmt (c, S_TX_JOB_COMPLETE);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, job_id);
    s_bind_text (st, 2, doc_id);
    s_bind_text (st, 3, replaced && *replaced ? replaced : NULL);
    s_bind_text (st, 4, duplicate_of && *duplicate_of ? duplicate_of : NULL);
    sqlite3_bind_int64 (st, 5, now_ms);
    if (s_run (c, st, "complete job"))
        return SL_STORE_ERROR;
    return sqlite3_changes (c->db) > 0 ? 1 : 0;
}

static int
s_tx_bump (void *tx, const char *workspace, int64_t *gen_out)
{
    return s_bump (tx, workspace, gen_out);
}

static int
s_document_list (void *backend, const char *workspace, int limit, int offset,
                 sl_store_doc_t **docs_p, int *count_p, int64_t *total_p)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    int rc = s_read_begin (c);
    sl_store_doc_t *docs = NULL;
    int count = 0, cap = 0;
    sqlite3_stmt *st;
    if (rc == 0 && (st = s_stmt (c, S_DOC_COUNT))) {
        s_bind_text (st, 1, workspace);
        if (sqlite3_step (st) == SQLITE_ROW) {
            if (total_p)
                *total_p = sqlite3_column_int64 (st, 0);
        }
        else
            rc = s_fail (c, "count documents");
        s_done (st);
    }
    else
        rc = SL_STORE_ERROR;
    if (rc == 0 && (st = s_stmt (c, S_DOC_LIST))) {
        s_bind_text (st, 1, workspace);
        sqlite3_bind_int (st, 2, limit);
        sqlite3_bind_int (st, 3, offset);
        int step;
        while ((step = sqlite3_step (st)) == SQLITE_ROW) {
            docs = s_grow (docs, count, &cap, sizeof *docs);
            s_doc_read (st, &docs [count++]);
        }
        s_done (st);
        if (step != SQLITE_DONE)
            rc = s_fail (c, "list documents");
    }
    else
        rc = SL_STORE_ERROR;
    s_read_end (c);
    s_release (self, c);
    if (rc != 0) {
        sl_store_docs_free (&docs, count);
        return rc;
    }
    *docs_p = docs;
    *count_p = count;
    return SL_STORE_OK;
}

static void
s_chunk_read (sqlite3_stmt *st, sl_store_chunk_t *chunk)
{
    memset (chunk, 0, sizeof *chunk);
    s_col_copy (st, 0, chunk->id, sizeof chunk->id);
    s_col_copy (st, 1, chunk->document_id, sizeof chunk->document_id);
    chunk->ordinal = sqlite3_column_int (st, 2);
    chunk->page_start = sqlite3_column_int (st, 3);
    chunk->page_end = sqlite3_column_int (st, 4);
    chunk->char_start = sqlite3_column_int64 (st, 5);
    chunk->char_end = sqlite3_column_int64 (st, 6);
    chunk->tokens = sqlite3_column_int (st, 7);
    chunk->hash = s_col_dup (st, 8);
    chunk->text = s_col_dup (st, 9);
    s_col_copy (st, 10, chunk->kind, sizeof chunk->kind);
    chunk->section = s_col_dup (st, 11);
    chunk->ocr = sqlite3_column_type (st, 12) != SQLITE_NULL;
    chunk->ocr_confidence = sqlite3_column_int (st, 12);
    chunk->context = s_col_dup (st, 13);
}

static int
s_chunks_list (void *backend, const char *workspace, const char *doc_id, int limit, int offset,
               sl_store_chunk_t **chunks_p, int *count_p, int64_t *total_p)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sl_store_chunk_t *chunks = NULL;
    int count = 0, cap = 0;
    int rc = s_read_begin (c);
    //  The workspace check: the document must be this workspace's
    sqlite3_stmt *st;
    if (rc == 0 && (st = s_stmt (c, S_DOC_GET))) {
        sl_store_doc_t doc;
        s_bind_text (st, 1, workspace);
        s_bind_text (st, 2, doc_id);
        rc = s_doc_one (c, st, &doc, "list chunks");
        if (rc == 0 && total_p)
            *total_p = doc.chunks;
        if (rc == 0)
            sl_store_doc_reset (&doc);
    }
    else
    if (rc == 0)
        rc = SL_STORE_ERROR;
    if (rc == 0 && (st = s_stmt (c, S_CHUNKS_LIST))) {
        s_bind_text (st, 1, doc_id);
        sqlite3_bind_int (st, 2, limit);
        sqlite3_bind_int (st, 3, offset);
        int step;
        while ((step = sqlite3_step (st)) == SQLITE_ROW) {
            chunks = s_grow (chunks, count, &cap, sizeof *chunks);
            s_chunk_read (st, &chunks [count++]);
        }
        s_done (st);
        if (step != SQLITE_DONE)
            rc = s_fail (c, "list chunks");
    }
    else
    if (rc == 0)
        rc = SL_STORE_ERROR;
    s_read_end (c);
    s_release (self, c);
    if (rc != 0) {
        sl_store_chunks_free (&chunks, count);
        return rc;
    }
    *chunks_p = chunks;
    *count_p = count;
    return SL_STORE_OK;
}

static int
s_blob_referenced (void *backend, const char *sha256)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_BLOB_REF);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, sha256);
        if (sqlite3_step (st) == SQLITE_ROW)
            rc = sqlite3_column_int (st, 0) ? 1 : 0;
        else
            rc = s_fail (c, "blob referenced");
        s_done (st);
    }
    s_release (self, c);
    return rc;
}

//  --------------------------------------------------------------------------
//  Housekeeping

static int
s_lease (void *backend, const char *name, const char *owner, int64_t now_ms, int64_t until_ms)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, until_ms > 0 ? S_LEASE : S_LEASE_RELEASE);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, name);
        s_bind_text (st, 2, owner);
        if (until_ms > 0) {
            sqlite3_bind_int64 (st, 3, now_ms);
            sqlite3_bind_int64 (st, 4, until_ms);
        }
        int changed = s_write_one (self, c, st, "lease");
        rc = changed < 0 ? changed : changed > 0 || until_ms == 0 ? SL_STORE_OK : SL_STORE_BUSY;
    }
    s_release (self, c);
    return rc;
}

static int
s_workspace_chunking (void *backend, const char *workspace, char *out, size_t size)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_WS_CHUNKING);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, workspace);
        int step = sqlite3_step (st);
        if (step == SQLITE_ROW) {
            s_col_copy (st, 0, out, size);
            rc = SL_STORE_OK;
        }
        else
            rc = step == SQLITE_DONE ? SL_STORE_NOT_FOUND : s_fail (c, "read workspace chunking");
        s_done (st);
    }
    s_release (self, c);
    return rc;
}

static int
s_workspace_set_chunking (void *backend, const char *workspace, const char *json, int64_t now_ms)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_WS_SET_CHUNKING);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, workspace);
        sqlite3_bind_int64 (st, 2, now_ms);
        s_bind_text (st, 3, json);
        rc = s_write_one (self, c, st, "set workspace chunking") < 0 ? SL_STORE_ERROR : SL_STORE_OK;
    }
    s_release (self, c);
    return rc;
}

//  --------------------------------------------------------------------------
//  Sources: rows of JSON text (sl_store.h, "Sources")

//  One text column of one row from statement st (bound); NOT_FOUND if no
//  row. *next_out (may be NULL) gets column 1.
static int
s_read_text (s_conn_t *c, sqlite3_stmt *st, char **out, int64_t *next_out, const char *what)
{
    int step = sqlite3_step (st);
    int rc = SL_STORE_OK;
    if (step == SQLITE_ROW) {
        *out = s_col_dup (st, 0);
        if (next_out)
            *next_out = sqlite3_column_int64 (st, 1);
    }
    else
        rc = step == SQLITE_DONE ? SL_STORE_NOT_FOUND : s_fail (c, what);
    s_done (st);
    return rc;
}

static int
s_source_put (void *backend, const char *workspace, const char *id, const char *key,
              const char *json, int64_t next_ms, bool create, int64_t now_ms)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, create ? S_SRC_INSERT : S_SRC_UPDATE);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, id);
        s_bind_text (st, 2, workspace);
        s_bind_text (st, 3, key);
        s_bind_text (st, 4, json);
        sqlite3_bind_int64 (st, 5, next_ms);
        sqlite3_bind_int64 (st, 6, now_ms);
        int changed = s_write_one (self, c, st, create ? "add source" : "update source");
        rc = changed < 0 ? SL_STORE_ERROR : changed > 0 ? SL_STORE_OK
           : create ? SL_STORE_CONFLICT : SL_STORE_NOT_FOUND;
    }
    s_release (self, c);
    return rc;
}

static int
s_source_get (void *backend, const char *workspace, const char *id, char **json_out,
              int64_t *next_out)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_SRC_ROW);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, id);
        s_bind_text (st, 2, workspace);
        rc = s_read_text (c, st, json_out, next_out, "read source");
    }
    s_release (self, c);
    return rc;
}

static int
s_source_list (void *backend, const char *workspace, int64_t due_ms, char **json_out)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_SRC_LIST);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, workspace);
        sqlite3_bind_int64 (st, 2, due_ms);
        rc = s_read_text (c, st, json_out, NULL, "list sources");
    }
    s_release (self, c);
    return rc;
}

//  A write of two text parameters (and an optional third, or an integer)
//  for its row count; NOT_FOUND if it changed nothing and that matters.
static int
s_source_write (s_sqlite_t *self, s_stmt_id_t id, const char *a, const char *b, const char *t,
                int64_t n, bool need_row, const char *what)
{
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, id);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, a);
        if (b)
            s_bind_text (st, 2, b);
        else
            sqlite3_bind_int64 (st, 2, n);
        if (t)
            s_bind_text (st, 3, t);
        int changed = s_write_one (self, c, st, what);
        rc = changed < 0 ? SL_STORE_ERROR : changed == 0 && need_row ? SL_STORE_NOT_FOUND
                                                                       : SL_STORE_OK;
    }
    s_release (self, c);
    return rc;
}

static int
s_source_delete (void *backend, const char *workspace, const char *id)
{
    return s_source_write (backend, S_SRC_DELETE, id, workspace, NULL, 0, true, "delete source");
}

static int
s_source_set_next (void *backend, const char *id, int64_t next_ms)
{
    return s_source_write (backend, S_SRC_NEXT, id, NULL, NULL, next_ms, true, "schedule source");
}

static int
s_source_item_put (void *backend, const char *id, const char *key, const char *evidence)
{
    return evidence
        ? s_source_write (backend, S_SRC_ITEM_SET, id, key, evidence, 0, false, "record item")
        : s_source_write (backend, S_SRC_ITEM_DELETE, id, key, NULL, 0, false, "forget item");
}

static int
s_source_items (void *backend, const char *id, char **json_out)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_SRC_ITEMS);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, id);
        rc = s_read_text (c, st, json_out, NULL, "read source items");
    }
    s_release (self, c);
    return rc;
}

static int
s_source_run_put (void *backend, const char *id, const char *run_id, const char *json,
                  int64_t started_ms)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_SRC_RUN_PUT);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, run_id);
        s_bind_text (st, 2, id);
        sqlite3_bind_int64 (st, 3, started_ms);
        s_bind_text (st, 4, json);
        rc = s_write_one (self, c, st, "record run") < 0 ? SL_STORE_ERROR : SL_STORE_OK;
    }
    s_release (self, c);
    return rc;
}

static int
s_source_runs_trim (void *backend, const char *id, int keep)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_SRC_RUNS_TRIM);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, id);
        sqlite3_bind_int (st, 2, keep);
        rc = s_write_one (self, c, st, "trim runs") < 0 ? SL_STORE_ERROR : SL_STORE_OK;
    }
    s_release (self, c);
    return rc;
}

static int
s_source_runs (void *backend, const char *id, int limit, char **json_out)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_SRC_RUNS);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, id);
        sqlite3_bind_int (st, 2, limit);
        rc = s_read_text (c, st, json_out, NULL, "list runs");
    }
    s_release (self, c);
    return rc;
}

static int
s_docs_deleting (void *backend, int limit, char **json_out)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_DOCS_DELETING);
    int rc = SL_STORE_ERROR;
    if (st) {
        sqlite3_bind_int (st, 1, limit);
        rc = s_read_text (c, st, json_out, NULL, "list deleting documents");
    }
    s_release (self, c);
    return rc;
}

//  One row of integers from a statement with ?1 bound to text (or none).
static int
s_read_ints (s_sqlite_t *self, s_stmt_id_t id, const char *arg, int64_t *a, int64_t *b,
             const char *what)
{
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, id);
    int rc = SL_STORE_ERROR;
    if (st) {
        if (arg)
            s_bind_text (st, 1, arg);
        if (sqlite3_step (st) == SQLITE_ROW) {
            *a = sqlite3_column_int64 (st, 0);
            if (b)
                *b = sqlite3_column_int64 (st, 1);
            rc = SL_STORE_OK;
        }
        else
            rc = s_fail (c, what);
        s_done (st);
    }
    s_release (self, c);
    return rc;
}

static int
s_workspace_bytes (void *backend, const char *workspace, int64_t *bytes)
{
    return s_read_ints (backend, S_WS_BYTES, workspace, bytes, NULL, "workspace bytes");
}

static int
s_cache_usage (void *backend, int64_t *entries, int64_t *bytes)
{
    return s_read_ints (backend, S_CACHE_USAGE, NULL, entries, bytes, "cache usage");
}

static int
s_cache_evict (void *backend, int64_t before_ms, int limit, int64_t *entries, int64_t *bytes)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    *entries = *bytes = 0;
    int rc = s_write_begin (self, c);
    sqlite3_stmt *st = rc == 0 ? s_stmt (c, S_CACHE_EVICT) : NULL;
    if (rc == 0 && !st) {
        s_write_rollback (self, c);
        rc = SL_STORE_ERROR;
    }
    if (st) {
        sqlite3_bind_int64 (st, 1, before_ms);
        sqlite3_bind_int (st, 2, limit);
        int step;
        while ((step = sqlite3_step (st)) == SQLITE_ROW) {
            (*entries)++;
            *bytes += sqlite3_column_int64 (st, 0);
        }
        rc = step == SQLITE_DONE ? 0 : s_fail (c, "evict from embed cache");
        s_done (st);
        if (rc == 0)
            rc = s_write_commit (self, c);
        else
            s_write_rollback (self, c);
        if (rc != 0)
            *entries = *bytes = 0;
    }
    s_release (self, c);
    return rc;
}

//  Read a workspace's model, dim and generation with the connection held.
static int
s_workspace_read (s_conn_t *c, const char *workspace, char *model_out, size_t size,
                  int *dim_out, int64_t *gen_out)
{
    sqlite3_stmt *st = s_stmt (c, S_WS_GET);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    int step = sqlite3_step (st);
    int rc = SL_STORE_OK;
    if (step == SQLITE_ROW) {
        if (model_out)
            s_col_copy (st, 0, model_out, size);
        if (dim_out)
            *dim_out = sqlite3_column_int (st, 1);
        if (gen_out)
            *gen_out = sqlite3_column_int64 (st, 2);
    }
    else
    if (step == SQLITE_DONE) {
        sl_store_set_errmsg ("no workspace %s", workspace);
        rc = SL_STORE_NOT_FOUND;
    }
    else
        rc = s_fail (c, "read workspace");
    s_done (st);
    return rc;
}

static int
s_workspace_info (void *backend, const char *workspace, char *model_out, size_t size,
                  int *dim_out, int64_t *gen_out)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    int rc = s_workspace_read (c, workspace, model_out, size, dim_out, gen_out);
    s_release (self, c);
    return rc;
}

static int
s_vectors_load (void *backend, const char *workspace, const char *model_id, sl_vindex_t *index,
                sl_docmap_t *docs, int64_t *gen_out)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    //  One read transaction: the generation and the rows are one snapshot
    int rc = s_read_begin (c);
    if (rc == 0)
        rc = s_workspace_read (c, workspace, NULL, 0, NULL, gen_out);
    sqlite3_stmt *st;
    if (rc == 0 && (st = s_stmt (c, S_VEC_LOAD))) {
        s_bind_text (st, 1, workspace);
        s_bind_text (st, 2, model_id);
        int dim = sl_vindex_dim (index);
        int skipped = 0, step = SQLITE_DONE;
        //  The blob is not necessarily float-aligned: copy it out
        float *vec = malloc ((size_t) dim * sizeof (float));
        while (vec && (step = sqlite3_step (st)) == SQLITE_ROW) {
            const void *blob = sqlite3_column_blob (st, 2);
            int bytes = sqlite3_column_bytes (st, 2);
            if (sqlite3_column_int (st, 1) != dim || bytes != dim * (int) sizeof (float)
            ||  !blob) {
                skipped++;
                continue;
            }
            memcpy (vec, blob, (size_t) bytes);
            int32_t tag = sl_docmap_tag (docs, (const char *) sqlite3_column_text (st, 3));
            if (tag < 0 || sl_vindex_add_tagged (index, sqlite3_column_int64 (st, 0), vec, tag)) {
                sl_store_set_errmsg ("out of memory loading vectors of workspace %s", workspace);
                rc = SL_STORE_ERROR;
                break;
            }
        }
        s_done (st);
        if (!vec) {
            sl_store_set_errmsg ("out of memory loading vectors of workspace %s", workspace);
            rc = SL_STORE_ERROR;
        }
        else
        if (rc == 0 && step != SQLITE_DONE)
            rc = s_fail (c, "load vectors");
        free (vec);
        if (skipped)
            sl_warn (NULL, "store: workspace %s: skipped %d vectors whose dimension is not %d",
                     workspace, skipped, dim);
    }
    else
    if (rc == 0)
        rc = SL_STORE_ERROR;
    s_read_end (c);
    s_release (self, c);
    return rc;
}

static int
s_hits_fill (void *backend, const char *workspace, sl_hit_t *hits, int n)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    int kept = 0;
    int rc = s_read_begin (c);
    sqlite3_stmt *st = rc == 0 ? s_stmt (c, S_HIT_FILL) : NULL;
    for (int i = 0; st && i < n; i++) {
        sqlite3_bind_int64 (st, 1, hits [i].key);
        s_bind_text (st, 2, workspace);
        int step = sqlite3_step (st);
        if (step == SQLITE_ROW) {
            sl_hit_t *hit = &hits [kept++];
            if (hit != &hits [i])
                *hit = hits [i];        //  strings are still NULL here
            s_col_copy (st, 0, hit->chunk_id, sizeof hit->chunk_id);
            s_col_copy (st, 1, hit->document_id, sizeof hit->document_id);
            hit->ordinal = sqlite3_column_int (st, 2);
            hit->page_start = sqlite3_column_int (st, 3);
            hit->page_end = sqlite3_column_int (st, 4);
            hit->text = s_col_dup (st, 5);
            hit->title = s_col_dup (st, 6);
            hit->source = s_col_dup (st, 7);
            s_col_copy (st, 8, hit->kind, sizeof hit->kind);
            hit->section = s_col_dup (st, 9);
            hit->ocr = sqlite3_column_type (st, 10) != SQLITE_NULL;
            hit->ocr_confidence = sqlite3_column_int (st, 10);
            hit->mime = s_col_dup (st, 11);
        }
        else
        if (step != SQLITE_DONE) {
            rc = s_fail (c, "fetch hit");
            s_done (st);
            break;
        }
        //  SQLITE_DONE: deleted since the index was searched; drop it
        s_done (st);
    }
    if (rc == 0 && !st)
        rc = SL_STORE_ERROR;
    s_read_end (c);
    s_release (self, c);
    if (rc != 0) {
        sl_store_hits_reset (hits, kept);
        return rc;
    }
    for (int i = kept; i < n; i++)
        memset (&hits [i], 0, sizeof hits [i]);
    return kept;
}

//  Document ids as a JSON array for json_each, or NULL if none. Ids are
//  tokens (A-Z a-z 0-9 _ . -), checked by sl_store: nothing to escape.
static char *
s_ids_json (const char *const *ids, int n)
{
    if (n <= 0)
        return NULL;
    size_t cap = 3;
    for (int i = 0; i < n; i++)
        cap += strlen (ids [i]) + 3;
    char *json = malloc (cap);
    assert (json);
    size_t used = (size_t) snprintf (json, cap, "[");
    for (int i = 0; i < n; i++)
        used += (size_t) snprintf (json + used, cap - used, "%s\"%s\"", i ? "," : "", ids [i]);
    snprintf (json + used, cap - used, "]");
    return json;
}

//  A search statement: the cached one without a filter; with one, head +
//  the filter's conditions + tail prepared for this call (its values
//  bound from first_param on; the caller binds the rest). *owned: the
//  caller finalises it (else s_done). NULL with the message set.
static sqlite3_stmt *
s_search_stmt (s_conn_t *c, s_stmt_id_t id, const char *head, const char *tail,
               const sl_filter_t *filter, int ws_param, int first_param, bool *owned)
{
    *owned = false;
    if (!filter)
        return s_stmt (c, id);
    size_t size = strlen (head) + strlen (tail) + 65536;
    char *sql = malloc (size);
    const char **params = malloc (SL_FILTER_PARAMS_MAX * sizeof *params);
    int n = 0;
    sqlite3_stmt *st = NULL;
    if (sql && params) {
        snprintf (sql, size, "%s", head);
        if (sl_filter_sql (filter, false, ws_param, first_param, sql, size - strlen (tail),
                           params, SL_FILTER_PARAMS_MAX, &n) == 0) {
            strcat (sql, tail);
            if (sqlite3_prepare_v2 (c->db, sql, -1, &st, NULL) != SQLITE_OK) {
                s_fail (c, "prepare a filtered search");
                st = NULL;
            }
        }
        else
            sl_store_set_errmsg ("the search's filter is too large");
    }
    else
        sl_store_set_errmsg ("out of memory preparing a filtered search");
    for (int i = 0; st && i < n; i++)
        s_bind_text (st, first_param + i, params [i]);
    free (sql);
    free (params);
    *owned = st != NULL;
    return st;
}

static void
s_search_done (sqlite3_stmt *st, bool owned)
{
    if (owned)
        sqlite3_finalize (st);
    else
        s_done (st);
}

static int
s_document_keys (void *backend, const char *workspace, const char *const *documents,
                 int n_documents, const sl_filter_t *filter, int64_t **keys_p, int *count)
{
    s_sqlite_t *self = backend;
    *keys_p = NULL;
    *count = 0;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    char *ids = s_ids_json (documents, n_documents);
    int rc = s_read_begin (c);
    bool owned = false;
    sqlite3_stmt *st = rc == 0 ? s_search_stmt (c, S_DOCS_KEYS, S_DOCS_KEYS_HEAD,
                                                S_DOCS_KEYS_TAIL, filter, 1, 3, &owned) : NULL;
    size_t cap = 0;
    if (st) {
        s_bind_text (st, 1, workspace);
        s_bind_text (st, 2, ids);
        int step;
        while ((step = sqlite3_step (st)) == SQLITE_ROW) {
            if ((size_t) *count == cap) {
                cap = cap ? cap * 2 : 1024;
                int64_t *grown = realloc (*keys_p, cap * sizeof **keys_p);
                if (!grown) {
                    sl_store_set_errmsg ("out of memory listing chunk keys");
                    rc = SL_STORE_ERROR;
                    break;
                }
                *keys_p = grown;
            }
            (*keys_p) [(*count)++] = sqlite3_column_int64 (st, 0);
        }
        if (rc == 0 && step != SQLITE_DONE)
            rc = s_fail (c, "list document chunk keys");
        s_search_done (st, owned);
    }
    else
    if (rc == 0)
        rc = SL_STORE_ERROR;
    s_read_end (c);
    s_release (self, c);
    free (ids);
    if (rc != 0) {
        free (*keys_p);
        *keys_p = NULL;
        *count = 0;
    }
    return rc;
}

//  The query's idf mass, as bm25 () weighs each term: ln ((N - n + 0.5) /
//  (n + 0.5)), at least 1e-6 (FTS5's floor), N the rows of the index
//  (count, every workspace: what bm25 () counts) and n those holding the
//  term (term, one quoted term)
static double
s_idf_mass (s_conn_t *c, const char (*terms) [SL_STORE_TERM_MAX], int nterms, s_stmt_id_t count,
            s_stmt_id_t term)
{
    double rows = 0, mass = 0;
    sqlite3_stmt *st = s_stmt (c, count);
    if (st && sqlite3_step (st) == SQLITE_ROW)
        rows = (double) sqlite3_column_int64 (st, 0);
    if (st)
        s_done (st);
    for (int i = 0; i < nterms; i++) {
        char one [SL_STORE_TERM_MAX + 4];
        snprintf (one, sizeof one, "\"%s\"", terms [i]);
        st = s_stmt (c, term);
        if (!st)
            break;
        s_bind_text (st, 1, one);
        double holding = sqlite3_step (st) == SQLITE_ROW
                       ? (double) sqlite3_column_int64 (st, 0) : 0;
        s_done (st);
        double idf = log ((rows - holding + 0.5) / (holding + 0.5));
        mass += idf > 1e-6 ? idf : 1e-6;
    }
    return mass;
}

static int
s_filter_docs (void *backend, const char *workspace, const char *const *documents,
               int n_documents, const sl_filter_t *filter, char (**ids_p) [SL_STORE_ID],
               int *count, int64_t *chunks_out)
{
    s_sqlite_t *self = backend;
    *ids_p = NULL;
    *count = 0;
    *chunks_out = 0;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    char *ids = s_ids_json (documents, n_documents);
    int rc = s_read_begin (c);
    bool owned = false;
    //  never cached: the statement exists only with a filter
    sl_filter_t none = { .n_conds = 0 };
    sqlite3_stmt *st = rc == 0 ? s_search_stmt (c, S_COUNT, S_FILTER_DOCS_HEAD, "",
                                                filter ? filter : &none, 1, 3, &owned) : NULL;
    size_t cap = 0;
    if (st) {
        s_bind_text (st, 1, workspace);
        s_bind_text (st, 2, ids);
        int step;
        while ((step = sqlite3_step (st)) == SQLITE_ROW) {
            if ((size_t) *count == cap) {
                cap = cap ? cap * 2 : 256;
                char (*grown) [SL_STORE_ID] = realloc (*ids_p, cap * sizeof **ids_p);
                if (!grown) {
                    sl_store_set_errmsg ("out of memory listing documents");
                    rc = SL_STORE_ERROR;
                    break;
                }
                *ids_p = grown;
            }
            s_col_copy (st, 0, (*ids_p) [(*count)++], SL_STORE_ID);
            *chunks_out += sqlite3_column_int64 (st, 1);
        }
        if (rc == 0 && step != SQLITE_DONE)
            rc = s_fail (c, "list filtered documents");
        s_search_done (st, owned);
    }
    else
    if (rc == 0)
        rc = SL_STORE_ERROR;
    s_read_end (c);
    s_release (self, c);
    free (ids);
    if (rc != 0) {
        free (*ids_p);
        *ids_p = NULL;
        *count = 0;
    }
    return rc;
}

static int
s_lexical (void *backend, const char *workspace, const char (*terms) [SL_STORE_TERM_MAX],
           int nterms, const char *const *documents, int n_documents,
           const sl_filter_t *filter, int limit, int64_t *keys, double *shares, int *count)
{
    //  Terms hold no '"' (letters, digits, UTF-8 bytes), so quoting each
    //  makes it a plain FTS5 string whatever it spells (AND, NEAR, ...).
    //  Any of the words finds a chunk (OR); all of them boost it (AND)
    char match [SL_STORE_TERMS * (SL_STORE_TERM_MAX + 8)] = "";
    char all [SL_STORE_TERMS * (SL_STORE_TERM_MAX + 8)] = "";
    char near [SL_STORE_TERMS * (2 * SL_STORE_TERM_MAX + 24)] = "";
    size_t used = 0, used_all = 0, used_near = 0;
    for (int i = 0; i < nterms; i++) {
        used += (size_t) snprintf (match + used, sizeof match - used, "%s\"%s\"",
                                   i ? " OR " : "", terms [i]);
        used_all += (size_t) snprintf (all + used_all, sizeof all - used_all, "%s\"%s\"",
                                       i ? " AND " : "", terms [i]);
        if (i > 0)
            used_near += (size_t) snprintf (near + used_near, sizeof near - used_near,
                                            "%sNEAR (\"%s\" \"%s\", %d)", i > 1 ? " OR " : "",
                                            terms [i - 1], terms [i], SL_STORE_NEAR_DISTANCE);
    }
    s_sqlite_t *self = backend;
    *count = 0;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    int rc = s_read_begin (c);
    double mass = rc == 0 ? s_idf_mass (c, terms, nterms, S_CHUNK_COUNT, S_TERM_CHUNKS) : 0;
    bool owned = false;
    sqlite3_stmt *st = rc == 0 ? s_search_stmt (c, S_LEXICAL, S_LEXICAL_HEAD, S_LEXICAL_TAIL,
                                                filter, 2, 10, &owned) : NULL;
    char *ids = s_ids_json (documents, n_documents);
    if (st) {
        s_bind_text (st, 1, match);
        s_bind_text (st, 2, workspace);
        sqlite3_bind_int (st, 3, limit);
        s_bind_text (st, 4, ids);
        s_bind_text (st, 5, nterms > 1 ? all : NULL);
        sqlite3_bind_double (st, 6, SL_STORE_ALL_WORDS_BOOST);
        s_bind_text (st, 7, nterms > 1 ? near : NULL);
        sqlite3_bind_double (st, 8, SL_STORE_NEAR_BOOST);
        sqlite3_bind_double (st, 9, SL_STORE_SECTION_WEIGHT);
        int step;
        while ((step = sqlite3_step (st)) == SQLITE_ROW && *count < limit) {
            double share = mass > 0 ? sqlite3_column_double (st, 1) / mass : 1;
            if (shares)
                shares [*count] = share > 0 ? share : 0;
            keys [(*count)++] = sqlite3_column_int64 (st, 0);
        }
        if (step != SQLITE_ROW && step != SQLITE_DONE)
            rc = s_fail (c, "lexical search");
        s_search_done (st, owned);
    }
    else
    if (rc == 0)
        rc = SL_STORE_ERROR;
    free (ids);
    s_read_end (c);
    s_release (self, c);
    return rc;
}

static int
s_page_lexical (void *backend, const char *workspace, const char (*terms) [SL_STORE_TERM_MAX],
                int nterms, const char *const *documents, int n_documents,
                const sl_filter_t *filter, int pages, int64_t **keys_p, double **shares_p,
                int *count)
{
    char match [SL_STORE_TERMS * (SL_STORE_TERM_MAX + 8)] = "";
    size_t used = 0;
    for (int i = 0; i < nterms; i++)
        used += (size_t) snprintf (match + used, sizeof match - used, "%s\"%s\"",
                                   i ? " OR " : "", terms [i]);
    s_sqlite_t *self = backend;
    *keys_p = NULL;
    *shares_p = NULL;
    *count = 0;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    int rc = s_read_begin (c);
    double mass = rc == 0 ? s_idf_mass (c, terms, nterms, S_PAGE_COUNT, S_TERM_PAGES) : 0;
    bool owned = false;
    sqlite3_stmt *st = rc == 0 ? s_search_stmt (c, S_PAGE_LEXICAL, S_PAGE_LEXICAL_HEAD,
                                                S_PAGE_LEXICAL_TAIL, filter, 2, 5, &owned) : NULL;
    char *ids = s_ids_json (documents, n_documents);
    size_t cap = 0;
    if (st) {
        s_bind_text (st, 1, match);
        s_bind_text (st, 2, workspace);
        sqlite3_bind_int (st, 3, pages);
        s_bind_text (st, 4, ids);
        int step;
        while ((step = sqlite3_step (st)) == SQLITE_ROW) {
            if ((size_t) *count == cap) {
                cap = cap ? cap * 2 : 256;
                int64_t *keys = realloc (*keys_p, cap * sizeof *keys);
                double *shares = keys ? realloc (*shares_p, cap * sizeof *shares) : NULL;
                if (keys)
                    *keys_p = keys;
                if (!keys || !shares) {
                    sl_store_set_errmsg ("out of memory ranking pages");
                    rc = SL_STORE_ERROR;
                    break;
                }
                *shares_p = shares;
            }
            double share = mass > 0 ? sqlite3_column_double (st, 1) / mass : 1;
            (*shares_p) [*count] = share > 0 ? share : 0;
            (*keys_p) [(*count)++] = sqlite3_column_int64 (st, 0);
        }
        if (rc == 0 && step != SQLITE_DONE)
            rc = s_fail (c, "page search");
        s_search_done (st, owned);
    }
    else
    if (rc == 0)
        rc = SL_STORE_ERROR;
    free (ids);
    s_read_end (c);
    s_release (self, c);
    if (rc != 0) {
        free (*keys_p);
        free (*shares_p);
        *keys_p = NULL;
        *shares_p = NULL;
        *count = 0;
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  Embedding cache

static int
s_cache_get (void *backend, const char *model_id, const char **hashes, int n, int dim,
             float *out, bool *found)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    int hits = 0;
    int rc = s_read_begin (c);
    sqlite3_stmt *st = rc == 0 ? s_stmt (c, S_CACHE_GET) : NULL;
    if (!st)
        rc = SL_STORE_ERROR;
    for (int i = 0; rc == 0 && i < n; i++) {
        found [i] = false;
        s_bind_text (st, 1, model_id);
        s_bind_text (st, 2, hashes [i]);
        int step = sqlite3_step (st);
        if (step == SQLITE_ROW) {
            const void *blob = sqlite3_column_blob (st, 1);
            if (sqlite3_column_int (st, 0) == dim && blob
            &&  sqlite3_column_bytes (st, 1) == dim * (int) sizeof (float)) {
                memcpy (out + (size_t) i * (size_t) dim, blob, (size_t) dim * sizeof (float));
                found [i] = true;
                hits++;
            }
        }
        else
        if (step != SQLITE_DONE)
            rc = s_fail (c, "read embed cache");
        s_done (st);
    }
    s_read_end (c);
    s_release (self, c);
    return rc == 0 ? hits : rc;
}

static int
s_cache_put (void *backend, const char *model_id, const char **hashes, int n,
             const float *vectors, int dim, int64_t now_ms)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    int rc = s_write_begin (self, c);
    if (rc == 0) {
        sqlite3_stmt *st = s_stmt (c, S_CACHE_PUT);
        if (!st)
            rc = SL_STORE_ERROR;
        for (int i = 0; rc == 0 && i < n; i++) {
            s_bind_text (st, 1, model_id);
            s_bind_text (st, 2, hashes [i]);
            sqlite3_bind_int (st, 3, dim);
            sqlite3_bind_blob (st, 4, vectors + (size_t) i * (size_t) dim,
                               dim * (int) sizeof (float), SQLITE_STATIC);
            sqlite3_bind_int64 (st, 5, now_ms);
            rc = s_run (c, st, "write embed cache");
        }
        if (rc == 0)
            rc = s_write_commit (self, c);
        else
            s_write_rollback (self, c);
    }
    s_release (self, c);
    return rc;
}

//  --------------------------------------------------------------------------
//  Events

static int
s_event_append (void *backend, const char *job_id, const char *type, const char *data_json,
                int64_t ts, int64_t *seq_out)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_EVENT_APPEND);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, job_id);
        s_bind_text (st, 2, type);
        s_bind_text (st, 3, data_json);
        sqlite3_bind_int64 (st, 4, ts);
        pthread_mutex_lock (&self->write_lock);
        if (sqlite3_step (st) == SQLITE_ROW) {
            if (seq_out)
                *seq_out = sqlite3_column_int64 (st, 0);
            rc = SL_STORE_OK;
        }
        else
            rc = s_fail (c, "append event");
        s_done (st);
        pthread_mutex_unlock (&self->write_lock);
    }
    s_release (self, c);
    return rc;
}

static int
s_events_list (void *backend, const char *job_id, int64_t after_seq, int limit,
               sl_store_event_t **events_p, int *count_p)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_EVENTS_LIST);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, job_id);
        sqlite3_bind_int64 (st, 2, after_seq);
        sqlite3_bind_int (st, 3, limit);
        sl_store_event_t *events = NULL;
        int count = 0, cap = 0, step;
        while ((step = sqlite3_step (st)) == SQLITE_ROW) {
            events = s_grow (events, count, &cap, sizeof *events);
            sl_store_event_t *event = &events [count++];
            event->seq = sqlite3_column_int64 (st, 0);
            event->type = s_col_dup (st, 1);
            event->data = s_col_dup (st, 2);
            event->ts = sqlite3_column_int64 (st, 3);
        }
        s_done (st);
        if (step == SQLITE_DONE) {
            *events_p = events;
            *count_p = count;
            rc = SL_STORE_OK;
        }
        else {
            sl_store_events_free (&events, count);
            rc = s_fail (c, "list events");
        }
    }
    s_release (self, c);
    return rc;
}

//  --------------------------------------------------------------------------
//  Metrics

static int
s_stats (void *backend, sl_store_stats_t *stats)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    memset (stats, 0, sizeof *stats);
    int rc = s_read_begin (c);
    sqlite3_stmt *st;
    if (rc == 0 && (st = s_stmt (c, S_STATS_JOBS))) {
        int step;
        while ((step = sqlite3_step (st)) == SQLITE_ROW) {
            int state = sl_store_state_parse ((const char *) sqlite3_column_text (st, 0));
            if (state >= 0)
                stats->jobs [state] = sqlite3_column_int64 (st, 1);
        }
        s_done (st);
        if (step != SQLITE_DONE)
            rc = s_fail (c, "count jobs");
    }
    else
        rc = SL_STORE_ERROR;
    if (rc == 0 && (st = s_stmt (c, S_STATS_COUNTS))) {
        if (sqlite3_step (st) == SQLITE_ROW) {
            stats->workspaces = sqlite3_column_int64 (st, 0);
            stats->documents = sqlite3_column_int64 (st, 1);
            stats->chunks = sqlite3_column_int64 (st, 2);
            stats->vectors = sqlite3_column_int64 (st, 3);
            stats->cache_entries = sqlite3_column_int64 (st, 4);
        }
        else
            rc = s_fail (c, "count rows");
        s_done (st);
    }
    else
    if (rc == 0)
        rc = SL_STORE_ERROR;
    s_read_end (c);
    s_release (self, c);
    return rc;
}

//  --------------------------------------------------------------------------
//  Open, migrate, close

//  Apply pending migrations in one IMMEDIATE transaction (so two processes
//  opening a fresh database cannot both apply version 1).
static int
s_migrate (sqlite3 *db, const char *path, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec (db, "BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS schema_version ("
                      "version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)",
                      NULL, NULL, &msg) != SQLITE_OK) {
        snprintf (err, errlen, "cannot initialise database %s: %s", path, msg ? msg : "?");
        sqlite3_free (msg);
        sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    int current = 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2 (db, "SELECT COALESCE (MAX (version), 0) FROM schema_version",
                                 -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step (st) == SQLITE_ROW)
        current = sqlite3_column_int (st, 0);
    else
        rc = SQLITE_ERROR;
    sqlite3_finalize (st);
    int latest = s_migrations [S_MIGRATIONS - 1].version;
    if (rc != SQLITE_OK)
        snprintf (err, errlen, "cannot read schema version of %s: %s", path, sqlite3_errmsg (db));
    else
    if (current > latest) {
        snprintf (err, errlen, "database %s has schema version %d, newer than this build "
                  "supports (%d): upgrade sluice", path, current, latest);
        rc = SQLITE_ERROR;
    }
    for (int i = 0; rc == SQLITE_OK && i < S_MIGRATIONS; i++) {
        if (s_migrations [i].version <= current)
            continue;
        char insert [128];
        snprintf (insert, sizeof insert,
                  "INSERT INTO schema_version (version, applied_ms) VALUES (%d, %lld)",
                  s_migrations [i].version, (long long) sl_now_ms ());
        if (sqlite3_exec (db, s_migrations [i].sql, NULL, NULL, &msg) != SQLITE_OK
        ||  sqlite3_exec (db, insert, NULL, NULL, &msg) != SQLITE_OK) {
            snprintf (err, errlen, "migration %d of %s failed: %s", s_migrations [i].version,
                      path, msg ? msg : "?");
            sqlite3_free (msg);
            rc = SQLITE_ERROR;
        }
        else
            sl_info (NULL, "store: %s: applied schema migration %d", path,
                     s_migrations [i].version);
    }
    if (rc == SQLITE_OK && sqlite3_exec (db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
        snprintf (err, errlen, "cannot commit migrations of %s: %s", path, msg ? msg : "?");
        sqlite3_free (msg);
        rc = SQLITE_ERROR;
    }
    if (rc != SQLITE_OK) {
        sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static void
s_close (void *backend)
{
    s_sqlite_t *self = backend;
    while (self->idle) {
        s_conn_t *c = self->idle;
        self->idle = c->next;
        s_conn_close (c);
    }
    pthread_mutex_destroy (&self->pool_lock);
    pthread_cond_destroy (&self->pool_cond);
    pthread_mutex_destroy (&self->write_lock);
    free (self->path);
    free (self);
}

//  --------------------------------------------------------------------------
//  Re-embedding a workspace

static int
s_workspace_chunks (void *backend, const char *workspace, int64_t after_key, int limit,
                    int64_t *keys, char **texts, int *count)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    int rc = s_read_begin (c);
    if (rc == 0)
        rc = s_workspace_read (c, workspace, NULL, 0, NULL, NULL);
    sqlite3_stmt *st;
    if (rc == 0 && (st = s_stmt (c, S_WS_CHUNKS))) {
        s_bind_text (st, 1, workspace);
        sqlite3_bind_int64 (st, 2, after_key);
        sqlite3_bind_int (st, 3, limit);
        int step = SQLITE_DONE, n = 0;
        while (n < limit && (step = sqlite3_step (st)) == SQLITE_ROW) {
            keys [n] = sqlite3_column_int64 (st, 0);
            texts [n++] = s_col_dup (st, 1);
        }
        if (n < limit && step != SQLITE_DONE) {
            rc = s_fail (c, "list workspace chunks");
            sl_store_texts_free (texts, n);
            n = 0;
        }
        s_done (st);
        *count = n;
    }
    else
    if (rc == 0)
        rc = SL_STORE_ERROR;
    s_read_end (c);
    s_release (self, c);
    return rc;
}

//  The write lock serialises every writer already: only say whether the
//  workspace exists
static int
s_filters_gen (void *backend, const char *workspace, int64_t *out)
{
    s_sqlite_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sqlite3_stmt *st = s_stmt (c, S_FILTERS_GEN);
    int rc = SL_STORE_ERROR;
    if (st) {
        s_bind_text (st, 1, workspace);
        int step = sqlite3_step (st);
        rc = step == SQLITE_ROW ? SL_STORE_OK
           : step == SQLITE_DONE ? SL_STORE_NOT_FOUND : s_fail (c, "read filter generation");
        if (step == SQLITE_ROW)
            *out = sqlite3_column_int64 (st, 0);
        s_done (st);
    }
    s_release (self, c);
    return rc;
}

static int
s_tx_filters_bump (void *tx, const char *workspace)
{
    s_conn_t *c = tx;
    sqlite3_stmt *st = s_stmt (c, S_FILTERS_BUMP);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    return s_run (c, st, "bump filter generation");
}

//  The document's attributes: its JSON, then its rows replaced
static int
s_tx_doc_attrs (void *tx, const char *workspace, const char *doc_id, const sl_meta_t *meta)
{
    s_conn_t *c = tx;
    sqlite3_stmt *st = s_stmt (c, S_DOC_META_SET);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    s_bind_text (st, 2, doc_id);
    s_bind_text (st, 3, meta->json);
    sqlite3_bind_int64 (st, 4, sl_now_ms ());
    if (s_run (c, st, "set document attributes"))
        return SL_STORE_ERROR;
    if (sqlite3_changes (c->db) == 0) {
        sl_store_set_errmsg ("no document %s in workspace %s", doc_id, workspace);
        return SL_STORE_NOT_FOUND;
    }
    if (!(st = s_stmt (c, S_ATTRS_DELETE)))
        return SL_STORE_ERROR;
    s_bind_text (st, 1, doc_id);
    if (s_run (c, st, "delete document attributes"))
        return SL_STORE_ERROR;
    for (int i = 0; i < meta->n_attrs; i++) {
        const sl_attr_t *a = &meta->attrs [i];
        char vtype [2] = { a->vtype, 0 };
        if (!(st = s_stmt (c, S_ATTR_INSERT)))
            return SL_STORE_ERROR;
        s_bind_text (st, 1, workspace);
        s_bind_text (st, 2, doc_id);
        s_bind_text (st, 3, a->key);
        s_bind_text (st, 4, vtype);
        s_bind_text (st, 5, a->text);
        if (a->vtype == 's')
            sqlite3_bind_null (st, 6);
        else
            sqlite3_bind_double (st, 6, a->num);
        if (s_run (c, st, "insert document attribute"))
            return SL_STORE_ERROR;
    }
    return SL_STORE_OK;
}

static int
s_tx_doc_meta_get (void *tx, const char *workspace, const char *doc_id, char **json_out)
{
    s_conn_t *c = tx;
    *json_out = NULL;
    sqlite3_stmt *st = s_stmt (c, S_DOC_META_GET);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    s_bind_text (st, 2, doc_id);
    int step = sqlite3_step (st);
    int rc = step == SQLITE_ROW ? SL_STORE_OK
           : step == SQLITE_DONE ? SL_STORE_NOT_FOUND : s_fail (c, "read document attributes");
    if (step == SQLITE_ROW)
        *json_out = s_col_dup (st, 0);
    s_done (st);
    return rc;
}

static int
s_tx_workspace_lock (void *tx, const char *workspace)
{
    return s_workspace_read (tx, workspace, NULL, 0, NULL, NULL);
}

static int
s_tx_cache_missing (void *tx, const char *workspace, const char *model_id, int dim,
                    int64_t *missing)
{
    s_conn_t *c = tx;
    sqlite3_stmt *st = s_stmt (c, S_WS_CACHE_MISSING);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    s_bind_text (st, 2, model_id);
    sqlite3_bind_int (st, 3, dim);
    int rc = SL_STORE_OK;
    if (sqlite3_step (st) == SQLITE_ROW)
        *missing = sqlite3_column_int64 (st, 0);
    else
        rc = s_fail (c, "count chunks without a vector");
    s_done (st);
    return rc;
}

static int
s_tx_vectors_from_cache (void *tx, const char *workspace, const char *model_id, int dim,
                         int64_t now_ms)
{
    s_conn_t *c = tx;
    sqlite3_stmt *st = s_stmt (c, S_WS_VEC_DELETE);
    if (!st)
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    if (s_run (c, st, "delete workspace vectors"))
        return SL_STORE_ERROR;
    if (!(st = s_stmt (c, S_WS_VEC_FROM_CACHE)))
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    s_bind_text (st, 2, model_id);
    sqlite3_bind_int (st, 3, dim);
    if (s_run (c, st, "insert vectors from the cache"))
        return SL_STORE_ERROR;
    if (!(st = s_stmt (c, S_WS_SET_MODEL)))
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    s_bind_text (st, 2, model_id);
    sqlite3_bind_int (st, 3, dim);
    if (s_run (c, st, "set workspace model"))
        return SL_STORE_ERROR;
    if (!(st = s_stmt (c, S_WS_DOC_MODEL)))
        return SL_STORE_ERROR;
    s_bind_text (st, 1, workspace);
    s_bind_text (st, 2, model_id);
    sqlite3_bind_int64 (st, 3, now_ms);
    return s_run (c, st, "set document models") ? SL_STORE_ERROR : SL_STORE_OK;
}

static const sl_store_ops_t s_ops = SL_STORE_OPS ("sqlite");

int
sl_store_sqlite_open (const char *path, const sl_store_ops_t **ops_p, void **backend_p,
                      char *err, size_t errlen)
{
    assert (path && ops_p && backend_p);
    s_conn_t *c = s_conn_open (path);
    if (!c) {
        snprintf (err, errlen, "%s", sl_store_errmsg (NULL));
        return -1;
    }
    if (s_migrate (c->db, path, err, errlen)) {
        s_conn_close (c);
        return -1;
    }
    s_sqlite_t *self = calloc (1, sizeof *self);
    assert (self);
    self->path = strdup (path);
    assert (self->path);
    pthread_mutex_init (&self->pool_lock, NULL);
    pthread_cond_init (&self->pool_cond, NULL);
    pthread_mutex_init (&self->write_lock, NULL);
    self->idle = c;             //  the migrating connection is the first in the pool
    self->open = 1;
    *ops_p = &s_ops;
    *backend_p = self;
    return 0;
}
