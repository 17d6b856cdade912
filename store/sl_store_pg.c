/*  sl_store_pg: the PostgreSQL backend of sl_store (see sl_store_backend.h).

    Chosen by a "postgres://" or "postgresql://" store.url (any libpq URI),
    so several store processes can share one database in scaled mode. Every
    op has the SQLite backend's semantics and return codes; what differs is
    how concurrency between processes is made safe.

    Concurrency design
    - A pool of connections (opened lazily, at most S_POOL_MAX): a call takes
      one, uses it and gives it back, so each PGconn is used by one thread at
      a time. Statements are prepared once per connection, on first use, and
      always run with parameters (never SQL built from values).
    - Connection loss: a read or BEGIN that fails because the connection
      broke (the server restarted) is reset and retried once. A loss also
      bumps the pool's epoch, and every pooled connection older than it is
      reconnected before its next use, so writes do not go out on dead
      connections after a restart. A write whose outcome is unknown is not
      retried here: it returns SL_STORE_ERROR and the caller's redelivery
      (every write is idempotent) covers it. While the server is down each
      call fails at once (or after connect_timeout, 10 s unless the url
      says otherwise) with a message naming the server.
    - Per-workspace serialisation: a commit starts by upserting its
      workspace row (recording the model), which row-locks it until COMMIT,
      and a delete locks it first with FOR NO KEY UPDATE. So writes that
      change one workspace's documents run one at a time across all
      processes: the replace-by-source / skip-by-content decisions and the
      generation bump see each other, and gen_before is exact. Creating a
      job only takes FOR KEY SHARE on the workspace row (its foreign key),
      which does not conflict with those locks: ingest never waits for a
      commit.
    - Multi-row upserts into the embedding cache insert in hash order, so
      two processes with overlapping batches cannot deadlock.
    - Idempotence through unique keys: documents and chunks have derived
      primary keys and inserts use ON CONFLICT DO NOTHING, so two processes
      committing the same document leave one copy.
    - Event sequence numbers come from a per-job counter row bumped with
      INSERT ... ON CONFLICT DO UPDATE ... RETURNING in the same statement
      that inserts the event: the row lock orders concurrent appenders, so
      seqs are 1..N without gaps or retries.
    - Leases are one guarded UPDATE; a concurrent claimer blocks on the row
      and re-checks the guard after the winner commits, so exactly one wins.
      jobs_unfinished reads with FOR UPDATE SKIP LOCKED, so listers in
      several processes never queue behind one another's lease updates.

    Data
    - Versioned migrations (schema_version) applied at open in one
      transaction under an advisory lock, so concurrent openers apply each
      exactly once.
    - chunks.rid comes from a sequence (never reused) and is the vector
      index key. A commit reserves its rids in one query, then streams its
      chunks and vectors with binary COPY (thousands of rows, two round
      trips).
    - Vectors are bytea of dim float32 little-endian; bytea storage is
      EXTERNAL because float data does not compress.
    - workspaces.generation is bumped in every transaction that changes a
      workspace's vectors: each process's in-memory index compares it on
      every search and reloads when another process wrote (sl_store.c).
    - Tables live in the connection's schema (search_path, settable in the
      url with ?options=...).

    Ownership: sl_store_pg_open returns a backend owned by the sl_store_t
    that holds it; it is thread-safe (the pool) and closed by s_close once
    no thread uses it. Results copied into caller structs are the caller's.
*/
#include "sl_store_backend.h"
#include "sl_log.h"

#include <assert.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_POOL_MAX      8           //  connections per store
#define S_PARAMS_MAX    16
#define S_COPY_FLUSH    (1 << 20)   //  bytes buffered before PQputCopyData
#define S_MIGRATE_LOCK  "126943050924901"         //  advisory lock key: "sluice" in ASCII

//  --------------------------------------------------------------------------
//  Migrations: append only. Never edit a released migration.

typedef struct {
    int version;
    const char *sql;
} s_migration_t;

//  Latin-1 capitals and their small letters: a C-locale database folds
//  ASCII only, and sl_store_query_terms folds these too, so the word
//  indexes translate them before the words are split (sl_highlight folds
//  alike)
#define S_LATIN1_UPPER "'\u00C0\u00C1\u00C2\u00C3\u00C4\u00C5\u00C6\u00C7\u00C8\u00C9\u00CA\u00CB\u00CC\u00CD\u00CE\u00CF\u00D0\u00D1\u00D2\u00D3\u00D4\u00D5\u00D6\u00D8\u00D9\u00DA\u00DB\u00DC\u00DD\u00DE'"
#define S_LATIN1_LOWER "'\u00E0\u00E1\u00E2\u00E3\u00E4\u00E5\u00E6\u00E7\u00E8\u00E9\u00EA\u00EB\u00EC\u00ED\u00EE\u00EF\u00F0\u00F1\u00F2\u00F3\u00F4\u00F5\u00F6\u00F8\u00F9\u00FA\u00FB\u00FC\u00FD\u00FE'"

static const s_migration_t s_migrations [] = {
    { 1,
      "CREATE TABLE workspaces ("
      "  name TEXT PRIMARY KEY,"
      "  model_id TEXT,"                    //  recorded at first embed
      "  dim INTEGER,"
      "  generation BIGINT NOT NULL DEFAULT 0,"
      "  created_ms BIGINT NOT NULL"
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
      "  created_ms BIGINT NOT NULL,"
      "  updated_ms BIGINT NOT NULL,"
      "  fetch_started_ms BIGINT, fetch_finished_ms BIGINT,"
      "  parse_started_ms BIGINT, parse_finished_ms BIGINT,"
      "  chunk_started_ms BIGINT, chunk_finished_ms BIGINT,"
      "  embed_started_ms BIGINT, embed_finished_ms BIGINT,"
      "  store_started_ms BIGINT, store_finished_ms BIGINT,"
      "  lease_owner TEXT,"
      "  lease_until_ms BIGINT,"
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
      "  bytes BIGINT NOT NULL DEFAULT 0,"
      "  chunks INTEGER NOT NULL DEFAULT 0,"
      "  model_id TEXT,"
      "  state TEXT NOT NULL DEFAULT 'ready',"
      "  job_id TEXT,"
      "  created_ms BIGINT NOT NULL,"
      "  updated_ms BIGINT NOT NULL"
      ");"
      "CREATE UNIQUE INDEX documents_by_content ON documents (workspace, sha256)"
      "  WHERE state = 'ready';"
      "CREATE UNIQUE INDEX documents_by_source ON documents (workspace, source)"
      "  WHERE state = 'ready';"
      "CREATE INDEX documents_by_time ON documents (workspace, created_ms);"
      "CREATE INDEX documents_by_sha256 ON documents (sha256);"
      //  A sequence never hands out a value twice, so an index row that is
      //  a moment stale can only miss, never name a different chunk
      "CREATE SEQUENCE chunk_rids;"
      "CREATE TABLE chunks ("
      "  rid BIGINT PRIMARY KEY DEFAULT nextval ('chunk_rids'),"
      "  id TEXT NOT NULL UNIQUE,"
      "  document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,"
      "  ordinal INTEGER NOT NULL,"
      "  page_start INTEGER NOT NULL DEFAULT 0,"
      "  page_end INTEGER NOT NULL DEFAULT 0,"
      "  char_start BIGINT NOT NULL DEFAULT 0,"
      "  char_end BIGINT NOT NULL DEFAULT 0,"
      "  tokens INTEGER NOT NULL DEFAULT 0,"
      "  hash TEXT NOT NULL,"
      "  text TEXT NOT NULL,"
      "  UNIQUE (document_id, ordinal)"
      ");"
      "ALTER SEQUENCE chunk_rids OWNED BY chunks.rid;"
      "CREATE TABLE vectors ("
      "  chunk_rid BIGINT PRIMARY KEY REFERENCES chunks (rid) ON DELETE CASCADE,"
      "  model_id TEXT NOT NULL,"
      "  dim INTEGER NOT NULL,"
      "  vec BYTEA NOT NULL"                //  dim float32, little-endian
      ");"
      "ALTER TABLE vectors ALTER COLUMN vec SET STORAGE EXTERNAL;"
      "CREATE TABLE embed_cache ("
      "  model_id TEXT NOT NULL,"
      "  hash TEXT NOT NULL,"
      "  dim INTEGER NOT NULL,"
      "  vec BYTEA NOT NULL,"
      "  created_ms BIGINT NOT NULL,"
      "  PRIMARY KEY (model_id, hash)"
      ");"
      "ALTER TABLE embed_cache ALTER COLUMN vec SET STORAGE EXTERNAL;"
      "CREATE TABLE events ("
      "  job_id TEXT NOT NULL,"
      "  seq BIGINT NOT NULL,"
      "  type TEXT NOT NULL,"
      "  data TEXT,"
      "  ts BIGINT NOT NULL,"
      "  PRIMARY KEY (job_id, seq)"
      ");"
      //  The last seq handed out per job: its row lock orders appenders
      "CREATE TABLE event_seqs ("
      "  job_id TEXT PRIMARY KEY,"
      "  seq BIGINT NOT NULL"
      ");"
    },
    //  Lexical search: the words of each chunk, kept by PostgreSQL itself
    //  (a stored generated column) and indexed. Punctuation becomes space
    //  first, as sl_store_query_terms splits queries: PostgreSQL's parser
    //  would otherwise read "XK-4471" as XK and the integer -4471, "v2.0"
    //  as a file name. 'simple' lower-cases, neither stems nor drops words.
    { 2,
      "ALTER TABLE chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector ('simple',"
      "  regexp_replace (text, '[\\x01-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7f"
      "\\u00a0-\\u00bf\\u00d7\\u00f7\\u2000-\\u2bff\\u3000-\\u303f\\U0001f000-\\U0001ffff]+',"
      "  ' ', 'g'))) STORED;"
      "CREATE INDEX chunks_tsv ON chunks USING gin (tsv);"
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
      "  since_ms BIGINT NOT NULL,"
      "  updated_ms BIGINT NOT NULL,"
      "  PRIMARY KEY (workspace, source)"
      ");"
      "CREATE INDEX document_sources_by_document ON document_sources (document_id, since_ms);"
      "INSERT INTO document_sources (workspace, source, document_id, job_id, since_ms, updated_ms)"
      "  SELECT d.workspace, d.source, d.id, d.job_id, COALESCE (j.created_ms, d.created_ms),"
      "  d.updated_ms FROM documents d LEFT JOIN jobs j ON j.id = d.job_id;"
      "ALTER TABLE jobs ADD COLUMN replaced TEXT, ADD COLUMN duplicate_of TEXT;"
    },
    //  Housekeeping: named leases for duties one process at a time does
    //  (the storage collector), and the embedding cache by age, so the
    //  oldest entries are found without sorting the whole cache
    { 4,
      "CREATE TABLE leases ("
      "  name TEXT PRIMARY KEY,"
      "  owner TEXT NOT NULL,"
      "  until_ms BIGINT NOT NULL"
      ");"
      "CREATE INDEX embed_cache_by_age ON embed_cache (created_ms);"
    },
    //  Document structure: a chunk's kind (text or table), its section
    //  path, the lowest OCR confidence of its pages (NULL: not OCR'd) and
    //  the embedding context it was embedded with. The word index covers
    //  the section path too, so a heading's words find its chunks (the
    //  generated column is rebuilt: a rewrite of the chunks table).
    { 5,
      "ALTER TABLE chunks ADD COLUMN kind TEXT NOT NULL DEFAULT 'text',"
      "  ADD COLUMN section TEXT NOT NULL DEFAULT '', ADD COLUMN ocr_conf INTEGER,"
      "  ADD COLUMN context TEXT NOT NULL DEFAULT '';"
      "DROP INDEX chunks_tsv;"
      "ALTER TABLE chunks DROP COLUMN tsv;"
      "ALTER TABLE chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector ('simple',"
      "  regexp_replace (text || ' ' || section, '[\\x01-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7f"
      "\\u00a0-\\u00bf\\u00d7\\u00f7\\u2000-\\u2bff\\u3000-\\u303f\\U0001f000-\\U0001ffff]+',"
      "  ' ', 'g'))) STORED;"
      "CREATE INDEX chunks_tsv ON chunks USING gin (tsv);"
    },
    //  Ranked word matching: the words are stemmed (Snowball English, the
    //  Porter stemmer's successor) but none is dropped, so "the" is still
    //  a word a query of function words alone can find: configuration
    //  sluice_words is 'simple' with its word tokens mapped to a Snowball
    //  dictionary without a stop list. Queries go through the same
    //  configuration (to_tsquery ('sluice_words', ...)), so indexing and
    //  query stem alike. The generated column is rebuilt
    { 6,
      "CREATE TEXT SEARCH DICTIONARY sluice_stem (TEMPLATE = snowball, Language = english);"
      "CREATE TEXT SEARCH CONFIGURATION sluice_words (COPY = simple);"
      "ALTER TEXT SEARCH CONFIGURATION sluice_words ALTER MAPPING FOR asciiword, word, numword,"
      "  asciihword, hword, numhword, hword_asciipart, hword_part, hword_numpart WITH sluice_stem;"
      "DROP INDEX chunks_tsv;"
      "ALTER TABLE chunks DROP COLUMN tsv;"
      "ALTER TABLE chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector ('sluice_words',"
      "  regexp_replace (text || ' ' || section, '[\\x01-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7f"
      "\\u00a0-\\u00bf\\u00d7\\u00f7\\u2000-\\u2bff\\u3000-\\u303f\\U0001f000-\\U0001ffff]+',"
      "  ' ', 'g'))) STORED;"
      "CREATE INDEX chunks_tsv ON chunks USING gin (tsv);"
    },
    //  Document attributes (sl_filter.h): their canonical JSON on the
    //  document for showing, and one row per scalar and list item for
    //  filtering, indexed by text and by number within a workspace's key;
    //  they go with their document. Documents by type (the mime filter),
    //  sources in byte order (the source_prefix range, whatever the
    //  database's collation)
    { 7,
      "ALTER TABLE documents ADD COLUMN meta TEXT;"
      "ALTER TABLE workspaces ADD COLUMN filters_gen BIGINT NOT NULL DEFAULT 0;"
      "CREATE TABLE doc_attrs ("
      "  workspace TEXT NOT NULL,"
      "  document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,"
      "  key TEXT NOT NULL,"
      "  vtype TEXT NOT NULL,"
      "  vtext TEXT NOT NULL,"
      "  vnum DOUBLE PRECISION"
      ");"
      "CREATE INDEX doc_attrs_by_text ON doc_attrs (workspace, key, vtext);"
      "CREATE INDEX doc_attrs_by_num ON doc_attrs (workspace, key, vnum);"
      "CREATE INDEX doc_attrs_by_document ON doc_attrs (document_id);"
      "CREATE INDEX documents_by_mime ON documents (workspace, mime);"
      "CREATE INDEX document_sources_by_prefix ON document_sources (workspace, source COLLATE \"C\");"
    },
    //  Chunking settings (engine/sl_chunking.h, JSON text): a workspace's
    //  own (NULL: the server's), and what each document was cut with
    { 8,
      "ALTER TABLE workspaces ADD COLUMN chunking TEXT;"
      "ALTER TABLE documents ADD COLUMN chunking TEXT;"
    },
    //  Pages as the word index sees them: the text of a page's chunks (in
    //  order), indexed like chunks, so a chunk can be ranked by its page's
    //  score as well as its own. Built from the chunks at commit (and
    //  here, for documents stored before)
    { 9,
      "CREATE TABLE pages ("
      "  rid BIGSERIAL PRIMARY KEY,"
      "  document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,"
      "  page INTEGER NOT NULL,"
      "  text TEXT NOT NULL,"
      "  tsv tsvector GENERATED ALWAYS AS (to_tsvector ('sluice_words', translate ("
      "  regexp_replace (text, '[\\x01-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7f"
      "\\u00a0-\\u00bf\\u00d7\\u00f7\\u2000-\\u2bff\\u3000-\\u303f\\U0001f000-\\U0001ffff]+',"
      "  ' ', 'g'), " S_LATIN1_UPPER ", " S_LATIN1_LOWER "))) STORED,"
      "  UNIQUE (document_id, page)"
      ");"
      "CREATE INDEX pages_tsv ON pages USING gin (tsv);"
      "CREATE INDEX chunks_by_page ON chunks (document_id, page_start);"
      "INSERT INTO pages (document_id, page, text) SELECT document_id, page_start,"
      "  string_agg (text, E'\\n' ORDER BY ordinal) FROM chunks GROUP BY document_id, page_start;"
    },
    //  A word of a chunk's section path counts less than one of its text
    //  (SL_STORE_SECTION_WEIGHT, as SQLite weighs its section column): the
    //  text is labelled A and the section B, which ranking weighs apart.
    //  Latin-1 capitals fold as the query's do (S_LATIN1_UPPER)
    { 10,
      "DROP INDEX chunks_tsv;"
      "ALTER TABLE chunks DROP COLUMN tsv;"
      "ALTER TABLE chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS ("
      "  setweight (to_tsvector ('sluice_words', translate (regexp_replace (text, '[\\x01-\\x2f"
      "\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7f\\u00a0-\\u00bf\\u00d7\\u00f7\\u2000-\\u2bff"
      "\\u3000-\\u303f\\U0001f000-\\U0001ffff]+', ' ', 'g'), " S_LATIN1_UPPER ", "
      S_LATIN1_LOWER ")), 'A') ||"
      "  setweight (to_tsvector ('sluice_words', translate (regexp_replace (section, '[\\x01-\\x2f"
      "\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7f\\u00a0-\\u00bf\\u00d7\\u00f7\\u2000-\\u2bff"
      "\\u3000-\\u303f\\U0001f000-\\U0001ffff]+', ' ', 'g'), " S_LATIN1_UPPER ", "
      S_LATIN1_LOWER ")), 'B')) STORED;"
      "CREATE INDEX chunks_tsv ON chunks USING gin (tsv);"
    },
    //  Job control (sl_store.h): a job can be cancelled, held while its
    //  workspace's intake is paused (left alone by the re-driver), a
    //  workspace remembers that it is paused, and a document keeps its
    //  parse output (pages_blob) to be chunked again without a parse
    { 11,
      "ALTER TABLE jobs DROP CONSTRAINT jobs_state_check;"
      "ALTER TABLE jobs ADD CONSTRAINT jobs_state_check CHECK (state IN ('queued', 'fetching',"
      "  'parsing', 'chunking', 'embedding', 'storing', 'completed', 'failed', 'cancelled'));"
      "ALTER TABLE jobs ADD COLUMN held INTEGER NOT NULL DEFAULT 0;"
      "DROP INDEX jobs_unfinished;"
      "CREATE INDEX jobs_unfinished ON jobs (updated_ms)"
      "  WHERE state NOT IN ('completed', 'failed', 'cancelled') AND held = 0;"
      "CREATE INDEX jobs_held ON jobs (workspace, created_ms) WHERE held = 1;"
      "ALTER TABLE workspaces ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;"
      "ALTER TABLE documents ADD COLUMN pages_blob TEXT;"
      "CREATE INDEX documents_by_pages_blob ON documents (pages_blob) WHERE pages_blob IS NOT NULL;"
    },
    //  Sources (actors/sources): as SQLite's migration 11 (the rows are
    //  JSON text the sources service owns; one source per key)
    { 12,
      "CREATE TABLE sources ("
      "  id TEXT PRIMARY KEY,"
      "  workspace TEXT NOT NULL,"
      "  key TEXT NOT NULL,"
      "  row TEXT NOT NULL,"
      "  next_ms BIGINT NOT NULL,"
      "  created_ms BIGINT NOT NULL,"
      "  updated_ms BIGINT NOT NULL,"
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
      "  started_ms BIGINT NOT NULL,"
      "  row TEXT NOT NULL"
      ");"
      "CREATE INDEX source_runs_by_source ON source_runs (source_id, started_ms);"
    },
    //  A job's run (see the SQLite store's migration 12)
    { 13,
      "ALTER TABLE jobs ADD COLUMN run INTEGER NOT NULL DEFAULT 0;"
    },
};
#define S_MIGRATIONS ((int) (sizeof s_migrations / sizeof s_migrations [0]))

