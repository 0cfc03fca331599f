-- The web origins whose browser code may read a client's answers across
-- origins (CORS): a JSON list of RFC 6454 serializations, normalised at
-- registration (core::origins::normalize_origin).
ALTER TABLE clients ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '[]';
