"""Ranking: keyword profiles that explain themselves, every point of a score a Match.

A keyword is a concept: the phrase as written plus its synonyms (`synonyms.py`). It matches a
field where its words occur in order and close together. What a match is worth:

- **where**: title 3, the listing's own keywords 2, abstract 1, summed over the fields;
- **how often**, saturating: a keyword said ten times is not ten times better (x / (x + K));
- **how specific**: rarity, learned from every paper the store has seen (an inverse document
  frequency scaled so that a phrase in one paper in 200 or fewer counts fully);
- **the subscriber's weight** for that keyword;
- **several keywords**: the strongest counts in full, each further one at 0.7 times the one
  before, so a paper about one of them beats a paper that mentions several in passing.

Followed authors rank first; `exclude` vetoes, and so do `categories` a paper is not in;
upvotes only break ties; papers below the threshold are not candidates at all.

Pure: it reads papers and profiles and does no I/O. `terms` folds text to the tokens it
compares, `synonyms` knows how the field writes a keyword, `profile` compiles a subscriber's
keywords into concepts, `index` indexes a listing once for every profile, and `select`
scores, picks and explains.
"""