//  --------------------------------------------------------------------------
//  Statements, prepared once per connection

#define S_TERMINAL "state NOT IN ('completed', 'failed', 'cancelled')"
#define S_LEXICAL_HEAD "WITH t AS (SELECT to_tsquery ('sluice_words', w) AS q FROM unnest ($1::text[]) w), " \
    "n AS (SELECT GREATEST (COALESCE (SUM (chunks), 0), 1)::float8 AS n FROM documents " \
    "WHERE workspace = $2), " \
    "w AS (SELECT t.q, ln (1 + (n.n - df.c + 0.5) / (df.c + 0.5)) AS idf FROM t, n, " \
    "LATERAL (SELECT COUNT (*)::float8 AS c FROM chunks c JOIN documents d " \
    "ON d.id = c.document_id WHERE d.workspace = $2 AND c.tsv @@ t.q) df " \
    "WHERE numnode (t.q) > 0), " \
    "a AS (SELECT string_agg (q::text, ' | ')::tsquery AS q, " \
    "string_agg (q::text, ' & ')::tsquery AS qa, COUNT (*) AS n, " \
    "to_tsquery ('sluice_words', $6::text) AS qn FROM w) " \
    "SELECT rid, score / NULLIF ((SELECT SUM (w.idf) FROM w), 0) FROM (SELECT c.rid, " \
    "(SELECT SUM (w.idf * r * 2.2 / (r + 1.2)) FROM w, " \
    "LATERAL (SELECT ts_rank_cd ($7::float4[], c.tsv, w.q, 0)::float8 AS r) rr " \
    "WHERE c.tsv @@ w.q) " \
    "* (CASE WHEN a.n > 1 AND c.tsv @@ a.qa THEN $5::float8 ELSE 1.0 END) " \
    "* (CASE WHEN a.qn IS NOT NULL AND c.tsv @@ a.qn " \
    "THEN $8::float8 ELSE 1.0 END) AS score " \
    "FROM chunks c JOIN documents d ON d.id = c.document_id, a " \
    "WHERE c.tsv @@ a.q AND d.workspace = $2 AND d.state = 'ready' " \
    "AND ($4::text[] IS NULL OR d.id = ANY ($4::text[]))"
#define S_LEXICAL_TAIL ") s ORDER BY score DESC, rid LIMIT $3"
#define S_PAGE_LEXICAL_HEAD "WITH t AS (SELECT to_tsquery ('sluice_words', w) AS q " \
    "FROM unnest ($1::text[]) w), " \
    "n AS (SELECT GREATEST (COALESCE (SUM (pages), 0), 1)::float8 AS n FROM documents " \
    "WHERE workspace = $2), " \
    "w AS (SELECT t.q, ln (1 + (n.n - df.c + 0.5) / (df.c + 0.5)) AS idf FROM t, n, " \
    "LATERAL (SELECT COUNT (*)::float8 AS c FROM pages p JOIN documents d " \
    "ON d.id = p.document_id WHERE d.workspace = $2 AND p.tsv @@ t.q) df " \
    "WHERE numnode (t.q) > 0), " \
    "a AS (SELECT string_agg (q::text, ' | ')::tsquery AS q FROM w), " \
    "top AS (SELECT p.document_id, p.page, p.rid, (SELECT SUM (w.idf * r * 2.2 / (r + 1.2)) " \
    "FROM w, LATERAL (SELECT ts_rank_cd ('{1,1,1,1}', p.tsv, w.q, 0)::float8 AS r) rr " \
    "WHERE p.tsv @@ w.q) / NULLIF ((SELECT SUM (w.idf) FROM w), 0) AS share " \
    "FROM pages p JOIN documents d ON d.id = p.document_id, a " \
    "WHERE p.tsv @@ a.q AND d.workspace = $2 AND d.state = 'ready' " \
    "AND ($4::text[] IS NULL OR d.id = ANY ($4::text[]))"
#define S_PAGE_LEXICAL_TAIL " ORDER BY share DESC NULLS LAST, p.rid LIMIT $3) " \
    "SELECT c.rid, top.share FROM top JOIN chunks c ON c.document_id = top.document_id " \
    "AND c.page_start = top.page"
#define S_DOCS_KEYS_HEAD "SELECT c.rid FROM documents d JOIN chunks c ON c.document_id = d.id " \
    "WHERE d.workspace = $1 AND d.state = 'ready' AND ($2::text[] IS NULL OR d.id = ANY ($2::text[]))"
#define S_DOCS_KEYS_TAIL " ORDER BY c.rid"
//  A search's documents and their chunk counts (filter from $3)
#define S_FILTER_DOCS_HEAD "SELECT d.id, d.chunks FROM documents d WHERE d.workspace = $1 " \
    "AND d.state = 'ready' " \
    "AND ($2::text[] IS NULL OR d.id = ANY ($2::text[]))"
//  A job back to its start: what its last run recorded goes
#define S_RESTART "state = 'queued', stage = NULL, percent = 0, attempts = 0, run = run + 1, " \
    "error_stage = NULL, error = NULL, document_id = NULL, replaced = NULL, " \
    "duplicate_of = NULL, fetch_started_ms = NULL, fetch_finished_ms = NULL, " \
    "parse_started_ms = NULL, parse_finished_ms = NULL, chunk_started_ms = NULL, " \
    "chunk_finished_ms = NULL, embed_started_ms = NULL, embed_finished_ms = NULL, " \
    "store_started_ms = NULL, store_finished_ms = NULL, updated_ms = $3, " \
    "lease_owner = NULL, lease_until_ms = NULL"
#define S_JOB_COLS "SELECT id, workspace, source, sha256, mime, state, stage, percent, " \
    "attempts, error_stage, error, document_id, created_ms, updated_ms, " \
    "fetch_started_ms, fetch_finished_ms, parse_started_ms, parse_finished_ms, " \
    "chunk_started_ms, chunk_finished_ms, embed_started_ms, embed_finished_ms, " \
    "store_started_ms, store_finished_ms, lease_owner, lease_until_ms, options, replaced, " \
    "duplicate_of, held, run FROM jobs "
#define S_DOC_COLS "SELECT id, workspace, sha256, source, mime, title, model_id, job_id, " \
    "state, pages, bytes, chunks, created_ms, updated_ms, chunking, meta, pages_blob FROM documents "
//  $1 id, $2 state, $3 stage, $4 now
#define S_STARTED(st) "UPDATE jobs SET state = $2, stage = $3, updated_ms = $4, " \
    st "_started_ms = COALESCE (" st "_started_ms, $4) WHERE id = $1 AND " S_TERMINAL
//  $1 id, $2 now
#define S_FINISHED(st) "UPDATE jobs SET updated_ms = $2, " st "_finished_ms = $2 " \
    "WHERE id = $1 AND " S_TERMINAL

typedef enum {
    S_WS_ENSURE, S_WS_GET, S_WS_CHUNKING, S_WS_SET_CHUNKING, S_WS_MODEL, S_WS_LOCK, S_WS_BUMP,
    S_JOB_CREATE, S_JOB_GET, S_JOB_STATE, S_JOB_SET_BLOB,
    S_JOB_STARTED,              //  + stage
    S_JOB_FINISHED = S_JOB_STARTED + SL_STORE_STAGE_COUNT,
    S_JOB_PROGRESS = S_JOB_FINISHED + SL_STORE_STAGE_COUNT,
    S_JOB_FAIL, S_JOB_COMPLETE, S_JOB_ATTEMPT, S_JOB_LEASE, S_JOB_LIST, S_JOBS_UNFINISHED,
    S_DOC_FIND, S_DOC_GET, S_DOC_LIST, S_DOC_COUNT, S_DOC_EXISTS, S_DOC_SET_SOURCE,
    S_DOC_INSERT, S_DOC_KEYS, S_DOC_DELETE, S_RIDS, S_CHUNKS_LIST,
    S_TX_JOB, S_TX_JOB_COMPLETE, S_SRC_GET, S_SRC_SET, S_SRC_UNLINK, S_SRC_FIRST,
    S_BLOB_REF, S_VEC_LOAD, S_HIT_FILL, S_CACHE_GET, S_CACHE_PUT,
    S_EVENT_APPEND, S_EVENTS_LIST, S_STATS_JOBS, S_STATS_COUNTS,
    S_WS_CHUNKS, S_WS_CACHE_MISSING, S_WS_VEC_FROM_CACHE, S_WS_VEC_DELETE, S_WS_SET_MODEL,
    S_WS_DOC_MODEL,
    S_LEXICAL, S_PAGE_LEXICAL, S_PAGES_BUILD, S_DOCS_KEYS,
    S_ATTRS_DELETE, S_ATTR_INSERT, S_DOC_META_SET, S_DOC_META_GET,
    S_FILTERS_GEN, S_FILTERS_BUMP,
    S_JOB_CONTROL,              //  + sl_store_control_t
    S_WS_PAUSED = S_JOB_CONTROL + SL_STORE_CONTROL_COUNT, S_WS_SET_PAUSED,
    S_DOC_CHUNKS_DROP, S_DOC_PAGES_DROP, S_DOC_UPDATE,
    S_LEASE, S_LEASE_RELEASE, S_WS_BYTES, S_CACHE_USAGE, S_CACHE_EVICT,
    S_SRC_INSERT, S_SRC_UPDATE, S_SRC_ROW, S_SRC_LIST, S_SRC_DELETE, S_SRC_NEXT,
    S_SRC_ITEMS, S_SRC_ITEM_SET, S_SRC_ITEM_DELETE, S_SRC_RUN_PUT, S_SRC_RUNS, S_SRC_RUNS_TRIM,
    S_DOC_STATE, S_DOC_TOMBSTONE, S_DOC_PURGE_CHUNKS, S_DOC_PURGE_PAGES, S_DOCS_DELETING,
    S_COUNT
} s_stmt_id_t;

