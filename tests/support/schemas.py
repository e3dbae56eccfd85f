"""Database schemas older versions of paper-digest left, for the upgrade tests."""

from __future__ import annotations

# Tables as a version before the baseline created them (papers gained categories and a
# discussion link with the arXiv source); the others have not changed since.
BEFORE_BASELINE = """
CREATE TABLE papers (
    "key" VARCHAR NOT NULL, source VARCHAR NOT NULL, source_id VARCHAR NOT NULL,
    arxiv_id VARCHAR, title TEXT NOT NULL, title_norm TEXT NOT NULL, abstract TEXT NOT NULL,
    authors JSON NOT NULL, published_at DATETIME, upvotes INTEGER, url TEXT, pdf_url TEXT,
    code_url TEXT, project_url TEXT, organization TEXT, ai_keywords JSON NOT NULL,
    ai_summary TEXT, github_stars INTEGER, first_seen_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL, PRIMARY KEY ("key"));
CREATE TABLE messages (
    message_id VARCHAR NOT NULL, subscriber_email VARCHAR NOT NULL, run_id INTEGER,
    day DATE NOT NULL, subject TEXT NOT NULL, status VARCHAR NOT NULL, detail TEXT,
    created_at DATETIME NOT NULL, PRIMARY KEY (message_id),
    FOREIGN KEY(run_id) REFERENCES runs (id));
CREATE TABLE deliveries (
    subscriber_email VARCHAR NOT NULL, paper_key VARCHAR NOT NULL, message_id VARCHAR NOT NULL,
    included BOOLEAN NOT NULL, sent_at DATETIME NOT NULL,
    PRIMARY KEY (subscriber_email, paper_key),
    FOREIGN KEY(paper_key) REFERENCES papers ("key"),
    FOREIGN KEY(message_id) REFERENCES messages (message_id));
"""
