"""Fetching: each source turns a window of listing days into Paper records (`base`), built by
`registry` from the settings; `merge` makes one key and one record of a paper several
listings name, and `freshness` tells a quiet source from a dead one. Each failure names the
source and its URL."""