static const char *s_sql [S_COUNT] = {
    [S_WS_ENSURE] = "INSERT INTO workspaces (name, created_ms) VALUES ($1, $2) "
        "ON CONFLICT (name) DO NOTHING",
    [S_WS_GET] = "SELECT model_id, dim, generation FROM workspaces WHERE name = $1",
    [S_WS_CHUNKING] = "SELECT COALESCE (chunking, '') FROM workspaces WHERE name = $1",
    [S_WS_SET_CHUNKING] = "INSERT INTO workspaces (name, created_ms, chunking) VALUES ($1, $2, $3) "
        "ON CONFLICT (name) DO UPDATE SET chunking = excluded.chunking",
    //  Records the model on first embed, returns what the workspace uses,
    //  and row-locks the workspace until the commit ends
    [S_WS_MODEL] = "INSERT INTO workspaces AS w (name, model_id, dim, created_ms) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET "
        "model_id = COALESCE (w.model_id, EXCLUDED.model_id), "
        "dim = COALESCE (w.dim, EXCLUDED.dim) RETURNING model_id, dim, generation",
    [S_WS_LOCK] = "SELECT generation FROM workspaces WHERE name = $1 FOR NO KEY UPDATE",
    [S_WS_BUMP] = "UPDATE workspaces SET generation = generation + 1 WHERE name = $1 "
        "RETURNING generation",
    //  A job made while its workspace's intake is paused is held from its
    //  first moment: the flag is read in the same transaction
    [S_JOB_CREATE] = "INSERT INTO jobs (id, workspace, source, sha256, mime, options, "
        "created_ms, updated_ms, held) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, "
        "COALESCE ((SELECT paused FROM workspaces WHERE name = $2), 0)) "
        "ON CONFLICT (id) DO NOTHING",
    [S_JOB_GET] = S_JOB_COLS "WHERE id = $1",
    [S_JOB_STATE] = "SELECT state FROM jobs WHERE id = $1",
    [S_JOB_SET_BLOB] = "UPDATE jobs SET sha256 = $2, mime = COALESCE ($3, mime), "
        "updated_ms = $4 WHERE id = $1 AND " S_TERMINAL,
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
    [S_JOB_PROGRESS] = "UPDATE jobs SET percent = $2, updated_ms = $3 "
        "WHERE id = $1 AND " S_TERMINAL,
    [S_JOB_FAIL] = "UPDATE jobs SET state = 'failed', error_stage = $2, error = $3, "
        "updated_ms = $4, lease_owner = NULL, lease_until_ms = NULL "
        "WHERE id = $1 AND " S_TERMINAL,
    [S_JOB_COMPLETE] = "UPDATE jobs SET state = 'completed', percent = 100, "
        "document_id = $2, updated_ms = $3, lease_owner = NULL, lease_until_ms = NULL "
        "WHERE id = $1 AND " S_TERMINAL,
    [S_JOB_ATTEMPT] = "UPDATE jobs SET attempts = attempts + 1, updated_ms = $2 "
        "WHERE id = $1 AND " S_TERMINAL " RETURNING attempts",
    //  One UPDATE: a concurrent claimer waits on the row lock, then re-checks
    //  this guard against the winner's committed row and changes nothing
    [S_JOB_LEASE] = "UPDATE jobs SET lease_owner = $2, lease_until_ms = $4 "
        "WHERE id = $1 AND " S_TERMINAL " AND (lease_owner IS NULL OR lease_owner = $2 "
        "OR lease_until_ms < $3) RETURNING lease_until_ms",
    [S_JOB_LIST] = S_JOB_COLS "WHERE workspace = $1 AND ($2::text IS NULL OR state = $2) "
        "ORDER BY created_ms DESC, id LIMIT $3 OFFSET $4",
    [S_JOBS_UNFINISHED] = S_JOB_COLS "WHERE " S_TERMINAL " AND held = 0 AND updated_ms < $1 "
        "ORDER BY updated_ms LIMIT $2 FOR UPDATE SKIP LOCKED",
    [S_DOC_FIND] = S_DOC_COLS "WHERE workspace = $1 AND sha256 = $2 AND state = 'ready'",
    [S_DOC_GET] = S_DOC_COLS "WHERE workspace = $1 AND id = $2",
    [S_DOC_LIST] = S_DOC_COLS "WHERE workspace = $1 AND state = 'ready' ORDER BY created_ms DESC, id "
        "LIMIT $2 OFFSET $3",
    [S_DOC_COUNT] = "SELECT COUNT(*) FROM documents WHERE workspace = $1 AND state = 'ready'",
    [S_DOC_EXISTS] = "SELECT 1 FROM documents WHERE workspace = $1 AND id = $2",
    [S_DOC_SET_SOURCE] = "UPDATE documents SET source = $3, updated_ms = $4 "
        "WHERE id = $1 AND source = $2",
    //  Locked until the commit ends: the job's state cannot change under it
    [S_TX_JOB] = "SELECT state, created_ms, document_id FROM jobs WHERE id = $1 FOR UPDATE",
    //  Any state but completed: a failed job's late commit completes it
    [S_TX_JOB_COMPLETE] = "UPDATE jobs SET state = 'completed', stage = 'store', percent = 100, "
        "document_id = $2, replaced = $3, duplicate_of = $4, error = NULL, error_stage = NULL, "
        "store_started_ms = COALESCE (store_started_ms, $5), store_finished_ms = $5, "
        "updated_ms = $5, lease_owner = NULL, lease_until_ms = NULL "
        "WHERE id = $1 AND state NOT IN ('completed', 'cancelled')",
    [S_SRC_GET] = "SELECT document_id, since_ms, job_id FROM document_sources "
        "WHERE workspace = $1 AND source = $2",
    //  since_ms only grows, and job_id follows it
    [S_SRC_SET] = "INSERT INTO document_sources AS s (workspace, source, document_id, job_id, "
        "since_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (workspace, source) DO UPDATE SET document_id = EXCLUDED.document_id, "
        "job_id = CASE WHEN EXCLUDED.since_ms >= s.since_ms THEN EXCLUDED.job_id "
        "ELSE s.job_id END, "
        "since_ms = GREATEST (s.since_ms, EXCLUDED.since_ms), updated_ms = EXCLUDED.updated_ms",
    [S_SRC_UNLINK] = "DELETE FROM document_sources WHERE workspace = $1 AND source = $2",
    [S_SRC_FIRST] = "SELECT source FROM document_sources WHERE document_id = $1 "
        "ORDER BY since_ms, source LIMIT 1",
    [S_DOC_INSERT] = "INSERT INTO documents (id, workspace, source, sha256, mime, title, "
        "pages, bytes, chunks, model_id, job_id, created_ms, updated_ms, chunking) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13) "
        "ON CONFLICT (id) DO NOTHING",
    [S_DOC_KEYS] = "SELECT c.rid FROM documents d JOIN chunks c ON c.document_id = d.id "
        "WHERE d.workspace = $1 AND d.id = $2",
    [S_DOC_DELETE] = "DELETE FROM documents WHERE workspace = $1 AND id = $2 RETURNING sha256",
    [S_RIDS] = "SELECT nextval ('chunk_rids') FROM generate_series (1, $1::int)",
    [S_CHUNKS_LIST] = "SELECT id, document_id, ordinal, page_start, page_end, char_start, "
        "char_end, tokens, hash, text, kind, section, ocr_conf, context FROM chunks WHERE document_id = $1 "
        "ORDER BY ordinal LIMIT $2 OFFSET $3",
    [S_BLOB_REF] = "SELECT EXISTS (SELECT 1 FROM documents WHERE sha256 = $1) "
        "OR EXISTS (SELECT 1 FROM documents WHERE pages_blob = $1) "
        "OR EXISTS (SELECT 1 FROM jobs WHERE sha256 = $1 AND " S_TERMINAL ")",
    //  Housekeeping. $1 name, $2 owner, $3 now, $4 until: the guard is
    //  checked on the row the upsert locked, so one claimer wins
    [S_SRC_INSERT] = "INSERT INTO sources (id, workspace, key, row, next_ms, created_ms, updated_ms) "
        "VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING",
    [S_SRC_UPDATE] = "UPDATE sources SET key = $3, row = $4, next_ms = $5, updated_ms = $6 "
        "WHERE id = $1 AND workspace = $2",
    [S_SRC_ROW] = "SELECT row, next_ms FROM sources WHERE id = $1 AND workspace = $2",
    [S_SRC_LIST] = "SELECT COALESCE (json_agg (row::jsonb || jsonb_build_object ('next_ms', next_ms) "
        "ORDER BY created_ms, id)::text, '[]') FROM sources WHERE ($1::text IS NULL OR workspace = $1) "
        "AND ($2::bigint = 0 OR next_ms <= $2)",
    [S_SRC_DELETE] = "DELETE FROM sources WHERE id = $1 AND workspace = $2",
    [S_SRC_NEXT] = "UPDATE sources SET next_ms = $2 WHERE id = $1",
    [S_SRC_ITEMS] = "SELECT COALESCE (json_object_agg (key, evidence::json)::text, '{}') "
        "FROM source_items WHERE source_id = $1",
    [S_SRC_ITEM_SET] = "INSERT INTO source_items (source_id, key, evidence) VALUES ($1, $2, $3) "
        "ON CONFLICT (source_id, key) DO UPDATE SET evidence = excluded.evidence",
    [S_SRC_ITEM_DELETE] = "DELETE FROM source_items WHERE source_id = $1 AND key = $2",
    [S_SRC_RUN_PUT] = "INSERT INTO source_runs (id, source_id, started_ms, row) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (id) DO UPDATE SET row = excluded.row",
    [S_SRC_RUNS] = "SELECT COALESCE (json_agg (r.row::json ORDER BY r.started_ms DESC, r.id DESC)::text, "
        "'[]') FROM (SELECT id, row, started_ms FROM source_runs WHERE source_id = $1 "
        "ORDER BY started_ms DESC, id DESC LIMIT $2) r",
    [S_SRC_RUNS_TRIM] = "DELETE FROM source_runs WHERE source_id = $1 AND id NOT IN (SELECT id FROM "
        "source_runs WHERE source_id = $1 ORDER BY started_ms DESC, id DESC LIMIT $2)",
    [S_LEASE] = "INSERT INTO leases AS l (name, owner, until_ms) VALUES ($1, $2, $4) "
        "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms "
        "WHERE l.owner = excluded.owner OR l.until_ms < $3",
    [S_LEASE_RELEASE] = "DELETE FROM leases WHERE name = $1 AND owner = $2",
    [S_WS_BYTES] = "SELECT COALESCE (SUM (bytes), 0)::bigint FROM documents WHERE workspace = $1",
    //  An entry's size: its vector and its key, as in the SQLite backend
    [S_CACHE_USAGE] = "SELECT COUNT(*), COALESCE (SUM (dim * 4 + length (model_id) "
        "+ length (hash)), 0)::bigint FROM embed_cache",
    //  SKIP LOCKED: entries a concurrent put or evict holds are left for
    //  the next batch rather than waited for
    [S_CACHE_EVICT] = "WITH victims AS (SELECT model_id, hash FROM embed_cache "
        "WHERE created_ms < $1 ORDER BY created_ms LIMIT $2 FOR UPDATE SKIP LOCKED), "
        "gone AS (DELETE FROM embed_cache e USING victims v WHERE e.model_id = v.model_id "
        "AND e.hash = v.hash RETURNING e.dim * 4 + length (e.model_id) + length (e.hash) AS size) "
        "SELECT COUNT(*), COALESCE (SUM (size), 0)::bigint FROM gone",
    //  binary result: rid int8, dim int4, vec bytea
    [S_VEC_LOAD] = "SELECT v.chunk_rid, v.dim, v.vec, d.id FROM documents d "
        "JOIN chunks c ON c.document_id = d.id JOIN vectors v ON v.chunk_rid = c.rid "
        "WHERE d.workspace = $1 AND v.model_id = $2 AND d.state = 'ready'",
    [S_HIT_FILL] = "SELECT c.rid, c.id, c.document_id, c.ordinal, c.page_start, c.page_end, "
        "c.text, d.title, d.source, c.kind, c.section, c.ocr_conf, d.mime FROM chunks c "
        "JOIN documents d ON d.id = c.document_id "
        "WHERE c.rid = ANY ($1::bigint[]) AND d.workspace = $2 AND d.state = 'ready'",
    //  $1 the query's terms, each quoted ('word'); $4 NULL or the document
    //  ids to stay within; $5 the all-words boost. PostgreSQL has no BM25:
    //  this is the closest it offers, computed from its own statistics.
    //  A chunk holding any term matches (OR); it scores the sum over the
    //  terms it holds of idf (BM25's, from the term's chunk count in the
    //  workspace, counted through the GIN index) times BM25's saturated
    //  term frequency r (k1 + 1) / (r + k1), k1 = 1.2, where r is the
    //  term's occurrences in the chunk (ts_rank_cd of one lexeme with unit
    //  weights and no normalisation). No length normalisation (BM25's b =
    //  0): the average chunk length would cost a scan per query, and
    //  chunks are of similar length by construction. A chunk holding every
    //  term is multiplied by $5 as on SQLite, one where two consecutive
    //  terms stand near each other ($6: a tsquery of <N> phrases, parsed
    //  once in the a CTE, both
    //  orders, N up to SL_STORE_NEAR_DISTANCE + 1) by $8; occurrences are
    //  weighted by label ($7: {D, C, B = section, A = text}). Second column:
    //  that score over the terms' idf sum (NULL: no idf at all)
    //  (a search's filter goes between the two halves, parameters from $9)
    [S_LEXICAL] = S_LEXICAL_HEAD S_LEXICAL_TAIL,
    //  The chunks of the best $3 pages for $1 (scored as S_LEXICAL scores
    //  chunks, with the pages' statistics: N is the workspace's page
    //  count), each with its page's share; $4 NULL or document ids (a
    //  search's filter between the halves, parameters from $5)
    [S_PAGE_LEXICAL] = S_PAGE_LEXICAL_HEAD S_PAGE_LEXICAL_TAIL,
    //  A committed document's pages from its chunks ($1 its id)
    [S_PAGES_BUILD] = "INSERT INTO pages (document_id, page, text) SELECT document_id, "
        "page_start, string_agg (text, E'\\n' ORDER BY ordinal) FROM chunks "
        "WHERE document_id = $1 GROUP BY document_id, page_start "
        "ON CONFLICT (document_id, page) DO NOTHING",
    //  $2 document ids or NULL (a search's filter goes between the halves,
    //  parameters from $3)
    [S_DOCS_KEYS] = S_DOCS_KEYS_HEAD S_DOCS_KEYS_TAIL,
    //  Attributes (tx_doc_attrs): the document's text, then its rows
    [S_DOC_META_SET] = "UPDATE documents SET meta = $3, updated_ms = $4 "
        "WHERE workspace = $1 AND id = $2",
    [S_DOC_META_GET] = "SELECT meta FROM documents WHERE workspace = $1 AND id = $2 FOR UPDATE",
    [S_ATTRS_DELETE] = "DELETE FROM doc_attrs WHERE document_id = $1",
    [S_FILTERS_GEN] = "SELECT filters_gen FROM workspaces WHERE name = $1",
    [S_FILTERS_BUMP] = "UPDATE workspaces SET filters_gen = filters_gen + 1 WHERE name = $1",
    [S_ATTR_INSERT] = "INSERT INTO doc_attrs (workspace, document_id, key, vtype, vtext, vnum) "
        "VALUES ($1, $2, $3, $4, $5, $6::float8)",
    //  binary result: i int8 (1-based position in $2), dim int4, vec bytea
    [S_CACHE_GET] = "SELECT u.i, c.dim, c.vec FROM unnest ($2::text[]) WITH ORDINALITY "
        "AS u (hash, i) JOIN embed_cache c ON c.model_id = $1 AND c.hash = u.hash",
    //  $4 holds all vectors back to back, $5 bytes each. Rows go in in hash
    //  order: two processes inserting overlapping batches then wait on each
    //  other's keys in the same order, never in a cycle (deadlock)
    [S_CACHE_PUT] = "INSERT INTO embed_cache (model_id, hash, dim, vec, created_ms) "
        "SELECT $1, u.hash, $3, substring ($4::bytea FROM ((u.i - 1) * $5::int + 1)::int "
        "FOR $5::int), $6 FROM unnest ($2::text[]) WITH ORDINALITY AS u (hash, i) "
        "ORDER BY u.hash ON CONFLICT DO NOTHING",
    [S_EVENT_APPEND] = "WITH n AS (INSERT INTO event_seqs AS s (job_id, seq) VALUES ($1, 1) "
        "ON CONFLICT (job_id) DO UPDATE SET seq = s.seq + 1 RETURNING seq) "
        "INSERT INTO events (job_id, seq, type, data, ts) SELECT $1, n.seq, $2, $3, $4 "
        "FROM n RETURNING seq",
    [S_EVENTS_LIST] = "SELECT seq, type, data, ts FROM events WHERE job_id = $1 AND seq > $2 "
        "ORDER BY seq LIMIT $3",
    [S_STATS_JOBS] = "SELECT state, COUNT(*) FROM jobs GROUP BY state",
    [S_STATS_COUNTS] = "SELECT (SELECT COUNT(*) FROM workspaces), "
        "(SELECT COUNT(*) FROM documents), "
        "(SELECT COUNT(*) FROM chunks), (SELECT COUNT(*) FROM vectors), "
        "(SELECT COUNT(*) FROM embed_cache)",
    //  Re-embedding: a workspace's chunks in key order, and the writes
    //  what was embedded: the context, a blank line, the text
    [S_WS_CHUNKS] = "SELECT c.rid, CASE WHEN c.context = '' THEN c.text "
        "ELSE c.context || E'\\n\\n' || c.text END FROM documents d JOIN chunks c "
        "ON c.document_id = d.id WHERE d.workspace = $1 AND c.rid > $2 ORDER BY c.rid LIMIT $3",
    //  (chunks of the workspace, how many of them are in $2): both equal
    //  to the number of keys means the keys are exactly its chunks
    //  Chunks of workspace $1 with no vector of model $2, dim $3 in the cache
    [S_WS_CACHE_MISSING] = "SELECT COUNT(*) FROM documents d JOIN chunks c "
        "ON c.document_id = d.id LEFT JOIN embed_cache e ON e.model_id = $2 "
        "AND e.hash = c.hash AND e.dim = $3 WHERE d.workspace = $1 AND e.hash IS NULL",
    [S_WS_VEC_FROM_CACHE] = "INSERT INTO vectors (chunk_rid, model_id, dim, vec) "
        "SELECT c.rid, $2, $3, e.vec FROM documents d JOIN chunks c ON c.document_id = d.id "
        "JOIN embed_cache e ON e.model_id = $2 AND e.hash = c.hash AND e.dim = $3 "
        "WHERE d.workspace = $1",
    [S_WS_VEC_DELETE] = "DELETE FROM vectors v USING chunks c, documents d "
        "WHERE v.chunk_rid = c.rid AND c.document_id = d.id AND d.workspace = $1",
    [S_WS_SET_MODEL] = "UPDATE workspaces SET model_id = $2, dim = $3 WHERE name = $1",
    [S_WS_DOC_MODEL] = "UPDATE documents SET model_id = $2, updated_ms = $3 "
        "WHERE workspace = $1 AND model_id IS NOT NULL",
    //  Job control: $1 id, $2 workspace, $3 now. Each is one guarded
    //  UPDATE; a commit holds the job's row lock (S_TX_JOB), so the two
    //  are ordered: whichever writes first wins
    [S_JOB_CONTROL + SL_STORE_CANCEL] = "UPDATE jobs SET state = 'cancelled', held = 0, "
        "updated_ms = $3, lease_owner = NULL, lease_until_ms = NULL "
        "WHERE id = $1 AND workspace = $2 AND " S_TERMINAL,
    [S_JOB_CONTROL + SL_STORE_RESTART] = "UPDATE jobs SET " S_RESTART ", held = 0 "
        "WHERE id = $1 AND workspace = $2 AND state IN ('failed', 'cancelled')",
    [S_JOB_CONTROL + SL_STORE_RESTART_HELD] = "UPDATE jobs SET " S_RESTART ", held = 1 "
        "WHERE id = $1 AND workspace = $2 AND state IN ('failed', 'cancelled')",
    [S_JOB_CONTROL + SL_STORE_HOLD] = "UPDATE jobs SET held = 1, updated_ms = $3 "
        "WHERE id = $1 AND workspace = $2 AND state = 'queued' AND held = 0",
    [S_JOB_CONTROL + SL_STORE_RELEASE] = "UPDATE jobs SET held = 0, updated_ms = $3 "
        "WHERE id = $1 AND workspace = $2 AND state = 'queued' AND held = 1",
    [S_WS_PAUSED] = "SELECT paused FROM workspaces WHERE name = $1",
    //  A reprocess: the document's chunks go (vectors by cascade), then its
    //  pages; $3.. NULL keeps what it has
    [S_DOC_CHUNKS_DROP] = "DELETE FROM chunks WHERE document_id = $1",
    [S_DOC_PAGES_DROP] = "DELETE FROM pages WHERE document_id = $1",
    //  Deletion (sl_store_document_tombstone / _purge): the state a search
    //  filters on, then the document's rows a bounded batch at a time
    [S_DOC_STATE] = "SELECT state FROM documents WHERE workspace = $1 AND id = $2 FOR UPDATE",
    [S_DOC_TOMBSTONE] = "UPDATE documents SET state = 'deleting', updated_ms = $3 "
        "WHERE workspace = $1 AND id = $2",
    [S_DOC_PURGE_CHUNKS] = "DELETE FROM chunks WHERE rid IN (SELECT rid FROM chunks "
        "WHERE document_id = $1 LIMIT $2)",
    [S_DOC_PURGE_PAGES] = "DELETE FROM pages WHERE rid IN (SELECT rid FROM pages "
        "WHERE document_id = $1 LIMIT $2)",
    [S_DOCS_DELETING] = "SELECT COALESCE (json_agg (json_build_array (workspace, id))::text, '[]') "
        "FROM (SELECT workspace, id FROM documents WHERE state = 'deleting' "
        "ORDER BY updated_ms LIMIT $1) d",
    [S_DOC_UPDATE] = "UPDATE documents SET chunks = COALESCE ($3::integer, chunks), "
        "model_id = COALESCE ($4, model_id), chunking = COALESCE ($5, chunking), "
        "pages_blob = COALESCE ($6, pages_blob), updated_ms = $7 WHERE workspace = $1 AND id = $2",
    [S_WS_SET_PAUSED] = "INSERT INTO workspaces (name, created_ms, paused) VALUES ($1, $2, $3) "
        "ON CONFLICT (name) DO UPDATE SET paused = excluded.paused",
};

#define S_COPY_CHUNKS "COPY chunks (rid, id, document_id, ordinal, page_start, page_end, " \
    "char_start, char_end, tokens, hash, text, kind, section, ocr_conf, context) " \
    "FROM STDIN (FORMAT binary)"
#define S_COPY_VECTORS "COPY vectors (chunk_rid, model_id, dim, vec) FROM STDIN (FORMAT binary)"

//  --------------------------------------------------------------------------
//  Connections and the pool

typedef struct s_conn_s {
    PGconn *pg;
    void *owner;                //  the s_pg_t whose pool it belongs to
    bool prepared [S_COUNT];
    int epoch;                  //  the pool's loss epoch when (re)connected
    struct s_conn_s *next;      //  free list
} s_conn_t;

typedef struct {
    char *url;                  //  as configured (may hold a password)
    char *display;              //  url with any password masked, for messages
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    s_conn_t *idle;             //  free list
    int open;                   //  connections opened (idle or in use)
    int epoch;                  //  bumped on each lost connection (atomic)
} s_pg_t;

//  Copy of url with the password (user:PASSWORD@ or password=...) masked.
static char *
s_redact (const char *url)
{
    char *copy = strdup (url);
    assert (copy);
    char *scheme = strstr (copy, "://");
    if (scheme) {
        char *user = scheme + 3;
        char *end = user + strcspn (user, "/?#");
        char *at = NULL;
        for (char *p = user; p < end; p++)
            if (*p == '@')
                at = p;
        char *colon = at ? memchr (user, ':', (size_t) (at - user)) : NULL;
        if (colon && at - colon > 1) {
            memmove (colon + 4, at, strlen (at) + 1);
            memcpy (colon + 1, "***", 3);
        }
    }
    char *password = strstr (copy, "password=");
    if (password) {
        char *value = password + 9;
        char *end = value + strcspn (value, "& ");
        if (end > value) {
            memmove (value + 3, end, strlen (end) + 1);
            memcpy (value, "***", 3);
        }
    }
    return copy;
}

//  libpq messages end in newlines and may span lines: make one line
static const char *
s_oneline (const char *msg, char *buf, size_t size)
{
    snprintf (buf, size, "%s", msg ? msg : "");
    size_t len = strlen (buf);
    while (len > 0 && (buf [len - 1] == '\n' || buf [len - 1] == ' '))
        buf [--len] = 0;
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    return *buf ? buf : "unknown error";
}

//  Server notices ("relation already exists, skipping") go to debug, not
//  to libpq's default of raw stderr lines
static void
s_notice (void *arg, const PGresult *res)
{
    char line [512];
    sl_debug (NULL, "store: postgres notice: %s",
              s_oneline (PQresultErrorMessage (res), line, sizeof line));
}

