-- alice-mcp index, migration 1. An asset is its content (asset_id = BLAKE2b-128 of the bytes);
-- a file is one location of an asset.
-- assets.asset_id is stored uncompressed: every tag or text search probes all of it, and
-- decompressing random hex (FSST) cost more than half of a tag search on 1,000,000 assets.
CREATE TABLE IF NOT EXISTS assets (
    asset_id        VARCHAR USING COMPRESSION uncompressed PRIMARY KEY,
    media_type      VARCHAR NOT NULL,
    mime            VARCHAR,
    bytes           BIGINT,
    width           INTEGER,
    height          INTEGER,
    duration_s      DOUBLE,
    codec           VARCHAR,
    created_at      TIMESTAMPTZ,
    source          VARCHAR NOT NULL DEFAULT 'unknown',
    source_name     VARCHAR,
    confidence      DOUBLE,
    model           VARCHAR,
    model_family    VARCHAR,
    prompt          VARCHAR,
    negative_prompt VARCHAR,
    seed            BIGINT,
    steps           INTEGER,
    sampler         VARCHAR,
    scheduler       VARCHAR,
    cfg             DOUBLE,
    loras           VARCHAR[],
    params          JSON,
    phash           BIGINT,
    dhash           BIGINT,
    quality         DOUBLE,
    stars           TINYINT,
    description     VARCHAR,
    project         VARCHAR,
    errors          VARCHAR,
    indexed_at      TIMESTAMPTZ NOT NULL,
    engine          VARCHAR              -- what a source runs on (swarmui -> comfyui); last, as
                                         -- older libraries get it by ALTER TABLE on open
);

CREATE TABLE IF NOT EXISTS files (
    path      VARCHAR PRIMARY KEY,
    asset_id  VARCHAR NOT NULL,
    size      BIGINT NOT NULL,
    mtime_ns  BIGINT NOT NULL,
    role      VARCHAR NOT NULL,          -- inbox | organized
    seen_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS thumbnails (
    asset_id  VARCHAR PRIMARY KEY,
    mime      VARCHAR NOT NULL,
    data      BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS tags (
    asset_id   VARCHAR NOT NULL,
    tag        VARCHAR NOT NULL,
    category   VARCHAR NOT NULL DEFAULT 'custom',
    origin     VARCHAR NOT NULL DEFAULT 'user',
    confidence DOUBLE,
    PRIMARY KEY (asset_id, tag, origin)
);

CREATE TABLE IF NOT EXISTS analyses (
    asset_id        VARCHAR NOT NULL,
    provider        VARCHAR NOT NULL,
    model           VARCHAR NOT NULL,
    prompt_version  VARCHAR NOT NULL,
    result          JSON,
    cost_usd        DOUBLE NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (asset_id, provider, model, prompt_version)
);

-- An answer that did not fit (cut off, off-schema, refused) after its retry: the asset is not
-- sent again for this provider, model and prompt version until a forced run.
CREATE TABLE IF NOT EXISTS analysis_failures (
    asset_id        VARCHAR NOT NULL,
    provider        VARCHAR NOT NULL,
    model           VARCHAR NOT NULL,
    prompt_version  VARCHAR NOT NULL,
    reason          VARCHAR NOT NULL,
    raw_answer      VARCHAR,                 -- the answer's first 500 characters
    failed_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (asset_id, provider, model, prompt_version)
);

-- A placement is journaled (committed) before any byte moves; its row is deleted in the same
-- transaction that records the placed file. A row still here after a crash is finished or
-- rolled back by the next run.
CREATE TABLE IF NOT EXISTS journal (
    op_id     VARCHAR PRIMARY KEY,
    src       VARCHAR NOT NULL,
    dst       VARCHAR NOT NULL,
    asset_id  VARCHAR NOT NULL,
    mode      VARCHAR NOT NULL,          -- copy | move
    project   VARCHAR NOT NULL,
    state     VARCHAR NOT NULL,          -- planned
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS costs (
    provider   VARCHAR NOT NULL,
    model      VARCHAR NOT NULL,
    tokens_in  BIGINT NOT NULL DEFAULT 0,
    tokens_out BIGINT NOT NULL DEFAULT 0,
    usd        DOUBLE NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL
);

-- Upkeep that keeps searches fast (store/upkeep.py), e.g. rows of tags last written in tag order.
CREATE TABLE IF NOT EXISTS upkeep (
    task     VARCHAR PRIMARY KEY,
    rows     BIGINT NOT NULL,
    done_at  TIMESTAMPTZ NOT NULL
);

-- Embeddings (alice_mcp/embeddings/): one vector per asset and space (text | image), unit
-- length, with the model that made it and a fingerprint of what it was made from (the text
-- embedded, or the thumbnail): an asset is re-embedded only when either changes.
CREATE TABLE IF NOT EXISTS embeddings (
    asset_id  VARCHAR NOT NULL,
    space     VARCHAR NOT NULL,
    model     VARCHAR NOT NULL,
    basis     VARCHAR NOT NULL,
    vector    FLOAT[] NOT NULL,
    made_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (asset_id, space)
);

-- XMP sidecars (alice_mcp/sidecars/): the stat and keywords of each sidecar as alice last
-- wrote or read it; a rescan reads a sidecar again only when its size or mtime changed (a
-- user's edit), and a keyword gone from it since was removed by the user.
CREATE TABLE IF NOT EXISTS sidecars (
    path      VARCHAR PRIMARY KEY,
    asset_id  VARCHAR NOT NULL,
    size      BIGINT NOT NULL,
    mtime_ns  BIGINT NOT NULL,
    tags      VARCHAR[] NOT NULL,
    synced_at TIMESTAMPTZ NOT NULL
);

-- Locations that vanished from the organized tree with no other location of their asset left:
-- the asset is kept (tags, stars, analyses) with assets.missing_since set, until it reappears.
CREATE TABLE IF NOT EXISTS missing_files (
    path          VARCHAR PRIMARY KEY,
    asset_id      VARCHAR NOT NULL,
    role          VARCHAR NOT NULL,
    missing_since TIMESTAMPTZ NOT NULL
);
