"""Composing: a decided digest rendered into the message its subscriber gets. `cards` is the
one view of a paper both parts render, `text` how untrusted text is shown, `templates` the
Jinja environment, `inline` the CSS inlined once per run, `fit` the size budget, `mime` the
wire bytes and header safety, and `render` puts them together; `notices` are the two
plain mails the subscriber pages send. Pure: no I/O beyond reading
templates, nothing it is given is changed."""