static PGconn *
s_connect (const char *url)
{
    //  Defaults first: keywords from the URL (expanded at "dbname") win
    const char *keys [] = { "connect_timeout", "application_name", "client_encoding",
                            "dbname", NULL };
    const char *values [] = { "10", "sluice", "UTF8", url, NULL };
    PGconn *pg = PQconnectdbParams (keys, values, 1);
    assert (pg);                //  NULL only when out of memory
    if (PQstatus (pg) == CONNECTION_OK)
        PQsetNoticeReceiver (pg, s_notice, NULL);
    return pg;
}

static s_conn_t *
s_conn_open (s_pg_t *self)
{
    PGconn *pg = s_connect (self->url);
    if (PQstatus (pg) != CONNECTION_OK) {
        char line [512];
        sl_store_set_errmsg ("cannot connect to PostgreSQL at %s: %s", self->display,
                             s_oneline (PQerrorMessage (pg), line, sizeof line));
        PQfinish (pg);
        return NULL;
    }
    s_conn_t *c = calloc (1, sizeof *c);
    assert (c);
    c->pg = pg;
    c->owner = self;
    c->epoch = __atomic_load_n (&self->epoch, __ATOMIC_ACQUIRE);
    return c;
}

//  Reconnect c; its prepared statements are gone. lost: c broke under
//  us, so the others may have too (a server restart leaves every idle
//  connection dead but looking healthy): bump the epoch, and s_acquire
//  reconnects each older connection before its next use, so a write never
//  goes out on a connection known to predate the loss.
static int
s_reset (s_pg_t *self, s_conn_t *c, bool lost)
{
    if (lost)
        __atomic_add_fetch (&self->epoch, 1, __ATOMIC_ACQ_REL);
    memset (c->prepared, 0, sizeof c->prepared);
    c->epoch = __atomic_load_n (&self->epoch, __ATOMIC_ACQUIRE);
    PQreset (c->pg);
    if (PQstatus (c->pg) != CONNECTION_OK) {
        char line [512];
        c->epoch = -1;          //  try again next time
        sl_store_set_errmsg ("lost the connection to PostgreSQL at %s and cannot reconnect "
                             "(is the server down?): %s", self->display,
                             s_oneline (PQerrorMessage (c->pg), line, sizeof line));
        return -1;
    }
    PQsetNoticeReceiver (c->pg, s_notice, NULL);
    sl_info (NULL, "store: reconnected to PostgreSQL at %s", self->display);
    return 0;
}

static void s_rollback (s_conn_t *c);

static void
s_release (s_pg_t *self, s_conn_t *c)
{
    s_rollback (c);             //  never pool a connection inside a transaction
    pthread_mutex_lock (&self->pool_lock);
    c->next = self->idle;
    self->idle = c;
    pthread_cond_signal (&self->pool_cond);
    pthread_mutex_unlock (&self->pool_lock);
}

//  Take a working connection: an idle one (reset if it broke), a new one,
//  or wait for one. NULL (message set) if the server cannot be reached.
static s_conn_t *
s_acquire (s_pg_t *self)
{
    pthread_mutex_lock (&self->pool_lock);
    while (!self->idle && self->open >= S_POOL_MAX)
        pthread_cond_wait (&self->pool_cond, &self->pool_lock);
    s_conn_t *c = self->idle;
    if (c) {
        self->idle = c->next;
        pthread_mutex_unlock (&self->pool_lock);
        //  epoch -1: its last reset failed, a loss already counted
        bool broken = PQstatus (c->pg) != CONNECTION_OK;
        if ((broken || c->epoch != __atomic_load_n (&self->epoch, __ATOMIC_ACQUIRE))
        &&  s_reset (self, c, broken && c->epoch >= 0)) {
            s_release (self, c);    //  kept: the next call tries to reset it again
            return NULL;
        }
        return c;
    }
    self->open++;
    pthread_mutex_unlock (&self->pool_lock);

    c = s_conn_open (self);
    if (!c) {
        pthread_mutex_lock (&self->pool_lock);
        self->open--;
        pthread_cond_signal (&self->pool_cond);
        pthread_mutex_unlock (&self->pool_lock);
    }
    return c;
}

static void
s_conn_close (s_conn_t *c)
{
    PQfinish (c->pg);
    free (c);
}

//  --------------------------------------------------------------------------
//  Statement helpers

//  Parameters of one statement: text, int (sent as text) or binary
typedef struct {
    int n;
    const char *values [S_PARAMS_MAX];
    int lengths [S_PARAMS_MAX];
    int formats [S_PARAMS_MAX];
    char ints [S_PARAMS_MAX][24];
} s_params_t;

static void
s_p_text (s_params_t *p, const char *value)
{
    assert (p->n < S_PARAMS_MAX);
    p->values [p->n] = value;               //  NULL is SQL NULL
    p->lengths [p->n] = 0;
    p->formats [p->n++] = 0;
}

static void
s_p_int (s_params_t *p, int64_t value)
{
    assert (p->n < S_PARAMS_MAX);
    snprintf (p->ints [p->n], sizeof p->ints [p->n], "%lld", (long long) value);
    s_p_text (p, p->ints [p->n]);
}

static void
s_p_bytes (s_params_t *p, const void *data, size_t size)
{
    assert (p->n < S_PARAMS_MAX);
    assert (size <= 0x7fffffff);
    p->values [p->n] = data;
    p->lengths [p->n] = (int) size;
    p->formats [p->n++] = 1;
}

//  Record a failed statement's error. Returns SL_STORE_ERROR.
static int
s_fail (s_pg_t *self, s_conn_t *c, const PGresult *res, const char *what)
{
    char line [512];
    if (PQstatus (c->pg) != CONNECTION_OK) {
        sl_store_set_errmsg ("postgres: %s: lost the connection to %s: %s", what,
                             self->display, s_oneline (PQerrorMessage (c->pg), line, sizeof line));
        return SL_STORE_ERROR;
    }
    const char *state = res ? PQresultErrorField (res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    //  23505: say UNIQUE in the same words as SQLite, for operators and tests
    sl_store_set_errmsg ("postgres: %s: %s%s (SQLSTATE %s)", what,
                         state && strcmp (state, "23505") == 0 ? "UNIQUE constraint failed: " : "",
                         s_oneline (msg ? msg : PQerrorMessage (c->pg), line, sizeof line),
                         state ? state : "none");
    return SL_STORE_ERROR;
}

//  Prepare statement id on this connection if it is not yet. NULL on
//  success, else the failed result (caller reports and clears it).
static PGresult *
s_prepare (s_conn_t *c, s_stmt_id_t id, char name [16])
{
    snprintf (name, 16, "sl%d", (int) id);
    if (c->prepared [id])
        return NULL;
    PGresult *res = PQprepare (c->pg, name, s_sql [id], 0, NULL);
    if (PQresultStatus (res) == PGRES_COMMAND_OK) {
        PQclear (res);
        c->prepared [id] = true;
        return NULL;
    }
    return res ? res : PQmakeEmptyPGresult (c->pg, PGRES_FATAL_ERROR);
}

//  A statement that changes nothing can be sent again after the connection
//  broke under it; a write cannot (it may have committed).
static bool
s_retry_safe (s_stmt_id_t id)
{
    return strncmp (s_sql [id], "SELECT", 6) == 0 && id != S_JOBS_UNFINISHED
        && id != S_WS_LOCK && id != S_RIDS && id != S_TX_JOB;
}

//  Run statement id with parameters p; rows in text (binary false) or
//  binary format. Returns the result (caller clears it) or NULL with the
//  message set.
static PGresult *
s_exec (s_pg_t *self, s_conn_t *c, s_stmt_id_t id, const s_params_t *p, bool binary,
        const char *what)
{
    for (int attempt = 0; ; attempt++) {
        bool idle = PQtransactionStatus (c->pg) == PQTRANS_IDLE;
        char name [16];
        PGresult *res = s_prepare (c, id, name);
        if (!res)
            res = PQexecPrepared (c->pg, name, p ? p->n : 0, p ? p->values : NULL,
                                  p ? p->lengths : NULL, p ? p->formats : NULL, binary ? 1 : 0);
        ExecStatusType status = PQresultStatus (res);
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
            return res;
        if (attempt == 0 && idle && PQstatus (c->pg) != CONNECTION_OK && s_retry_safe (id)) {
            PQclear (res);
            if (s_reset (self, c, true))
                return NULL;
            continue;
        }
        s_fail (self, c, res, what);
        PQclear (res);
        return NULL;
    }
}

//  Run a statement for its row count (UPDATE, DELETE, INSERT). Returns
//  the number of rows changed, or SL_STORE_ERROR.
static int
s_exec_count (s_pg_t *self, s_conn_t *c, s_stmt_id_t id, const s_params_t *p, const char *what)
{
    PGresult *res = s_exec (self, c, id, p, false, what);
    if (!res)
        return SL_STORE_ERROR;
    int changed = atoi (PQcmdTuples (res));
    PQclear (res);
    return changed;
}

//  Run a parameterless command (BEGIN, COMMIT, ...). 0 or ERROR.
static int
s_command (s_pg_t *self, s_conn_t *c, const char *sql)
{
    PGresult *res = PQexec (c->pg, sql);
    int rc = PQresultStatus (res) == PGRES_COMMAND_OK ? 0 : s_fail (self, c, res, sql);
    PQclear (res);
    return rc;
}

//  Begin a transaction: read-write (READ COMMITTED), or a read-only
//  snapshot (REPEATABLE READ) so several reads agree with each other.
//  BEGIN changes nothing, so a broken connection is reset and BEGIN retried.
static int
s_begin (s_pg_t *self, s_conn_t *c, bool snapshot)
{
    const char *sql = snapshot ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN";
    PGresult *res = PQexec (c->pg, sql);
    if (PQresultStatus (res) != PGRES_COMMAND_OK && PQstatus (c->pg) != CONNECTION_OK) {
        PQclear (res);
        if (s_reset (self, c, true))
            return SL_STORE_ERROR;
        res = PQexec (c->pg, sql);
    }
    int rc = PQresultStatus (res) == PGRES_COMMAND_OK ? 0 : s_fail (self, c, res, sql);
    PQclear (res);
    return rc;
}

static void
s_rollback (s_conn_t *c)
{
    //  Nothing to roll back if the server already ended it or went away
    PGTransactionStatusType status = PQtransactionStatus (c->pg);
    if (status == PQTRANS_INTRANS || status == PQTRANS_INERROR)
        PQclear (PQexec (c->pg, "ROLLBACK"));
}

//  Commit if rc is 0, else roll back. Returns the final rc.
static int
s_end (s_pg_t *self, s_conn_t *c, int rc)
{
    if (rc == 0) {
        rc = s_command (self, c, "COMMIT");
        if (rc)
            s_rollback (c);
    }
    else
        s_rollback (c);
    return rc;
}

static char *
s_dup (const PGresult *res, int row, int col)
{
    if (PQgetisnull (res, row, col))
        return NULL;
    char *copy = strdup (PQgetvalue (res, row, col));
    assert (copy);
    return copy;
}

static void
s_copy (const PGresult *res, int row, int col, char *buf, size_t size)
{
    snprintf (buf, size, "%s", PQgetvalue (res, row, col));    //  "" if NULL
}

static int64_t
s_i64 (const PGresult *res, int row, int col)
{
    return PQgetisnull (res, row, col) ? 0 : strtoll (PQgetvalue (res, row, col), NULL, 10);
}

static int
s_int (const PGresult *res, int row, int col)
{
    return (int) s_i64 (res, row, col);
}

//  Binary-format integers arrive in network byte order
static int64_t
s_be64 (const char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | (uint8_t) p [i];
    return (int64_t) v;
}

static int32_t
s_be32 (const char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = (v << 8) | (uint8_t) p [i];
    return (int32_t) v;
}

//  Vectors are stored as float32 little-endian whatever the host is
static void
s_vec_decode (const char *bytes, float *out, int dim)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy (out, bytes, (size_t) dim * sizeof (float));
#else
    for (int i = 0; i < dim; i++) {
        uint32_t v = 0;
        for (int b = 3; b >= 0; b--)
            v = (v << 8) | (uint8_t) bytes [i * 4 + b];
        memcpy (&out [i], &v, 4);
    }
#endif
}

//  Little-endian bytes of n floats: the input itself on a little-endian
//  host, else a converted copy in *tmp (caller frees *tmp).
static const void *
s_vec_encode (const float *vectors, size_t n, void **tmp)
{
    *tmp = NULL;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return vectors;
#else
    uint8_t *out = malloc (n * 4);
    assert (out);
    for (size_t i = 0; i < n; i++) {
        uint32_t v;
        memcpy (&v, &vectors [i], 4);
        for (int b = 0; b < 4; b++)
            out [i * 4 + b] = (uint8_t) (v >> (8 * b));
    }
    *tmp = out;
    return out;
#endif
}

//  A PostgreSQL array literal of n strings ({"a","b\"c"}): a parameter
//  value, never SQL. Caller frees.
static char *
s_text_array (const char **items, int n)
{
    size_t size = 3;
    for (int i = 0; i < n; i++)
        size += 2 * strlen (items [i]) + 3;
    char *out = malloc (size);
    assert (out);
    char *p = out;
    *p++ = '{';
    for (int i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        *p++ = '"';
        for (const char *s = items [i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                *p++ = '\\';
            *p++ = *s;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = 0;
    return out;
}

//  A bigint array literal ({1,2,3}) of n keys. Caller frees.
static char *
s_int_array (const int64_t *keys, size_t stride, int n)
{
    char *out = malloc ((size_t) n * 21 + 3);
    assert (out);
    char *p = out;
    *p++ = '{';
    for (int i = 0; i < n; i++) {
        int64_t key;
        memcpy (&key, (const char *) keys + (size_t) i * stride, sizeof key);
        p += sprintf (p, i ? ",%lld" : "%lld", (long long) key);
    }
    *p++ = '}';
    *p = 0;
    return out;
}

//  --------------------------------------------------------------------------
//  Binary COPY: a growable buffer of rows in PostgreSQL's binary format,
//  flushed to the server every S_COPY_FLUSH bytes

typedef struct {
    char *data;
    size_t size;
    size_t cap;
    bool oom;                   //  a row did not fit in memory: the COPY fails
} s_buf_t;

static void
s_put (s_buf_t *b, const void *data, size_t size)
{
    if (b->oom)
        return;
    if (b->size + size > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->size + size)
            cap *= 2;
        char *grown = realloc (b->data, cap);
        if (!grown) {
            b->oom = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy (b->data + b->size, data, size);
    b->size += size;
}

static void
s_put_be (s_buf_t *b, uint64_t value, int bytes)
{
    uint8_t out [8];
    for (int i = 0; i < bytes; i++)
        out [i] = (uint8_t) (value >> (8 * (bytes - 1 - i)));
    s_put (b, out, (size_t) bytes);
}

static void
s_field_text (s_buf_t *b, const char *text)
{
    if (!text) {
        s_put_be (b, 0xffffffffu, 4);       //  NULL
        return;
    }
    size_t len = strlen (text);
    s_put_be (b, len, 4);
    s_put (b, text, len);
}

static void
s_field_i32 (s_buf_t *b, int32_t value)
{
    s_put_be (b, 4, 4);
    s_put_be (b, (uint32_t) value, 4);
}

static void
s_field_i64 (s_buf_t *b, int64_t value)
{
    s_put_be (b, 8, 4);
    s_put_be (b, (uint64_t) value, 8);
}

static int
s_copy_begin (s_pg_t *self, s_conn_t *c, const char *sql, s_buf_t *b, const char *what)
{
    PGresult *res = PQexec (c->pg, sql);
    int rc = PQresultStatus (res) == PGRES_COPY_IN ? 0 : s_fail (self, c, res, what);
    PQclear (res);
    b->size = 0;
    if (rc == 0) {
        s_put (b, "PGCOPY\n\377\r\n\0", 11);
        s_put_be (b, 0, 4);             //  flags
        s_put_be (b, 0, 4);             //  header extension length
    }
    return rc;
}

static int
s_copy_flush (s_pg_t *self, s_conn_t *c, s_buf_t *b, const char *what)
{
    int rc = 0;
    if (b->oom) {
        sl_store_set_errmsg ("postgres: %s: out of memory for a row", what);
        rc = SL_STORE_ERROR;
    }
    else
    if (b->size > 0 && PQputCopyData (c->pg, b->data, (int) b->size) != 1)
        rc = s_fail (self, c, NULL, what);
    b->size = 0;
    return rc;
}

//  Finish a COPY: send the trailer (or abort it if rc != 0) and collect
//  the server's verdict (constraint errors arrive here).
static int
s_copy_end (s_pg_t *self, s_conn_t *c, s_buf_t *b, int rc, const char *what)
{
    if (rc == 0) {
        s_put_be (b, 0xffff, 2);
        rc = s_copy_flush (self, c, b, what);
    }
    if (PQputCopyEnd (c->pg, rc == 0 ? NULL : "sluice: commit abandoned") != 1 && rc == 0)
        rc = s_fail (self, c, NULL, what);
    PGresult *res;
    while ((res = PQgetResult (c->pg))) {
        if (PQresultStatus (res) != PGRES_COMMAND_OK && rc == 0)
            rc = s_fail (self, c, res, what);
        PQclear (res);
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  Jobs

static void
s_job_read (const PGresult *res, int row, sl_store_job_t *job)
{
    memset (job, 0, sizeof *job);
    s_copy (res, row, 0, job->id, sizeof job->id);
    s_copy (res, row, 1, job->workspace, sizeof job->workspace);
    job->source = s_dup (res, row, 2);
    s_copy (res, row, 3, job->sha256, sizeof job->sha256);
    job->mime = s_dup (res, row, 4);
    int state = sl_store_state_parse (PQgetvalue (res, row, 5));
    job->state = state < 0 ? SL_STORE_QUEUED : (sl_store_state_t) state;
    job->stage = PQgetisnull (res, row, 6) ? SL_STORE_STAGE_NONE
                                            : sl_store_stage_parse (PQgetvalue (res, row, 6));
    job->percent = s_int (res, row, 7);
    job->attempts = s_int (res, row, 8);
    job->error_stage = PQgetisnull (res, row, 9) ? SL_STORE_STAGE_NONE
                                                  : sl_store_stage_parse (PQgetvalue (res, row, 9));
    job->error = s_dup (res, row, 10);
    s_copy (res, row, 11, job->document_id, sizeof job->document_id);
    job->created_ms = s_i64 (res, row, 12);
    job->updated_ms = s_i64 (res, row, 13);
    for (int s = 0; s < SL_STORE_STAGE_COUNT; s++) {
        job->started_ms [s] = s_i64 (res, row, 14 + 2 * s);
        job->finished_ms [s] = s_i64 (res, row, 15 + 2 * s);
    }
    job->lease_owner = s_dup (res, row, 24);
    job->lease_until_ms = s_i64 (res, row, 25);
    job->options = s_dup (res, row, 26);
    s_copy (res, row, 27, job->replaced, sizeof job->replaced);
    s_copy (res, row, 28, job->duplicate_of, sizeof job->duplicate_of);
    job->held = s_int (res, row, 29) != 0;
    job->run = s_int (res, row, 30);
}

//  Why did a guarded job UPDATE change nothing? NOT_FOUND or TERMINAL, or
//  `otherwise` if the job is still live (e.g. a lease held elsewhere).
static int
s_job_why (s_pg_t *self, s_conn_t *c, const char *job_id, int otherwise)
{
    s_params_t p = { 0 };
    s_p_text (&p, job_id);
    PGresult *res = s_exec (self, c, S_JOB_STATE, &p, false, "job state");
    if (!res)
        return SL_STORE_ERROR;
    int rc;
    if (PQntuples (res) > 0) {
        const char *state = PQgetvalue (res, 0, 0);
        bool terminal = sl_store_state_terminal (sl_store_state_parse (state));
        rc = terminal ? SL_STORE_TERMINAL : otherwise;
        if (terminal)
            sl_store_set_errmsg ("job %s is already %s", job_id, state);
        else
        if (otherwise == SL_STORE_BUSY)
            sl_store_set_errmsg ("job %s is leased by another owner", job_id);
        else
            sl_store_set_errmsg ("job %s: nothing changed", job_id);
    }
    else {
        sl_store_set_errmsg ("no job %s", job_id);
        rc = SL_STORE_NOT_FOUND;
    }
    PQclear (res);
    return rc;
}

//  Run a guarded job UPDATE on a fresh connection and classify "nothing
//  changed"; releases nothing (the caller owns c).
static int
s_job_update (s_pg_t *self, s_conn_t *c, s_stmt_id_t id, const s_params_t *p,
              const char *job_id, int otherwise, const char *what)
{
    int changed = s_exec_count (self, c, id, p, what);
    if (changed < 0)
        return changed;
    return changed > 0 ? SL_STORE_OK : s_job_why (self, c, job_id, otherwise);
}

//  Acquire, run one guarded job UPDATE, release.
static int
s_job_write (s_pg_t *self, s_stmt_id_t id, const s_params_t *p, const char *job_id,
             int otherwise, const char *what)
{
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    int rc = s_job_update (self, c, id, p, job_id, otherwise, what);
    s_release (self, c);
    return rc;
}

static int
s_job_create (void *backend, const char *job_id, const char *workspace, const char *source,
              const char *sha256, const char *mime, const char *options_json, int64_t now_ms)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    int rc = s_begin (self, c, false);
    if (rc == 0) {
        s_params_t p = { 0 };
        s_p_text (&p, workspace);
        s_p_int (&p, now_ms);
        rc = s_exec_count (self, c, S_WS_ENSURE, &p, "ensure workspace") < 0 ? SL_STORE_ERROR : 0;
        if (rc == 0) {
            p = (s_params_t) { 0 };
            s_p_text (&p, job_id);
            s_p_text (&p, workspace);
            s_p_text (&p, source);
            s_p_text (&p, sha256);
            s_p_text (&p, mime);
            s_p_text (&p, options_json);
            s_p_int (&p, now_ms);
            rc = s_exec_count (self, c, S_JOB_CREATE, &p, "create job") < 0 ? SL_STORE_ERROR : 0;
        }
        rc = s_end (self, c, rc);
    }
    s_release (self, c);
    return rc;
}

static int
s_job_get (void *backend, const char *job_id, sl_store_job_t *job)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    s_params_t p = { 0 };
    s_p_text (&p, job_id);
    PGresult *res = s_exec (self, c, S_JOB_GET, &p, false, "get job");
    int rc = SL_STORE_ERROR;
    if (res && PQntuples (res) > 0) {
        s_job_read (res, 0, job);
        rc = SL_STORE_OK;
    }
    else
    if (res) {
        sl_store_set_errmsg ("no job %s", job_id);
        rc = SL_STORE_NOT_FOUND;
    }
    PQclear (res);
    s_release (self, c);
    return rc;
}

static int
s_job_set_blob (void *backend, const char *job_id, const char *sha256, const char *mime,
                int64_t now_ms)
{
    s_params_t p = { 0 };
    s_p_text (&p, job_id);
    s_p_text (&p, sha256);
    s_p_text (&p, mime);
    s_p_int (&p, now_ms);
    return s_job_write (backend, S_JOB_SET_BLOB, &p, job_id, SL_STORE_ERROR, "set job blob");
}

static int
s_job_stage (void *backend, const char *job_id, sl_store_stage_t stage, sl_store_step_t step,
             int64_t now_ms)
{
    s_params_t p = { 0 };
    s_p_text (&p, job_id);
    if (step == SL_STORE_STARTED) {
        s_p_text (&p, sl_store_state_name ((sl_store_state_t) (stage + 1)));
        s_p_text (&p, sl_store_stage_name (stage));
    }
    s_p_int (&p, now_ms);
    s_stmt_id_t id = (step == SL_STORE_STARTED ? S_JOB_STARTED : S_JOB_FINISHED) + stage;
    return s_job_write (backend, id, &p, job_id, SL_STORE_ERROR, "job stage");
}

static int
s_job_progress (void *backend, const char *job_id, int percent, int64_t now_ms)
{
    s_params_t p = { 0 };
    s_p_text (&p, job_id);
    s_p_int (&p, percent);
    s_p_int (&p, now_ms);
    return s_job_write (backend, S_JOB_PROGRESS, &p, job_id, SL_STORE_ERROR, "job progress");
}

static int
s_job_fail (void *backend, const char *job_id, sl_store_stage_t stage, const char *reason,
            int64_t now_ms)
{
    s_params_t p = { 0 };
    s_p_text (&p, job_id);
    s_p_text (&p, stage == SL_STORE_STAGE_NONE ? NULL : sl_store_stage_name (stage));
    s_p_text (&p, reason);
    s_p_int (&p, now_ms);
    return s_job_write (backend, S_JOB_FAIL, &p, job_id, SL_STORE_ERROR, "fail job");
}

static int
s_job_complete (void *backend, const char *job_id, const char *document_id, int64_t now_ms)
{
    s_params_t p = { 0 };
    s_p_text (&p, job_id);
    s_p_text (&p, document_id);
    s_p_int (&p, now_ms);
    return s_job_write (backend, S_JOB_COMPLETE, &p, job_id, SL_STORE_ERROR, "complete job");
}

static int
s_job_attempt (void *backend, const char *job_id, int *attempts_out, int64_t now_ms)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    s_params_t p = { 0 };
    s_p_text (&p, job_id);
    s_p_int (&p, now_ms);
    PGresult *res = s_exec (self, c, S_JOB_ATTEMPT, &p, false, "job attempt");
    int rc = SL_STORE_ERROR;
    if (res && PQntuples (res) > 0) {
        if (attempts_out)
            *attempts_out = s_int (res, 0, 0);
        rc = SL_STORE_OK;
    }
    else
    if (res)
        rc = s_job_why (self, c, job_id, SL_STORE_ERROR);
    PQclear (res);
    s_release (self, c);
    return rc;
}

static int
s_job_lease (void *backend, const char *job_id, const char *owner, int64_t now_ms,
             int64_t until_ms)
{
    s_params_t p = { 0 };
    s_p_text (&p, job_id);
    s_p_text (&p, owner);
    s_p_int (&p, now_ms);
    s_p_int (&p, until_ms);
    return s_job_write (backend, S_JOB_LEASE, &p, job_id, SL_STORE_BUSY, "lease job");
}

//  Run a job query and collect all rows.
static int
s_job_rows (s_pg_t *self, s_stmt_id_t id, const s_params_t *p, sl_store_job_t **jobs_p,
            int *count_p)
{
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    PGresult *res = s_exec (self, c, id, p, false, "list jobs");
    s_release (self, c);
    if (!res)
        return SL_STORE_ERROR;
    int count = PQntuples (res);
    sl_store_job_t *jobs = count ? calloc ((size_t) count, sizeof *jobs) : NULL;
    assert (jobs || count == 0);
    for (int i = 0; i < count; i++)
        s_job_read (res, i, &jobs [i]);
    PQclear (res);
    *jobs_p = jobs;
    *count_p = count;
    return SL_STORE_OK;
}

static int
s_job_list (void *backend, const char *workspace, const char *state, int limit, int offset,
            sl_store_job_t **jobs_p, int *count_p)
{
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    s_p_text (&p, state);
    s_p_int (&p, limit);
    s_p_int (&p, offset);
    return s_job_rows (backend, S_JOB_LIST, &p, jobs_p, count_p);
}

static int
s_jobs_unfinished (void *backend, int64_t older_than_ms, int limit, sl_store_job_t **jobs_p,
                   int *count_p)
{
    s_params_t p = { 0 };
    s_p_int (&p, older_than_ms);
    s_p_int (&p, limit);
    return s_job_rows (backend, S_JOBS_UNFINISHED, &p, jobs_p, count_p);
}

static int
s_job_control (void *backend, const char *job_id, const char *workspace,
               sl_store_control_t what, int64_t now_ms)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    s_params_t p = { 0 };
    s_p_text (&p, job_id);
    s_p_text (&p, workspace);
    s_p_int (&p, now_ms);
    int changed = s_exec_count (self, c, (s_stmt_id_t) (S_JOB_CONTROL + what), &p, "job control");
    s_release (self, c);
    return changed < 0 ? SL_STORE_ERROR : changed > 0 ? SL_STORE_OK : SL_STORE_CONFLICT;
}

static int
s_workspace_paused (void *backend, const char *workspace, int set, bool *paused, int64_t now_ms)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    int rc = SL_STORE_OK;
    if (set < 0) {
        PGresult *res = s_exec (self, c, S_WS_PAUSED, &p, false, "read paused");
        rc = res ? SL_STORE_OK : SL_STORE_ERROR;
        *paused = res && PQntuples (res) > 0 && s_int (res, 0, 0) != 0;
        PQclear (res);
    }
    else {
        s_p_int (&p, now_ms);
        s_p_int (&p, set);
        rc = s_exec_count (self, c, S_WS_SET_PAUSED, &p, "set paused") < 0 ? SL_STORE_ERROR
                                                                             : SL_STORE_OK;
        *paused = set != 0;
    }
    s_release (self, c);
    return rc;
}

//  --------------------------------------------------------------------------
//  Documents

static void
s_doc_read (const PGresult *res, int row, sl_store_doc_t *doc)
{
    memset (doc, 0, sizeof *doc);
    s_copy (res, row, 0, doc->id, sizeof doc->id);
    s_copy (res, row, 1, doc->workspace, sizeof doc->workspace);
    s_copy (res, row, 2, doc->sha256, sizeof doc->sha256);
    doc->source = s_dup (res, row, 3);
    doc->mime = s_dup (res, row, 4);
    doc->title = s_dup (res, row, 5);
    doc->model_id = s_dup (res, row, 6);
    doc->job_id = s_dup (res, row, 7);
    s_copy (res, row, 8, doc->state, sizeof doc->state);
    doc->pages = s_int (res, row, 9);
    doc->bytes = s_i64 (res, row, 10);
    doc->chunks = s_int (res, row, 11);
    doc->created_ms = s_i64 (res, row, 12);
    doc->updated_ms = s_i64 (res, row, 13);
    doc->chunking = s_dup (res, row, 14);
    doc->meta = PQgetisnull (res, row, 15) ? strdup ("{}") : s_dup (res, row, 15);
    s_copy (res, row, 16, doc->pages_blob, sizeof doc->pages_blob);
}

//  Run a single-document query (workspace, second key). doc may be NULL.
static int
s_doc_one (s_pg_t *self, s_conn_t *c, s_stmt_id_t id, const char *workspace, const char *key,
           sl_store_doc_t *doc, const char *what)
{
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    s_p_text (&p, key);
    PGresult *res = s_exec (self, c, id, &p, false, what);
    if (!res)
        return SL_STORE_ERROR;
    int rc = SL_STORE_OK;
    if (PQntuples (res) > 0) {
        if (doc)
            s_doc_read (res, 0, doc);
    }
    else {
        sl_store_set_errmsg ("%s: no such document", what);
        rc = SL_STORE_NOT_FOUND;
    }
    PQclear (res);
    return rc;
}

static int
s_document_find (void *backend, const char *workspace, const char *sha256, sl_store_doc_t *doc)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    int rc = s_doc_one (self, c, S_DOC_FIND, workspace, sha256, doc, "find document");
    s_release (self, c);
    return rc;
}

static int
s_document_get (void *backend, const char *workspace, const char *doc_id, sl_store_doc_t *doc)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    int rc = s_doc_one (self, c, S_DOC_GET, workspace, doc_id, doc, "get document");
    s_release (self, c);
    return rc;
}

//  Append the chunk keys a (workspace, key, [doc id]) query returns.
static int
s_collect_keys (s_pg_t *self, s_conn_t *c, s_stmt_id_t id, const s_params_t *p,
                int64_t **keys, int *n, const char *what)
{
    PGresult *res = s_exec (self, c, id, p, false, what);
    if (!res)
        return SL_STORE_ERROR;
    int rows = PQntuples (res);
    if (rows > 0) {
        //  Out of memory is an error, not an abort: a commit replacing a
        //  big document runs through here
        int64_t *grown = realloc (*keys, (size_t) (*n + rows) * sizeof (int64_t));
        if (!grown) {
            PQclear (res);
            sl_store_set_errmsg ("%s: out of memory for %d chunk keys", what, *n + rows);
            return SL_STORE_ERROR;
        }
        *keys = grown;
        for (int i = 0; i < rows; i++)
            (*keys) [(*n)++] = s_i64 (res, i, 0);
    }
    PQclear (res);
    return 0;
}

//  Bump the workspace generation inside the current transaction.
static int
s_bump (s_pg_t *self, s_conn_t *c, const char *workspace, int64_t *gen_out)
{
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    PGresult *res = s_exec (self, c, S_WS_BUMP, &p, false, "bump workspace generation");
    if (!res)
        return SL_STORE_ERROR;
    int rc = 0;
    if (PQntuples (res) == 1)
        *gen_out = s_i64 (res, 0, 0);
    else {
        sl_store_set_errmsg ("bump workspace generation: no workspace %s", workspace);
        rc = SL_STORE_ERROR;
    }
    PQclear (res);
    return rc;
}

//  Stream n chunks (with their reserved rids) and their vectors by COPY.
static int
s_copy_rows (s_pg_t *self, s_conn_t *c, const char *doc_id, const sl_chunk_row_t *chunks,
             const char (*chunk_ids) [SL_STORE_ID], const char **hashes, const int64_t *rids,
             int n, const float *vectors, int dim, const char *model_id)
{
    s_buf_t b = { 0 };
    int rc = s_copy_begin (self, c, S_COPY_CHUNKS, &b, "insert chunks");
    if (rc == 0) {
        for (int i = 0; rc == 0 && i < n; i++) {
            const sl_chunk_row_t *chunk = &chunks [i];
            s_put_be (&b, 15, 2);
            s_field_i64 (&b, rids [i]);
            s_field_text (&b, chunk_ids [i]);
            s_field_text (&b, doc_id);
            s_field_i32 (&b, chunk->ordinal);
            s_field_i32 (&b, chunk->page_start);
            s_field_i32 (&b, chunk->page_end);
            s_field_i64 (&b, chunk->char_start);
            s_field_i64 (&b, chunk->char_end);
            s_field_i32 (&b, chunk->tokens);
            s_field_text (&b, hashes [i]);
            s_field_text (&b, chunk->text);
            s_field_text (&b, chunk->kind && *chunk->kind ? chunk->kind : "text");
            s_field_text (&b, chunk->section ? chunk->section : "");
            if (chunk->ocr)
                s_field_i32 (&b, chunk->ocr_confidence);
            else
                s_field_text (&b, NULL);
            s_field_text (&b, chunk->context ? chunk->context : "");
            if (b.size >= S_COPY_FLUSH)
                rc = s_copy_flush (self, c, &b, "insert chunks");
        }
        rc = s_copy_end (self, c, &b, rc, "insert chunks");
    }
    if (rc == 0)
        rc = s_copy_begin (self, c, S_COPY_VECTORS, &b, "insert vectors");
    if (rc == 0) {
        void *tmp = NULL;
        const char *bytes = s_vec_encode (vectors, (size_t) n * (size_t) dim, &tmp);
        size_t vec_bytes = (size_t) dim * sizeof (float);
        for (int i = 0; rc == 0 && i < n; i++) {
            s_put_be (&b, 4, 2);
            s_field_i64 (&b, rids [i]);
            s_field_text (&b, model_id);
            s_field_i32 (&b, dim);
            s_put_be (&b, vec_bytes, 4);
            s_put (&b, bytes + (size_t) i * vec_bytes, vec_bytes);
            if (b.size >= S_COPY_FLUSH)
                rc = s_copy_flush (self, c, &b, "insert vectors");
        }
        free (tmp);
        rc = s_copy_end (self, c, &b, rc, "insert vectors");
    }
    free (b.data);
    return rc;
}

//  A commit's transaction (sl_store.c drives it): a connection inside
//  BEGIN; the workspace row lock taken by tx_workspace serialises the
//  workspace's writers across processes until tx_end

static int
s_tx_begin (void *backend, void **tx_p)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    if (s_begin (self, c, false)) {
        s_release (self, c);
        return SL_STORE_ERROR;
    }
    *tx_p = c;
    return SL_STORE_OK;
}

static int
s_tx_end (void *backend, void *tx, int rc)
{
    s_pg_t *self = backend;
    s_conn_t *c = tx;
    rc = s_end (self, c, rc);
    s_release (self, c);
    return rc;
}

//  The upsert row-locks the workspace: its writers queue here
static int
s_tx_workspace (void *tx, const char *workspace, const char *model_id, int dim,
                int64_t now_ms, char *model_out, size_t size, int *dim_out, int64_t *gen_out)
{
    s_conn_t *c = tx;
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    s_p_text (&p, model_id);
    if (dim > 0)
        s_p_int (&p, dim);
    else
        s_p_text (&p, NULL);
    s_p_int (&p, now_ms);
    PGresult *res = s_exec (c->owner, c, S_WS_MODEL, &p, false, "record workspace model");
    if (!res)
        return SL_STORE_ERROR;
    s_copy (res, 0, 0, model_out, size);
    *dim_out = s_int (res, 0, 1);
    *gen_out = s_i64 (res, 0, 2);
    PQclear (res);
    return SL_STORE_OK;
}

static int
s_tx_job (void *tx, const char *job_id, sl_store_state_t *state_out, int64_t *created_out,
          char doc_out [SL_STORE_ID])
{
    s_conn_t *c = tx;
    s_params_t p = { 0 };
    s_p_text (&p, job_id);
    PGresult *res = s_exec (c->owner, c, S_TX_JOB, &p, false, "read job");
    if (!res)
        return SL_STORE_ERROR;
    int rc = SL_STORE_OK;
    if (PQntuples (res) > 0) {
        int state = sl_store_state_parse (PQgetvalue (res, 0, 0));
        *state_out = state < 0 ? SL_STORE_QUEUED : (sl_store_state_t) state;
        *created_out = s_i64 (res, 0, 1);
        s_copy (res, 0, 2, doc_out, SL_STORE_ID);
    }
    else {
        sl_store_set_errmsg ("no job %s", job_id);
        rc = SL_STORE_NOT_FOUND;
    }
    PQclear (res);
    return rc;
}

static int
s_tx_source_get (void *tx, const char *workspace, const char *source, char doc_out [SL_STORE_ID],
                 int64_t *since_out, char job_out [SL_STORE_TOKEN])
{
    s_conn_t *c = tx;
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    s_p_text (&p, source);
    PGresult *res = s_exec (c->owner, c, S_SRC_GET, &p, false, "read source");
    if (!res)
        return SL_STORE_ERROR;
    int rc = SL_STORE_NOT_FOUND;
    if (PQntuples (res) > 0) {
        s_copy (res, 0, 0, doc_out, SL_STORE_ID);
        *since_out = s_i64 (res, 0, 1);
        s_copy (res, 0, 2, job_out, SL_STORE_TOKEN);
        rc = SL_STORE_OK;
    }
    PQclear (res);
    return rc;
}

static int
s_tx_source_set (void *tx, const char *workspace, const char *source, const char *doc_id,
                 const char *job_id, int64_t since_ms, int64_t now_ms)
{
    s_conn_t *c = tx;
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    s_p_text (&p, source);
    s_p_text (&p, doc_id);
    s_p_text (&p, job_id);
    s_p_int (&p, since_ms);
    s_p_int (&p, now_ms);
    return s_exec_count (c->owner, c, S_SRC_SET, &p, "name document by source") < 0
         ? SL_STORE_ERROR : SL_STORE_OK;
}

static int
s_tx_source_unlink (void *tx, const char *workspace, const char *source, const char *doc_id,
                    char *first_out, size_t size)
{
    s_conn_t *c = tx;
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    s_p_text (&p, source);
    if (s_exec_count (c->owner, c, S_SRC_UNLINK, &p, "unlink source") < 0)
        return SL_STORE_ERROR;
    p = (s_params_t) { 0 };
    s_p_text (&p, doc_id);
    PGresult *res = s_exec (c->owner, c, S_SRC_FIRST, &p, false, "document sources");
    if (!res)
        return SL_STORE_ERROR;
    *first_out = 0;
    if (PQntuples (res) > 0)
        s_copy (res, 0, 0, first_out, size);
    PQclear (res);
    return SL_STORE_OK;
}

static int
s_tx_doc_exists (void *tx, const char *workspace, const char *doc_id)
{
    s_conn_t *c = tx;
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    s_p_text (&p, doc_id);
    PGresult *res = s_exec (c->owner, c, S_DOC_EXISTS, &p, false, "document exists");
    if (!res)
        return SL_STORE_ERROR;
    int exists = PQntuples (res) > 0;
    PQclear (res);
    return exists;
}

static int
s_tx_doc_insert (void *tx, const sl_doc_meta_t *meta, const char *doc_id, int n,
                 const char *model_id, int64_t now_ms)
{
    s_conn_t *c = tx;
    s_params_t p = { 0 };
    s_p_text (&p, doc_id);
    s_p_text (&p, meta->workspace);
    s_p_text (&p, meta->source);
    s_p_text (&p, meta->sha256);
    s_p_text (&p, meta->mime);
    s_p_text (&p, meta->title);
    s_p_int (&p, meta->pages);
    s_p_int (&p, meta->bytes);
    s_p_int (&p, n);
    s_p_text (&p, model_id);
    s_p_text (&p, meta->job_id);
    s_p_int (&p, now_ms);
    s_p_text (&p, meta->chunking);
    int inserted = s_exec_count (c->owner, c, S_DOC_INSERT, &p, "insert document");
    return inserted < 0 ? SL_STORE_ERROR : inserted > 0 ? 1 : 0;
}

static int
s_tx_pages_build (void *tx, const char *doc_id)
{
    s_conn_t *c = tx;
    s_params_t p = { 0 };
    s_p_text (&p, doc_id);
    return s_exec_count (c->owner, c, S_PAGES_BUILD, &p, "build pages") < 0 ? SL_STORE_ERROR
                                                                             : SL_STORE_OK;
}

//  (locks the row: a tombstone and a commit of the same id are ordered)
static int
s_tx_doc_deleting (void *tx, const char *workspace, const char *doc_id)
{
    s_conn_t *c = tx;
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    s_p_text (&p, doc_id);
    PGresult *res = s_exec (c->owner, c, S_DOC_STATE, &p, false, "read document state");
    if (!res)
        return SL_STORE_ERROR;
    int rc = PQntuples (res) > 0 ? strcmp (PQgetvalue (res, 0, 0), "deleting") == 0
                                 : SL_STORE_NOT_FOUND;
    PQclear (res);
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
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    s_p_text (&p, doc_id);
    s_p_int (&p, now_ms);
    return s_exec_count (c->owner, c, S_DOC_TOMBSTONE, &p, "mark document deleting") < 0
         ? SL_STORE_ERROR : SL_STORE_OK;
}

//  Up to limit chunks (their vectors and word rows go by cascade) and up
//  to limit pages of a document
static int
s_tx_doc_purge (void *tx, const char *doc_id, int limit, int *removed_out)
{
    s_conn_t *c = tx;
    *removed_out = 0;
    s_params_t p = { 0 };
    s_p_text (&p, doc_id);
    s_p_int (&p, limit);
    for (s_stmt_id_t id = S_DOC_PURGE_CHUNKS; id <= S_DOC_PURGE_PAGES; id++) {
        int n = s_exec_count (c->owner, c, id, &p, "purge document rows");
        if (n < 0)
            return SL_STORE_ERROR;
        *removed_out += n;
    }
    return SL_STORE_OK;
}

static int
s_tx_doc_remove (void *tx, const char *workspace, const char *doc_id, char *sha256_out,
                 sl_store_change_t *change)
{
    s_conn_t *c = tx;
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    s_p_text (&p, doc_id);
    if (s_collect_keys (c->owner, c, S_DOC_KEYS, &p, &change->removed, &change->n_removed,
                        "document chunk keys"))
        return SL_STORE_ERROR;
    PGresult *res = s_exec (c->owner, c, S_DOC_DELETE, &p, false, "delete document");
    if (!res)
        return SL_STORE_ERROR;
    int rc = PQntuples (res) > 0 ? SL_STORE_OK : SL_STORE_NOT_FOUND;
    if (rc == SL_STORE_OK && sha256_out)
        s_copy (res, 0, 0, sha256_out, SL_SHA256_HEX);
    PQclear (res);
    return rc;
}

static int
s_tx_doc_update (void *tx, const char *workspace, const char *doc_id, bool drop, int n,
                 const char *model_id, const char *chunking, const char *pages_blob,
                 int64_t now_ms, sl_store_change_t *change)
{
    s_conn_t *c = tx;
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    s_p_text (&p, doc_id);
    if (drop) {
        if (s_collect_keys (c->owner, c, S_DOC_KEYS, &p, &change->removed, &change->n_removed,
                            "document chunk keys"))
            return SL_STORE_ERROR;
        s_params_t one = { 0 };
        s_p_text (&one, doc_id);
        if (s_exec_count (c->owner, c, S_DOC_CHUNKS_DROP, &one, "drop chunks") < 0
        ||  s_exec_count (c->owner, c, S_DOC_PAGES_DROP, &one, "drop pages") < 0)
            return SL_STORE_ERROR;
    }
    if (drop)
        s_p_int (&p, n);
    else
        s_p_text (&p, NULL);
    s_p_text (&p, model_id);
    s_p_text (&p, chunking);
    s_p_text (&p, pages_blob);
    s_p_int (&p, now_ms);
    return s_exec_count (c->owner, c, S_DOC_UPDATE, &p, "update document") < 0
         ? SL_STORE_ERROR : SL_STORE_OK;
}

static int
s_tx_doc_set_source (void *tx, const char *doc_id, const char *old_source, const char *source,
                     int64_t now_ms)
{
    s_conn_t *c = tx;
    s_params_t p = { 0 };
    s_p_text (&p, doc_id);
    s_p_text (&p, old_source);
    s_p_text (&p, source);
    s_p_int (&p, now_ms);
    return s_exec_count (c->owner, c, S_DOC_SET_SOURCE, &p, "document source") < 0
         ? SL_STORE_ERROR : SL_STORE_OK;
}

//  One batch: reserve n rids in one query, then two COPYs (chunks, then
//  the vectors that reference them)
static int
s_tx_chunks_insert (void *tx, const char *doc_id, const sl_chunk_row_t *chunks,
                    const char (*chunk_ids) [SL_STORE_ID], const char **hashes, int n,
                    const float *vectors, int dim, const char *model_id, int64_t *keys_out)
{
    s_conn_t *c = tx;
    s_pg_t *self = c->owner;
    s_params_t p = { 0 };
    s_p_int (&p, n);
    PGresult *res = s_exec (self, c, S_RIDS, &p, false, "reserve chunk keys");
    if (!res)
        return SL_STORE_ERROR;
    if (PQntuples (res) != n) {
        sl_store_set_errmsg ("postgres: reserve chunk keys: %d asked, %d given", n,
                             PQntuples (res));
        PQclear (res);
        return SL_STORE_ERROR;
    }
    for (int i = 0; i < n; i++)
        keys_out [i] = s_i64 (res, i, 0);
    PQclear (res);
    return s_copy_rows (self, c, doc_id, chunks, chunk_ids, hashes, keys_out, n, vectors, dim,
                        model_id);
}

static int
s_tx_job_complete (void *tx, const char *job_id, const char *doc_id, const char *replaced,
                   const char *duplicate_of, int64_t now_ms)
{
    s_conn_t *c = tx;
    s_params_t p = { 0 };
    s_p_text (&p, job_id);
    s_p_text (&p, doc_id);
    s_p_text (&p, replaced && *replaced ? replaced : NULL);
    s_p_text (&p, duplicate_of && *duplicate_of ? duplicate_of : NULL);
    s_p_int (&p, now_ms);
    int changed = s_exec_count (c->owner, c, S_TX_JOB_COMPLETE, &p, "complete job");
    return changed < 0 ? SL_STORE_ERROR : changed > 0 ? 1 : 0;
}

static int
s_tx_bump (void *tx, const char *workspace, int64_t *gen_out)
{
    s_conn_t *c = tx;
    return s_bump (c->owner, c, workspace, gen_out);
}

static int
s_document_list (void *backend, const char *workspace, int limit, int offset,
                 sl_store_doc_t **docs_p, int *count_p, int64_t *total_p)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sl_store_doc_t *docs = NULL;
    int count = 0;
    //  One snapshot: the total and the page agree
    int rc = s_begin (self, c, true);
    if (rc == 0) {
        s_params_t p = { 0 };
        s_p_text (&p, workspace);
        PGresult *res = s_exec (self, c, S_DOC_COUNT, &p, false, "count documents");
        if (res && total_p)
            *total_p = s_i64 (res, 0, 0);
        rc = res ? 0 : SL_STORE_ERROR;
        PQclear (res);
        if (rc == 0) {
            s_p_int (&p, limit);
            s_p_int (&p, offset);
            res = s_exec (self, c, S_DOC_LIST, &p, false, "list documents");
            if (res) {
                count = PQntuples (res);
                docs = count ? calloc ((size_t) count, sizeof *docs) : NULL;
                assert (docs || count == 0);
                for (int i = 0; i < count; i++)
                    s_doc_read (res, i, &docs [i]);
            }
            else
                rc = SL_STORE_ERROR;
            PQclear (res);
        }
        rc = s_end (self, c, rc);
    }
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
s_chunk_read (const PGresult *res, int row, sl_store_chunk_t *chunk)
{
    memset (chunk, 0, sizeof *chunk);
    s_copy (res, row, 0, chunk->id, sizeof chunk->id);
    s_copy (res, row, 1, chunk->document_id, sizeof chunk->document_id);
    chunk->ordinal = s_int (res, row, 2);
    chunk->page_start = s_int (res, row, 3);
    chunk->page_end = s_int (res, row, 4);
    chunk->char_start = s_i64 (res, row, 5);
    chunk->char_end = s_i64 (res, row, 6);
    chunk->tokens = s_int (res, row, 7);
    chunk->hash = s_dup (res, row, 8);
    chunk->text = s_dup (res, row, 9);
    s_copy (res, row, 10, chunk->kind, sizeof chunk->kind);
    chunk->section = s_dup (res, row, 11);
    chunk->ocr = !PQgetisnull (res, row, 12);
    chunk->ocr_confidence = chunk->ocr ? s_int (res, row, 12) : 0;
    chunk->context = s_dup (res, row, 13);
}

static int
s_chunks_list (void *backend, const char *workspace, const char *doc_id, int limit, int offset,
               sl_store_chunk_t **chunks_p, int *count_p, int64_t *total_p)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    sl_store_chunk_t *chunks = NULL;
    int count = 0;
    int rc = s_begin (self, c, true);
    if (rc == 0) {
        //  The workspace check: the document must be this workspace's
        sl_store_doc_t doc;
        rc = s_doc_one (self, c, S_DOC_GET, workspace, doc_id, &doc, "list chunks");
        if (rc == 0) {
            if (total_p)
                *total_p = doc.chunks;
            sl_store_doc_reset (&doc);
            s_params_t p = { 0 };
            s_p_text (&p, doc_id);
            s_p_int (&p, limit);
            s_p_int (&p, offset);
            PGresult *res = s_exec (self, c, S_CHUNKS_LIST, &p, false, "list chunks");
            if (res) {
                count = PQntuples (res);
                chunks = count ? calloc ((size_t) count, sizeof *chunks) : NULL;
                assert (chunks || count == 0);
                for (int i = 0; i < count; i++)
                    s_chunk_read (res, i, &chunks [i]);
            }
            else
                rc = SL_STORE_ERROR;
            PQclear (res);
        }
        //  a read: nothing to commit, and NOT_FOUND must survive
        s_rollback (c);
    }
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
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    s_params_t p = { 0 };
    s_p_text (&p, sha256);
    PGresult *res = s_exec (self, c, S_BLOB_REF, &p, false, "blob referenced");
    int rc = res ? strcmp (PQgetvalue (res, 0, 0), "t") == 0 : SL_STORE_ERROR;
    PQclear (res);
    s_release (self, c);
    return rc;
}

//  --------------------------------------------------------------------------
//  Housekeeping

static int
s_lease (void *backend, const char *name, const char *owner, int64_t now_ms, int64_t until_ms)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    s_params_t p = { 0 };
    s_p_text (&p, name);
    s_p_text (&p, owner);
    if (until_ms > 0) {
        s_p_int (&p, now_ms);
        s_p_int (&p, until_ms);
    }
    int changed = s_exec_count (self, c, until_ms > 0 ? S_LEASE : S_LEASE_RELEASE, &p, "lease");
    s_release (self, c);
    return changed < 0 ? changed : changed > 0 || until_ms == 0 ? SL_STORE_OK : SL_STORE_BUSY;
}

//  --------------------------------------------------------------------------
//  Sources: rows of JSON text (sl_store.h, "Sources")

//  Statement id's one text column of one row (NOT_FOUND if none) into
//  *out (malloc'd), column 1 into *next_out (may be NULL).
static int
s_read_text (s_pg_t *self, s_stmt_id_t id, const s_params_t *p, char **out, int64_t *next_out,
             const char *what)
{
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    PGresult *res = s_exec (self, c, id, p, false, what);
    s_release (self, c);
    if (!res)
        return SL_STORE_ERROR;
    int rc = PQntuples (res) > 0 ? SL_STORE_OK : SL_STORE_NOT_FOUND;
    if (rc == SL_STORE_OK) {
        *out = strdup (PQgetvalue (res, 0, 0));
        assert (*out);
        if (next_out)
            *next_out = s_i64 (res, 0, 1);
    }
    PQclear (res);
    return rc;
}

//  A write for its row count: NOT_FOUND if it changed none and need_row.
static int
s_write_rows (s_pg_t *self, s_stmt_id_t id, const s_params_t *p, bool need_row, const char *what)
{
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    int changed = s_exec_count (self, c, id, p, what);
    s_release (self, c);
    return changed < 0 ? SL_STORE_ERROR : changed == 0 && need_row ? SL_STORE_NOT_FOUND
                                                                   : SL_STORE_OK;
}

static int
s_source_put (void *backend, const char *workspace, const char *id, const char *key,
              const char *json, int64_t next_ms, bool create, int64_t now_ms)
{
    s_params_t p = { 0 };
    s_p_text (&p, id);
    s_p_text (&p, workspace);
    s_p_text (&p, key);
    s_p_text (&p, json);
    s_p_int (&p, next_ms);
    s_p_int (&p, now_ms);
    int rc = s_write_rows (backend, create ? S_SRC_INSERT : S_SRC_UPDATE, &p, true,
                           create ? "add source" : "update source");
    return rc == SL_STORE_NOT_FOUND && create ? SL_STORE_CONFLICT : rc;
}

static int
s_source_get (void *backend, const char *workspace, const char *id, char **json_out,
              int64_t *next_out)
{
    s_params_t p = { 0 };
    s_p_text (&p, id);
    s_p_text (&p, workspace);
    return s_read_text (backend, S_SRC_ROW, &p, json_out, next_out, "read source");
}

static int
s_source_list (void *backend, const char *workspace, int64_t due_ms, char **json_out)
{
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    s_p_int (&p, due_ms);
    return s_read_text (backend, S_SRC_LIST, &p, json_out, NULL, "list sources");
}

static int
s_source_delete (void *backend, const char *workspace, const char *id)
{
    s_params_t p = { 0 };
    s_p_text (&p, id);
    s_p_text (&p, workspace);
    return s_write_rows (backend, S_SRC_DELETE, &p, true, "delete source");
}

static int
s_source_set_next (void *backend, const char *id, int64_t next_ms)
{
    s_params_t p = { 0 };
    s_p_text (&p, id);
    s_p_int (&p, next_ms);
    return s_write_rows (backend, S_SRC_NEXT, &p, true, "schedule source");
}

static int
s_source_items (void *backend, const char *id, char **json_out)
{
    s_params_t p = { 0 };
    s_p_text (&p, id);
    return s_read_text (backend, S_SRC_ITEMS, &p, json_out, NULL, "read source items");
}

static int
s_source_item_put (void *backend, const char *id, const char *key, const char *evidence)
{
    s_params_t p = { 0 };
    s_p_text (&p, id);
    s_p_text (&p, key);
    if (evidence)
        s_p_text (&p, evidence);
    return s_write_rows (backend, evidence ? S_SRC_ITEM_SET : S_SRC_ITEM_DELETE, &p, false,
                         evidence ? "record item" : "forget item");
}

static int
s_source_run_put (void *backend, const char *id, const char *run_id, const char *json,
                  int64_t started_ms)
{
    s_params_t p = { 0 };
    s_p_text (&p, run_id);
    s_p_text (&p, id);
    s_p_int (&p, started_ms);
    s_p_text (&p, json);
    return s_write_rows (backend, S_SRC_RUN_PUT, &p, false, "record run");
}

static int
s_source_runs_trim (void *backend, const char *id, int keep)
{
    s_params_t p = { 0 };
    s_p_text (&p, id);
    s_p_int (&p, keep);
    return s_write_rows (backend, S_SRC_RUNS_TRIM, &p, false, "trim runs");
}

static int
s_source_runs (void *backend, const char *id, int limit, char **json_out)
{
    s_params_t p = { 0 };
    s_p_text (&p, id);
    s_p_int (&p, limit);
    return s_read_text (backend, S_SRC_RUNS, &p, json_out, NULL, "list runs");
}

static int
s_docs_deleting (void *backend, int limit, char **json_out)
{
    s_params_t p = { 0 };
    s_p_int (&p, limit);
    return s_read_text (backend, S_DOCS_DELETING, &p, json_out, NULL, "list deleting documents");
}

//  One row of one or two integers from statement id.
static int
s_read_ints (s_pg_t *self, s_stmt_id_t id, const s_params_t *p, int64_t *a, int64_t *b,
             const char *what)
{
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    PGresult *res = s_exec (self, c, id, p, false, what);
    s_release (self, c);
    if (!res)
        return SL_STORE_ERROR;
    int rc = SL_STORE_OK;
    if (PQntuples (res) != 1) {
        sl_store_set_errmsg ("postgres: %s: no row", what);
        rc = SL_STORE_ERROR;
    }
    else {
        *a = strtoll (PQgetvalue (res, 0, 0), NULL, 10);
        if (b)
            *b = strtoll (PQgetvalue (res, 0, 1), NULL, 10);
    }
    PQclear (res);
    return rc;
}

static int
s_workspace_chunking (void *backend, const char *workspace, char *out, size_t size)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    PGresult *res = s_exec (self, c, S_WS_CHUNKING, &p, false, "read workspace chunking");
    s_release (self, c);
    if (!res)
        return SL_STORE_ERROR;
    int rc = PQntuples (res) > 0 ? SL_STORE_OK : SL_STORE_NOT_FOUND;
    if (rc == SL_STORE_OK)
        s_copy (res, 0, 0, out, size);
    PQclear (res);
    return rc;
}

static int
s_workspace_set_chunking (void *backend, const char *workspace, const char *json, int64_t now_ms)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    s_p_int (&p, now_ms);
    s_p_text (&p, json);
    int changed = s_exec_count (self, c, S_WS_SET_CHUNKING, &p, "set workspace chunking");
    s_release (self, c);
    return changed < 0 ? SL_STORE_ERROR : SL_STORE_OK;
}

static int
s_workspace_bytes (void *backend, const char *workspace, int64_t *bytes)
{
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    return s_read_ints (backend, S_WS_BYTES, &p, bytes, NULL, "workspace bytes");
}

static int
s_cache_usage (void *backend, int64_t *entries, int64_t *bytes)
{
    return s_read_ints (backend, S_CACHE_USAGE, NULL, entries, bytes, "cache usage");
}

static int
s_cache_evict (void *backend, int64_t before_ms, int limit, int64_t *entries, int64_t *bytes)
{
    s_params_t p = { 0 };
    s_p_int (&p, before_ms);
    s_p_int (&p, limit);
    *entries = *bytes = 0;
    return s_read_ints (backend, S_CACHE_EVICT, &p, entries, bytes, "evict from embed cache");
}

//  Read a workspace's model, dim and generation with the connection held.
static int
s_workspace_read (s_pg_t *self, s_conn_t *c, const char *workspace, char *model_out,
                  size_t size, int *dim_out, int64_t *gen_out)
{
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    PGresult *res = s_exec (self, c, S_WS_GET, &p, false, "read workspace");
    if (!res)
        return SL_STORE_ERROR;
    int rc = SL_STORE_OK;
    if (PQntuples (res) > 0) {
        if (model_out)
            s_copy (res, 0, 0, model_out, size);
        if (dim_out)
            *dim_out = s_int (res, 0, 1);
        if (gen_out)
            *gen_out = s_i64 (res, 0, 2);
    }
    else {
        sl_store_set_errmsg ("no workspace %s", workspace);
        rc = SL_STORE_NOT_FOUND;
    }
    PQclear (res);
    return rc;
}

static int
s_workspace_info (void *backend, const char *workspace, char *model_out, size_t size,
                  int *dim_out, int64_t *gen_out)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    int rc = s_workspace_read (self, c, workspace, model_out, size, dim_out, gen_out);
    s_release (self, c);
    return rc;
}

//  Stream the workspace's vectors into index, row by row (a workspace can
//  hold millions: never one result of all of them in memory).
static int
s_vectors_stream (s_pg_t *self, s_conn_t *c, const char *workspace, const char *model_id,
                  sl_vindex_t *index, sl_docmap_t *docs)
{
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    s_p_text (&p, model_id);
    char name [16];
    PGresult *res = s_prepare (c, S_VEC_LOAD, name);
    if (res) {
        int rc = s_fail (self, c, res, "load vectors");
        PQclear (res);
        return rc;
    }
    if (!PQsendQueryPrepared (c->pg, name, p.n, p.values, p.lengths, p.formats, 1))
        return s_fail (self, c, NULL, "load vectors");
    PQsetSingleRowMode (c->pg);
    int dim = sl_vindex_dim (index);
    int rc = 0, skipped = 0;
    float *vec = malloc ((size_t) dim * sizeof (float));
    if (!vec) {
        sl_store_set_errmsg ("out of memory loading vectors of workspace %s", workspace);
        rc = SL_STORE_ERROR;
    }
    //  Read every result even after a failure: the connection must drain
    while ((res = PQgetResult (c->pg))) {
        ExecStatusType status = PQresultStatus (res);
        if (status == PGRES_SINGLE_TUPLE && rc == 0) {
            if (PQgetlength (res, 0, 0) != 8 || PQgetlength (res, 0, 1) != 4
            ||  s_be32 (PQgetvalue (res, 0, 1)) != dim
            ||  PQgetlength (res, 0, 2) != dim * (int) sizeof (float))
                skipped++;
            else {
                s_vec_decode (PQgetvalue (res, 0, 2), vec, dim);
                //  binary text: the bytes, not NUL-terminated
                char doc [SL_STORE_ID];
                int len = PQgetlength (res, 0, 3);
                snprintf (doc, sizeof doc, "%.*s", len < SL_STORE_ID ? len : SL_STORE_ID - 1,
                          PQgetvalue (res, 0, 3));
                int32_t tag = sl_docmap_tag (docs, doc);
                if (tag < 0
                ||  sl_vindex_add_tagged (index, s_be64 (PQgetvalue (res, 0, 0)), vec, tag)) {
                    sl_store_set_errmsg ("out of memory loading vectors of workspace %s",
                                         workspace);
                    rc = SL_STORE_ERROR;
                }
            }
        }
        else
        if (status != PGRES_SINGLE_TUPLE && status != PGRES_TUPLES_OK && rc == 0)
            rc = s_fail (self, c, res, "load vectors");
        PQclear (res);
    }
    free (vec);
    if (skipped)
        sl_warn (NULL, "store: workspace %s: skipped %d vectors whose dimension is not %d",
                 workspace, skipped, dim);
    return rc;
}

static int
s_vectors_load (void *backend, const char *workspace, const char *model_id, sl_vindex_t *index,
                sl_docmap_t *docs, int64_t *gen_out)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    //  One snapshot: the generation and the rows agree
    int rc = s_begin (self, c, true);
    if (rc == 0) {
        rc = s_workspace_read (self, c, workspace, NULL, 0, NULL, gen_out);
        if (rc == 0)
            rc = s_vectors_stream (self, c, workspace, model_id, index, docs);
        s_rollback (c);
    }
    s_release (self, c);
    return rc;
}

typedef struct {
    int64_t key;
    int row;
} s_keyrow_t;

static int
s_keyrow_cmp (const void *a, const void *b)
{
    int64_t x = ((const s_keyrow_t *) a)->key, y = ((const s_keyrow_t *) b)->key;
    return x < y ? -1 : x > y;
}

static int
s_hits_fill (void *backend, const char *workspace, sl_hit_t *hits, int n)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    //  One query for all hits; rows come back in any order
    char *keys = s_int_array (&hits [0].key, sizeof hits [0], n);
    s_params_t p = { 0 };
    s_p_text (&p, keys);
    s_p_text (&p, workspace);
    PGresult *res = s_exec (self, c, S_HIT_FILL, &p, false, "fetch hits");
    s_release (self, c);
    free (keys);
    if (!res)
        return SL_STORE_ERROR;
    int rows = PQntuples (res);
    s_keyrow_t *index = malloc ((size_t) (rows ? rows : 1) * sizeof *index);
    assert (index);
    for (int r = 0; r < rows; r++)
        index [r] = (s_keyrow_t) { s_i64 (res, r, 0), r };
    qsort (index, (size_t) rows, sizeof *index, s_keyrow_cmp);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        s_keyrow_t probe = { hits [i].key, 0 };
        s_keyrow_t *found = bsearch (&probe, index, (size_t) rows, sizeof *index, s_keyrow_cmp);
        if (!found)
            continue;           //  deleted since the index was searched: drop it
        sl_hit_t *hit = &hits [kept++];
        if (hit != &hits [i])
            *hit = hits [i];    //  strings are still NULL here
        int r = found->row;
        s_copy (res, r, 1, hit->chunk_id, sizeof hit->chunk_id);
        s_copy (res, r, 2, hit->document_id, sizeof hit->document_id);
        hit->ordinal = s_int (res, r, 3);
        hit->page_start = s_int (res, r, 4);
        hit->page_end = s_int (res, r, 5);
        hit->text = s_dup (res, r, 6);
        hit->title = s_dup (res, r, 7);
        hit->source = s_dup (res, r, 8);
        s_copy (res, r, 9, hit->kind, sizeof hit->kind);
        hit->section = s_dup (res, r, 10);
        hit->ocr = !PQgetisnull (res, r, 11);
        hit->ocr_confidence = hit->ocr ? s_int (res, r, 11) : 0;
        hit->mime = s_dup (res, r, 12);
    }
    free (index);
    PQclear (res);
    for (int i = kept; i < n; i++)
        memset (&hits [i], 0, sizeof hits [i]);
    return kept;
}

//  Run a search statement: the prepared one without a filter; with one,
//  head + the filter's conditions + tail with p's parameters and then the
//  filter's (numbered from p->n + 1). The result or NULL (message set).
static PGresult *
s_exec_search (s_pg_t *self, s_conn_t *c, s_stmt_id_t id, const char *head, const char *tail,
               const s_params_t *p, const sl_filter_t *filter, int ws_param, const char *what)
{
    if (!filter)
        return s_exec (self, c, id, p, false, what);
    size_t size = strlen (head) + strlen (tail) + 65536;
    char *sql = malloc (size);
    const char **values = malloc ((S_PARAMS_MAX + SL_FILTER_PARAMS_MAX) * sizeof *values);
    PGresult *res = NULL;
    int n = 0;
    if (!sql || !values)
        sl_store_set_errmsg ("out of memory preparing a filtered search");
    else {
        snprintf (sql, size, "%s", head);
        for (int i = 0; i < p->n; i++)
            values [i] = p->values [i];
        if (sl_filter_sql (filter, true, ws_param, p->n + 1, sql, size - strlen (tail),
                           values + p->n, SL_FILTER_PARAMS_MAX, &n) == 0) {
            strcat (sql, tail);
            res = PQexecParams (c->pg, sql, p->n + n, NULL, values, NULL, NULL, 0);
            if (PQresultStatus (res) != PGRES_TUPLES_OK) {
                s_fail (self, c, res, what);
                PQclear (res);
                res = NULL;
            }
        }
        else
            sl_store_set_errmsg ("the search's filter is too large");
    }
    free (sql);
    free (values);
    return res;
}

static int
s_document_keys (void *backend, const char *workspace, const char *const *documents,
                 int n_documents, const sl_filter_t *filter, int64_t **keys_p, int *count)
{
    s_pg_t *self = backend;
    *keys_p = NULL;
    *count = 0;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    char *ids = n_documents > 0 ? s_text_array ((const char **) documents, n_documents) : NULL;
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    s_p_text (&p, ids);
    PGresult *res = s_exec_search (self, c, S_DOCS_KEYS, S_DOCS_KEYS_HEAD, S_DOCS_KEYS_TAIL, &p,
                                   filter, 1, "list document chunk keys");
    s_release (self, c);
    free (ids);
    if (!res)
        return SL_STORE_ERROR;
    int rows = PQntuples (res);
    if (rows > 0) {
        *keys_p = malloc ((size_t) rows * sizeof **keys_p);
        if (!*keys_p) {
            PQclear (res);
            sl_store_set_errmsg ("out of memory listing %d chunk keys", rows);
            return SL_STORE_ERROR;
        }
        for (int r = 0; r < rows; r++)
            (*keys_p) [r] = s_i64 (res, r, 0);
        *count = rows;
    }
    PQclear (res);
    return SL_STORE_OK;
}

static int
s_filter_docs (void *backend, const char *workspace, const char *const *documents,
               int n_documents, const sl_filter_t *filter, char (**ids_p) [SL_STORE_ID],
               int *count, int64_t *chunks_out)
{
    s_pg_t *self = backend;
    *ids_p = NULL;
    *count = 0;
    *chunks_out = 0;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    char *ids = n_documents > 0 ? s_text_array ((const char **) documents, n_documents) : NULL;
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    s_p_text (&p, ids);
    //  never prepared: the statement exists only with a filter
    sl_filter_t none = { .n_conds = 0 };
    PGresult *res = s_exec_search (self, c, S_COUNT, S_FILTER_DOCS_HEAD, "", &p,
                                   filter ? filter : &none, 1, "list filtered documents");
    s_release (self, c);
    free (ids);
    if (!res)
        return SL_STORE_ERROR;
    int rows = PQntuples (res);
    if (rows > 0) {
        *ids_p = malloc ((size_t) rows * sizeof **ids_p);
        if (!*ids_p) {
            PQclear (res);
            sl_store_set_errmsg ("out of memory listing %d documents", rows);
            return SL_STORE_ERROR;
        }
        for (int r = 0; r < rows; r++) {
            s_copy (res, r, 0, (*ids_p) [r], SL_STORE_ID);
            *chunks_out += s_i64 (res, r, 1);
        }
        *count = rows;
    }
    PQclear (res);
    return SL_STORE_OK;
}

static int
s_lexical (void *backend, const char *workspace, const char (*terms) [SL_STORE_TERM_MAX],
           int nterms, const char *const *documents, int n_documents,
           const sl_filter_t *filter, int limit, int64_t *keys, double *shares, int *count)
{
    //  Terms hold no quote or backslash (letters, digits, UTF-8 bytes), so
    //  quoting each makes it a plain lexeme whatever it spells
    char quoted [SL_STORE_TERMS][SL_STORE_TERM_MAX + 2];
    const char *items [SL_STORE_TERMS];
    for (int i = 0; i < nterms && i < SL_STORE_TERMS; i++) {
        snprintf (quoted [i], sizeof quoted [i], "'%s'", terms [i]);
        items [i] = quoted [i];
    }
    char *query = s_text_array (items, nterms < SL_STORE_TERMS ? nterms : SL_STORE_TERMS);
    char boost [32], near_boost [32], weights [64];
    snprintf (boost, sizeof boost, "%g", SL_STORE_ALL_WORDS_BOOST);
    snprintf (near_boost, sizeof near_boost, "%g", SL_STORE_NEAR_BOOST);
    snprintf (weights, sizeof weights, "{%g,%g,%g,1}", SL_STORE_SECTION_WEIGHT,
              SL_STORE_SECTION_WEIGHT, SL_STORE_SECTION_WEIGHT);
    //  'a' <1> 'b' | 'b' <1> 'a' | 'a' <2> 'b' ...: consecutive terms at
    //  most SL_STORE_NEAR_DISTANCE words apart, either order (FTS5's NEAR)
    char near [SL_STORE_TERMS * (SL_STORE_NEAR_DISTANCE + 1) * (4 * SL_STORE_TERM_MAX + 24)] = "";
    size_t used = 0;
    for (int i = 1; i < nterms && i < SL_STORE_TERMS; i++)
        for (int d = 1; d <= SL_STORE_NEAR_DISTANCE + 1; d++)
            used += (size_t) snprintf (near + used, sizeof near - used,
                                       "%s%s <%d> %s | %s <%d> %s", used ? " | " : "",
                                       quoted [i - 1], d, quoted [i], quoted [i], d, quoted [i - 1]);
    s_pg_t *self = backend;
    *count = 0;
    s_conn_t *c = s_acquire (self);
    if (!c) {
        free (query);
        return SL_STORE_ERROR;
    }
    char *ids = n_documents > 0 ? s_text_array ((const char **) documents, n_documents) : NULL;
    s_params_t p = { 0 };
    s_p_text (&p, query);
    s_p_text (&p, workspace);
    s_p_int (&p, limit);
    s_p_text (&p, ids);
    s_p_text (&p, boost);
    s_p_text (&p, *near ? near : NULL);
    s_p_text (&p, weights);
    s_p_text (&p, near_boost);
    PGresult *res = s_exec_search (self, c, S_LEXICAL, S_LEXICAL_HEAD, S_LEXICAL_TAIL, &p, filter,
                                   2, "lexical search");
    s_release (self, c);
    free (ids);
    free (query);
    if (!res)
        return SL_STORE_ERROR;
    int rows = PQntuples (res);
    for (int r = 0; r < rows && r < limit; r++) {
        if (shares) {
            double share = PQgetisnull (res, r, 1) ? 1 : strtod (PQgetvalue (res, r, 1), NULL);
            shares [*count] = share > 0 ? share : 0;
        }
        keys [(*count)++] = s_i64 (res, r, 0);
    }
    PQclear (res);
    return SL_STORE_OK;
}

static int
s_page_lexical (void *backend, const char *workspace, const char (*terms) [SL_STORE_TERM_MAX],
                int nterms, const char *const *documents, int n_documents,
                const sl_filter_t *filter, int pages, int64_t **keys_p, double **shares_p,
                int *count)
{
    char quoted [SL_STORE_TERMS][SL_STORE_TERM_MAX + 2];
    const char *items [SL_STORE_TERMS];
    int n = nterms < SL_STORE_TERMS ? nterms : SL_STORE_TERMS;
    for (int i = 0; i < n; i++) {
        snprintf (quoted [i], sizeof quoted [i], "'%s'", terms [i]);
        items [i] = quoted [i];
    }
    *keys_p = NULL;
    *shares_p = NULL;
    *count = 0;
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    char *query = s_text_array (items, n);
    char *ids = n_documents > 0 ? s_text_array ((const char **) documents, n_documents) : NULL;
    s_params_t p = { 0 };
    s_p_text (&p, query);
    s_p_text (&p, workspace);
    s_p_int (&p, pages);
    s_p_text (&p, ids);
    PGresult *res = s_exec_search (self, c, S_PAGE_LEXICAL, S_PAGE_LEXICAL_HEAD,
                                   S_PAGE_LEXICAL_TAIL, &p, filter, 2, "page search");
    s_release (self, c);
    free (ids);
    free (query);
    if (!res)
        return SL_STORE_ERROR;
    int rows = PQntuples (res);
    if (rows > 0) {
        *keys_p = malloc ((size_t) rows * sizeof **keys_p);
        *shares_p = malloc ((size_t) rows * sizeof **shares_p);
        if (!*keys_p || !*shares_p) {
            free (*keys_p);
            free (*shares_p);
            *keys_p = NULL;
            *shares_p = NULL;
            PQclear (res);
            sl_store_set_errmsg ("out of memory ranking pages");
            return SL_STORE_ERROR;
        }
    }
    for (int r = 0; r < rows; r++) {
        double share = PQgetisnull (res, r, 1) ? 0 : strtod (PQgetvalue (res, r, 1), NULL);
        (*shares_p) [r] = share > 0 ? share : 0;
        (*keys_p) [r] = s_i64 (res, r, 0);
    }
    *count = rows;
    PQclear (res);
    return SL_STORE_OK;
}

//  --------------------------------------------------------------------------
//  Embedding cache

static int
s_cache_get (void *backend, const char *model_id, const char **hashes, int n, int dim,
             float *out, bool *found)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    char *array = s_text_array (hashes, n);
    s_params_t p = { 0 };
    s_p_text (&p, model_id);
    s_p_text (&p, array);
    PGresult *res = s_exec (self, c, S_CACHE_GET, &p, true, "read embed cache");
    s_release (self, c);
    free (array);
    if (!res)
        return SL_STORE_ERROR;
    for (int i = 0; i < n; i++)
        found [i] = false;
    int hits = 0;
    for (int r = 0; r < PQntuples (res); r++) {
        int64_t i = s_be64 (PQgetvalue (res, r, 0)) - 1;
        if (i < 0 || i >= n || found [i] || s_be32 (PQgetvalue (res, r, 1)) != dim
        ||  PQgetlength (res, r, 2) != dim * (int) sizeof (float))
            continue;           //  another dimension counts as a miss
        s_vec_decode (PQgetvalue (res, r, 2), out + (size_t) i * (size_t) dim, dim);
        found [i] = true;
        hits++;
    }
    PQclear (res);
    return hits;
}

static int
s_cache_put (void *backend, const char *model_id, const char **hashes, int n,
             const float *vectors, int dim, int64_t now_ms)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    //  One statement, so one transaction: all n or none
    char *array = s_text_array (hashes, n);
    void *tmp = NULL;
    const void *bytes = s_vec_encode (vectors, (size_t) n * (size_t) dim, &tmp);
    s_params_t p = { 0 };
    s_p_text (&p, model_id);
    s_p_text (&p, array);
    s_p_int (&p, dim);
    s_p_bytes (&p, bytes, (size_t) n * (size_t) dim * sizeof (float));
    s_p_int (&p, dim * (int) sizeof (float));
    s_p_int (&p, now_ms);
    int rc = s_exec_count (self, c, S_CACHE_PUT, &p, "write embed cache") < 0 ? SL_STORE_ERROR : 0;
    s_release (self, c);
    free (array);
    free (tmp);
    return rc;
}

//  --------------------------------------------------------------------------
//  Events

static int
s_event_append (void *backend, const char *job_id, const char *type, const char *data_json,
                int64_t ts, int64_t *seq_out)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    s_params_t p = { 0 };
    s_p_text (&p, job_id);
    s_p_text (&p, type);
    s_p_text (&p, data_json);
    s_p_int (&p, ts);
    PGresult *res = s_exec (self, c, S_EVENT_APPEND, &p, false, "append event");
    s_release (self, c);
    if (!res)
        return SL_STORE_ERROR;
    if (seq_out)
        *seq_out = s_i64 (res, 0, 0);
    PQclear (res);
    return SL_STORE_OK;
}

static int
s_events_list (void *backend, const char *job_id, int64_t after_seq, int limit,
               sl_store_event_t **events_p, int *count_p)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    s_params_t p = { 0 };
    s_p_text (&p, job_id);
    s_p_int (&p, after_seq);
    s_p_int (&p, limit);
    PGresult *res = s_exec (self, c, S_EVENTS_LIST, &p, false, "list events");
    s_release (self, c);
    if (!res)
        return SL_STORE_ERROR;
    int count = PQntuples (res);
    sl_store_event_t *events = count ? calloc ((size_t) count, sizeof *events) : NULL;
    assert (events || count == 0);
    for (int i = 0; i < count; i++) {
        events [i].seq = s_i64 (res, i, 0);
        events [i].type = s_dup (res, i, 1);
        events [i].data = s_dup (res, i, 2);
        events [i].ts = s_i64 (res, i, 3);
    }
    PQclear (res);
    *events_p = events;
    *count_p = count;
    return SL_STORE_OK;
}

//  --------------------------------------------------------------------------
//  Metrics

static int
s_stats (void *backend, sl_store_stats_t *stats)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    memset (stats, 0, sizeof *stats);
    int rc = s_begin (self, c, true);
    if (rc == 0) {
        PGresult *res = s_exec (self, c, S_STATS_JOBS, NULL, false, "count jobs");
        for (int r = 0; res && r < PQntuples (res); r++) {
            int state = sl_store_state_parse (PQgetvalue (res, r, 0));
            if (state >= 0)
                stats->jobs [state] = s_i64 (res, r, 1);
        }
        rc = res ? 0 : SL_STORE_ERROR;
        PQclear (res);
        if (rc == 0 && (res = s_exec (self, c, S_STATS_COUNTS, NULL, false, "count rows"))) {
            stats->workspaces = s_i64 (res, 0, 0);
            stats->documents = s_i64 (res, 0, 1);
            stats->chunks = s_i64 (res, 0, 2);
            stats->vectors = s_i64 (res, 0, 3);
            stats->cache_entries = s_i64 (res, 0, 4);
            PQclear (res);
        }
        else
            rc = SL_STORE_ERROR;
        s_rollback (c);
    }
    s_release (self, c);
    return rc;
}

//  --------------------------------------------------------------------------
//  Open, migrate, close

//  Apply pending migrations in one transaction. The advisory lock makes
//  concurrent openers of a fresh database take turns (CREATE TABLE IF NOT
//  EXISTS alone races); DDL is transactional, so a failed migration
//  leaves nothing behind.
static int
s_migrate (s_pg_t *self, s_conn_t *c, char *err, size_t errlen)
{
    char line [512];
    const char *setup [] = {
        "BEGIN",
        "SELECT pg_advisory_xact_lock (" S_MIGRATE_LOCK ")",
        "CREATE TABLE IF NOT EXISTS schema_version ("
        "version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)",
    };
    for (size_t i = 0; i < sizeof setup / sizeof setup [0]; i++) {
        PGresult *res = PQexec (c->pg, setup [i]);
        ExecStatusType status = PQresultStatus (res);
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
            snprintf (err, errlen, "cannot initialise the database at %s: %s", self->display,
                      s_oneline (PQresultErrorMessage (res), line, sizeof line));
            PQclear (res);
            s_rollback (c);
            return -1;
        }
        PQclear (res);
    }
    PGresult *res = PQexec (c->pg, "SELECT COALESCE (MAX (version), 0) FROM schema_version");
    int current = PQresultStatus (res) == PGRES_TUPLES_OK ? s_int (res, 0, 0) : -1;
    if (current < 0)
        snprintf (err, errlen, "cannot read the schema version at %s: %s", self->display,
                  s_oneline (PQresultErrorMessage (res), line, sizeof line));
    PQclear (res);
    int latest = s_migrations [S_MIGRATIONS - 1].version;
    int rc = current < 0 ? -1 : 0;
    if (rc == 0 && current > latest) {
        snprintf (err, errlen, "database at %s has schema version %d, newer than this build "
                  "supports (%d): upgrade sluice", self->display, current, latest);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < S_MIGRATIONS; i++) {
        int version = s_migrations [i].version;
        if (version <= current)
            continue;
        res = PQexec (c->pg, s_migrations [i].sql);
        if (PQresultStatus (res) == PGRES_COMMAND_OK) {
            PQclear (res);
            s_params_t p = { 0 };
            s_p_int (&p, version);
            s_p_int (&p, sl_now_ms ());
            res = PQexecParams (c->pg, "INSERT INTO schema_version (version, applied_ms) "
                                "VALUES ($1, $2)", p.n, NULL, p.values, p.lengths, p.formats, 0);
        }
        if (PQresultStatus (res) != PGRES_COMMAND_OK) {
            snprintf (err, errlen, "migration %d at %s failed: %s", version, self->display,
                      s_oneline (PQresultErrorMessage (res), line, sizeof line));
            rc = -1;
        }
        else
            sl_info (NULL, "store: %s: applied schema migration %d", self->display, version);
        PQclear (res);
    }
    if (rc == 0) {
        res = PQexec (c->pg, "COMMIT");
        if (PQresultStatus (res) != PGRES_COMMAND_OK) {
            snprintf (err, errlen, "cannot commit migrations at %s: %s", self->display,
                      s_oneline (PQresultErrorMessage (res), line, sizeof line));
            rc = -1;
        }
        PQclear (res);
    }
    if (rc)
        s_rollback (c);
    return rc;
}

static void
s_close (void *backend)
{
    s_pg_t *self = backend;
    while (self->idle) {
        s_conn_t *c = self->idle;
        self->idle = c->next;
        s_conn_close (c);
    }
    pthread_mutex_destroy (&self->pool_lock);
    pthread_cond_destroy (&self->pool_cond);
    free (self->url);
    free (self->display);
    free (self);
}

//  --------------------------------------------------------------------------
//  Re-embedding a workspace

static int
s_workspace_chunks (void *backend, const char *workspace, int64_t after_key, int limit,
                    int64_t *keys, char **texts, int *count)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    int rc = s_workspace_read (self, c, workspace, NULL, 0, NULL, NULL);
    if (rc == 0) {
        s_params_t p = { 0 };
        s_p_text (&p, workspace);
        s_p_int (&p, after_key);
        s_p_int (&p, limit);
        PGresult *res = s_exec (self, c, S_WS_CHUNKS, &p, false, "list workspace chunks");
        if (res) {
            int n = PQntuples (res);
            for (int i = 0; i < n && i < limit; i++) {
                keys [i] = s_i64 (res, i, 0);
                texts [i] = s_dup (res, i, 1);
            }
            *count = n < limit ? n : limit;
            PQclear (res);
        }
        else
            rc = SL_STORE_ERROR;
    }
    s_release (self, c);
    return rc;
}

static int
s_filters_gen (void *backend, const char *workspace, int64_t *out)
{
    s_pg_t *self = backend;
    s_conn_t *c = s_acquire (self);
    if (!c)
        return SL_STORE_ERROR;
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    PGresult *res = s_exec (self, c, S_FILTERS_GEN, &p, false, "read filter generation");
    s_release (self, c);
    if (!res)
        return SL_STORE_ERROR;
    int rc = PQntuples (res) > 0 ? SL_STORE_OK : SL_STORE_NOT_FOUND;
    if (rc == SL_STORE_OK)
        *out = s_i64 (res, 0, 0);
    PQclear (res);
    return rc;
}

static int
s_tx_filters_bump (void *tx, const char *workspace)
{
    s_conn_t *c = tx;
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    return s_exec_count (c->owner, c, S_FILTERS_BUMP, &p, "bump filter generation") < 0
         ? SL_STORE_ERROR : SL_STORE_OK;
}

//  The document's attributes: its JSON, then its rows replaced
static int
s_tx_doc_attrs (void *tx, const char *workspace, const char *doc_id, const sl_meta_t *meta)
{
    s_conn_t *c = tx;
    char now [24];
    snprintf (now, sizeof now, "%lld", (long long) sl_now_ms ());
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    s_p_text (&p, doc_id);
    s_p_text (&p, meta->json);
    s_p_text (&p, now);
    int changed = s_exec_count (c->owner, c, S_DOC_META_SET, &p, "set document attributes");
    if (changed < 0)
        return SL_STORE_ERROR;
    if (changed == 0) {
        sl_store_set_errmsg ("no document %s in workspace %s", doc_id, workspace);
        return SL_STORE_NOT_FOUND;
    }
    s_params_t d = { 0 };
    s_p_text (&d, doc_id);
    if (s_exec_count (c->owner, c, S_ATTRS_DELETE, &d, "delete document attributes") < 0)
        return SL_STORE_ERROR;
    for (int i = 0; i < meta->n_attrs; i++) {
        const sl_attr_t *a = &meta->attrs [i];
        char vtype [2] = { a->vtype, 0 }, num [32];
        snprintf (num, sizeof num, "%.17g", a->num);
        s_params_t r = { 0 };
        s_p_text (&r, workspace);
        s_p_text (&r, doc_id);
        s_p_text (&r, a->key);
        s_p_text (&r, vtype);
        s_p_text (&r, a->text);
        s_p_text (&r, a->vtype == 's' ? NULL : num);
        if (s_exec_count (c->owner, c, S_ATTR_INSERT, &r, "insert document attribute") < 0)
            return SL_STORE_ERROR;
    }
    return SL_STORE_OK;
}

static int
s_tx_doc_meta_get (void *tx, const char *workspace, const char *doc_id, char **json_out)
{
    s_conn_t *c = tx;
    *json_out = NULL;
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    s_p_text (&p, doc_id);
    PGresult *res = s_exec (c->owner, c, S_DOC_META_GET, &p, false, "read document attributes");
    if (!res)
        return SL_STORE_ERROR;
    int rc = PQntuples (res) > 0 ? SL_STORE_OK : SL_STORE_NOT_FOUND;
    if (rc == SL_STORE_OK)
        *json_out = s_dup (res, 0, 0);
    PQclear (res);
    return rc;
}

static int
s_tx_workspace_lock (void *tx, const char *workspace)
{
    s_conn_t *c = tx;
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    PGresult *res = s_exec (c->owner, c, S_WS_LOCK, &p, false, "lock workspace");
    if (!res)
        return SL_STORE_ERROR;
    bool exists = PQntuples (res) > 0;
    PQclear (res);
    return exists ? SL_STORE_OK : SL_STORE_NOT_FOUND;
}

static int
s_tx_cache_missing (void *tx, const char *workspace, const char *model_id, int dim,
                    int64_t *missing)
{
    s_conn_t *c = tx;
    s_params_t p = { 0 };
    s_p_text (&p, workspace);
    s_p_text (&p, model_id);
    s_p_int (&p, dim);
    PGresult *res = s_exec (c->owner, c, S_WS_CACHE_MISSING, &p, false,
                            "count chunks without a vector");
    if (!res)
        return SL_STORE_ERROR;
    *missing = s_i64 (res, 0, 0);
    PQclear (res);
    return SL_STORE_OK;
}

static int
s_tx_vectors_from_cache (void *tx, const char *workspace, const char *model_id, int dim,
                         int64_t now_ms)
{
    s_conn_t *c = tx;
    s_params_t one = { 0 }, p = { 0 }, docs = { 0 };
    s_p_text (&one, workspace);
    s_p_text (&p, workspace);
    s_p_text (&p, model_id);
    s_p_int (&p, dim);
    s_p_text (&docs, workspace);
    s_p_text (&docs, model_id);
    s_p_int (&docs, now_ms);
    if (s_exec_count (c->owner, c, S_WS_VEC_DELETE, &one, "delete workspace vectors") < 0
    ||  s_exec_count (c->owner, c, S_WS_VEC_FROM_CACHE, &p, "insert vectors from the cache") < 0
    ||  s_exec_count (c->owner, c, S_WS_SET_MODEL, &p, "set workspace model") < 0
    ||  s_exec_count (c->owner, c, S_WS_DOC_MODEL, &docs, "set document models") < 0)
        return SL_STORE_ERROR;
    return SL_STORE_OK;
}

static const sl_store_ops_t s_ops = SL_STORE_OPS ("postgres");

int
sl_store_pg_open (const char *url, const sl_store_ops_t **ops_p, void **backend_p,
                  char *err, size_t errlen)
{
    assert (url && ops_p && backend_p);
    s_pg_t *self = calloc (1, sizeof *self);
    assert (self);
    self->url = strdup (url);
    self->display = s_redact (url);
    assert (self->url);
    pthread_mutex_init (&self->pool_lock, NULL);
    pthread_cond_init (&self->pool_cond, NULL);
    s_conn_t *c = s_conn_open (self);
    if (!c) {
        snprintf (err, errlen, "%s", sl_store_errmsg (NULL));
        s_close (self);
        return -1;
    }
    if (s_migrate (self, c, err, errlen)) {
        s_conn_close (c);
        s_close (self);
        return -1;
    }
    self->idle = c;             //  the migrating connection is the first in the pool
    self->open = 1;
    *ops_p = &s_ops;
    *backend_p = self;
    return 0;
}
